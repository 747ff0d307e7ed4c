"""The variants, by the name configs use (``config.model.variant``), imported on first use."""
import importlib

from ganzoo.lookup import lookup

VARIANTS = {
    "gan": "gan:GAN",
    "cgan": "cgan:CGAN",
    "dcgan": "dcgan:DCGAN",
    "wgan": "wgan:WGAN",
    "wgan_gp": "wgan:WGANGP",
    "cyclegan": "cyclegan:CycleGAN",
    "progan": "progan:ProGAN",
}


def variant_class(name):
    module, cls = lookup(VARIANTS, name, "variant").split(":")
    return getattr(importlib.import_module(f"ganzoo.models.{module}"), cls)


def build(model_cfg, seed=None):
    """Instantiate ``config.model``: ``variant`` picks the class, the other keys are its arguments."""
    kwargs = dict(model_cfg)
    return variant_class(kwargs.pop("variant"))(seed=seed, **kwargs)
