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


class UntrustedModel(PermissionError):
    pass


def load(name, trust=False):
    """The pretrained model ``name``, verified against the sha256 its registry entry pins.

    A SavedModel is a program (TensorFlow's SECURITY.md): loading one runs its graph. So a
    folder path loads only with ``trust=True``, saying you trust whoever wrote it."""
    import os

    from ganzoo import hub, pretrained, registry
    if os.path.isdir(name):
        if not trust:
            raise UntrustedModel(
                f"{name} is a folder, not a registry entry: a SavedModel is a program, so ganzoo "
                "loads unpinned ones only with trust=True (--trust on the command line)")
        return pretrained.Pretrained(name)
    if os.sep in str(name) or (os.altsep and os.altsep in str(name)):
        raise FileNotFoundError(f"{name}: no such folder (a path, so not a registry name; "
                                f"registry names: {', '.join(registry.list_models())})")
    entry = registry.get(name)
    return pretrained.Pretrained(hub.locate(name, entry))
