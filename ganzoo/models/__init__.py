"""The variants, by the name configs use (``config.model.variant``)."""
from ganzoo.lookup import lookup
from ganzoo.models.cgan import CGAN
from ganzoo.models.dcgan import DCGAN
from ganzoo.models.gan import GAN
from ganzoo.models.wgan import WGAN, WGANGP

VARIANTS = {"gan": GAN, "cgan": CGAN, "dcgan": DCGAN, "wgan": WGAN, "wgan_gp": WGANGP}


def build(model_cfg, seed=None):
    """Instantiate ``config.model``: ``variant`` picks the class, the other keys are its arguments."""
    kwargs = dict(model_cfg)
    cls = lookup(VARIANTS, kwargs.pop("variant"), "variant")
    return cls(seed=seed, **kwargs)
