"""Shared pieces of the ``zoo_configs/*.py`` files: the base config and the dataset presets.

Dataset paths default to ``../shared/data`` (relative to where you run) and follow
``$GANZOO_DATA`` when it is set.
"""
import os
import re

import ml_collections

from ganzoo.errors import one_line
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
        strategy="default",    # default | mirrored | multi_worker | tpu (tf.distribute)
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
        raise FileNotFoundError(f"config file {path!r} not found; pass --config=FILE.py:ARG, "
                                "e.g. zoo_configs/dcgan.py:mnist")
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


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
               tuple: "a tuple like (1, 2)"}


def _override_keys(argv, name):
    """The KEY of every ``--config.KEY[=VALUE]`` / ``--noconfig.KEY`` in argv, as written."""
    return [m.group(2) for a in argv for m in [re.match(rf"--?(no)?{name}\.([^=]*)", a)] if m]


def _refused(name, key, value, config):
    """One line for an override whose value the key's type refuses."""
    default = config
    for part in key.split("."):
        default = default[part]
    if isinstance(default, ml_collections.ConfigDict):
        keys = sorted(flat_keys(default, key + "."))
        return (f"--{name}.{key}: {key} is a group of keys ({', '.join(keys[:3])}, ...), not "
                f"{value!r}; set them one by one, e.g. --{name}.{keys[0]}=...")
    what = _TYPE_NAMES.get(type(default), type(default).__name__)
    return f"--{name}.{key}: {key} takes {what} (default {default!r}), not {value!r}"


def parse_overrides(argv, name="config"):
    """The ConfigDict that ``--config=FILE.py:ARG --config.KEY=VALUE ...`` in ``argv`` (argv[0]
    is the program) gives, parsed by ml_collections exactly as ``ganzoo-train`` parses it, so
    a bad override fails here, before any work, with one line: KeyError for an unknown key
    (close matches and the valid keys), ValueError for a value the key's type refuses (the key,
    the type it takes, its default). Other arguments are ignored. Returns None when ``argv``
    names no config file."""
    from absl import flags
    from ml_collections import config_flags

    argv = [str(a) for a in argv]
    specs = [m.group(1) for a in argv for m in [re.match(rf"--?{name}=(.*)", a)] if m]
    specs += [b for a, b in zip(argv, argv[1:]) if a in (f"--{name}", f"-{name}")]
    spec = specs[-1] if specs else None
    if spec is None:
        return None
    config = load(spec)
    keys = _override_keys(argv, name)
    check_overrides(config, keys)
    leaves = set(flat_keys(config))
    group = next((k for k in keys if k not in leaves), None)
    if group is not None:  # ml_collections would replace the whole group, dropping its keys
        given = [a.split("=", 1)[1] for a in argv
                 if re.match(rf"--?(no)?{name}\.{re.escape(group)}=", a)]
        raise ValueError(_refused(name, group, given[-1] if given else "", config))
    values = flags.FlagValues()
    holder = config_flags.DEFINE_config_file(name, None, flag_values=values, lock_config=True,
                                             sys_argv=argv)
    try:
        values(argv, known_only=True)
    except flags.Error as e:
        text = one_line(e)
        m = re.match(rf"flag --{name}\.([\w.]+)=(.*?): ", str(e).strip(), re.DOTALL)
        if not m:
            raise ValueError(f"{text} (overrides look like --{name}.train.steps=1000)") from e
        key, value = m.groups()
        given = [a.split("=", 1)[1] for a in argv if re.match(rf"--?{name}\.{re.escape(key)}=", a)]
        raise ValueError(_refused(name, key, given[-1] if given else value, config)) from e
    return holder.value
