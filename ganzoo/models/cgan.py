"""Conditional GAN (Mirza & Osindero 2014): labels are embedded and concatenated
into both the generator's and the discriminator's input."""
from ganzoo.models.gan import GAN


class CGAN(GAN):
    def __init__(self, num_classes=10, **kwargs):
        if num_classes < 1:
            raise ValueError("CGAN needs num_classes >= 1")
        super().__init__(num_classes=num_classes, **kwargs)
