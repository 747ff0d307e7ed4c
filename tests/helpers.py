"""The battery every variant passes, and tiny configs to run it on."""
import os

import numpy as np
import tensorflow as tf

from ganzoo import config as ganzoo_config, training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = ("gan", "cgan", "dcgan", "wgan", "wgan_gp")


def load_config(variant, arg="mnist"):
    return ganzoo_config.load(os.path.join(ROOT, "zoo_configs", f"{variant}.py:{arg}"))


def tiny_config(variant, precision="float32", jit_compile=False, batch_size=2):
    """The variant's own zoo config shrunk to 8x8 pixels and a handful of units."""
    config = load_config(variant)
    m = config.model
    m.resolution, m.channels, m.latent_dim = 8, 1, 4
    if "width" in m:
        m.width = 4
    if "g_hidden" in m:
        m.g_hidden, m.d_hidden = (8,), (8,)
    config.data.resolution, config.data.channels = 8, 1
    t = config.train
    t.precision, t.jit_compile, t.batch_size = precision, str(jit_compile).lower(), batch_size
    t.steps, t.log_every, t.sample_every, t.checkpoint_every, t.num_samples = 3, 1, 2, 2, 4
    return config


def fake_batch(model, batch_size=2, resolution=8, channels=1, seed=0):
    n = batch_size * model.n_critic
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.uniform(-1, 1, (n, resolution, resolution, channels)), tf.float32)
    if model.conditional:
        return images, tf.constant(rng.integers(0, model.num_classes, n), tf.int32)
    return images


def values(variables):
    return [np.array(v) for v in variables]


def assert_same(before, after):
    assert len(before) == len(after)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def run_train_step_test(config):
    """One compiled train step: finite metrics with the expected keys, both nets updated,
    images in [-1, 1] of the configured shape."""
    model, _, jit = training.build(config)
    step = tf.function(model.train_step, jit_compile=jit)
    g0, d0 = values(model.generator.trainable_variables), values(model.discriminator.trainable_variables)
    logs = {k: float(v) for k, v in step(fake_batch(model, config.train.batch_size)).items()}
    assert {"loss", "d_loss", "g_loss"} <= set(logs)
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert np.isclose(logs["loss"], logs["d_loss"] + logs["g_loss"], rtol=1e-4, atol=1e-4)
    changed = lambda a, b: any(not np.array_equal(x, y) for x, y in zip(a, b))  # noqa: E731
    assert changed(g0, values(model.generator.trainable_variables))
    assert changed(d0, values(model.discriminator.trainable_variables))
    z = tf.random.normal([3, model.latent_dim])
    labels = tf.constant([0, 1, 2]) if model.conditional else None
    out = model.generate(z, labels).numpy()
    r, c = config.model.resolution, config.model.channels
    assert out.shape == (3, r, r, c) and out.dtype == np.float32
    assert np.all(np.abs(out) <= 1.0)
    return model, logs
