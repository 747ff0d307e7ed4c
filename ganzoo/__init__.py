"""ganzoo: a TensorFlow / Keras 3 model zoo of generative adversarial networks.

    import ganzoo
    ganzoo.list_models()
    images = ganzoo.load("dcgan_mnist").sample(16, seed=0)   # uint8 [16, 28, 28, 1]
"""
__version__ = "0.1.0"


def list_models():
    """Names of the pretrained models."""
    from ganzoo import registry
    return registry.list_models()


def load(name):
    """The pretrained model ``name`` (or a SavedModel folder path), verified against its sha256."""
    import os

    from ganzoo import hub, pretrained, registry
    if os.path.isdir(name):
        return pretrained.Pretrained(name)
    entry = registry.get(name)
    return pretrained.Pretrained(hub.locate(name, entry))
