"""Shared pieces of the ``zoo_configs/*.py`` files: the base config and the dataset presets.

Dataset paths default to ``../shared/data`` (relative to where you run) and follow
``$GANZOO_DATA`` when it is set.
"""
import os

import ml_collections

from ganzoo.lookup import lookup


def data_root():
    return os.environ.get("GANZOO_DATA", os.path.join("..", "shared", "data"))


def datasets():
    root = data_root()
    return {
        "mnist": dict(source=f"npz:{root}/mnist.npz", resolution=28, channels=1, num_classes=10),
        "cifar10": dict(source=f"folder:{root}/cifar10/train", resolution=32, channels=3,
                        num_classes=10),
        "celeba": dict(source=f"folder:{root}/celeba/img_align_celeba", resolution=64,
                       channels=3, num_classes=0),
        # two-domain sets (CycleGAN): trainA/trainB/testA/testB
        "face2genshin": dict(source=f"cyclegan:{root}/face2genshin", resolution=128, channels=3,
                             num_classes=0),
        "horse2zebra": dict(source="tfds:cycle_gan/horse2zebra", resolution=256, channels=3,
                            num_classes=0),
        "tfds_mnist": dict(source="tfds:mnist", resolution=28, channels=1, num_classes=10),
        "tfds_cifar10": dict(source="tfds:cifar10", resolution=32, channels=3, num_classes=10),
    }


def dataset_preset(name):
    return lookup(datasets(), name, "dataset")


def optimizer(name="adam", learning_rate=2e-4, **kwargs):
    return ml_collections.ConfigDict(dict(name=name, learning_rate=learning_rate, **kwargs))


def base_config(variant, dataset, **model):
    """A complete config: ``model`` (constructor arguments of the variant), ``data``, ``train``."""
    ds = dataset_preset(dataset)
    c = ml_collections.ConfigDict()
    c.model = ml_collections.ConfigDict(dict(
        variant=variant, resolution=ds["resolution"], channels=ds["channels"], latent_dim=100,
        **model))
    c.data = ml_collections.ConfigDict(dict(
        source=ds["source"], resolution=ds["resolution"], channels=ds["channels"],
        labels=bool(model.get("num_classes")), split="train", shuffle_buffer=10000, cache=True,
        random_flip=False, tfds_data_dir="", download=False, max_bad_fraction=0.01))
    c.train = ml_collections.ConfigDict(dict(
        steps=10000, batch_size=64, seed=0,
        precision="auto",      # float32 | mixed_bfloat16 | mixed_float16 | auto
        jit_compile="auto",    # true | false | auto
        d_optimizer=optimizer(beta_1=0.5), g_optimizer=optimizer(beta_1=0.5),
        log_every=50, sample_every=500, checkpoint_every=500, keep_checkpoints=3,
        num_samples=64, export=True,
        max_retries=2,         # restores of the last good checkpoint after a non-finite step
        deterministic=False))  # enable_op_determinism(): bitwise repeatable (and resumable) runs
    return c


def load(spec):
    """``"zoo_configs/dcgan.py:mnist"`` -> the ConfigDict its ``get_config("mnist")`` returns."""
    import importlib.util

    path, _, arg = spec.partition(":")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file {path!r} not found")
    name = "ganzoo_config_" + os.path.splitext(os.path.basename(path))[0]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()


def flat_keys(config, prefix=""):
    keys = []
    for k, v in config.items():
        if isinstance(v, ml_collections.ConfigDict):
            keys += flat_keys(v, f"{prefix}{k}.")
        else:
            keys.append(prefix + k)
    return keys


def check_overrides(config, keys):
    """Raise KeyError naming the close matches and all valid keys for any unknown override."""
    valid = flat_keys(config)
    for key in keys:
        if key not in valid and not any(v.startswith(key + ".") for v in valid):
            lookup(dict.fromkeys(valid), key, "config key")
