"""ganzoo's default DCGAN training path against a plain Keras 3 reference of the same
architecture, written the way keras.io's DCGAN ("customizing what happens in fit") is: a
keras.Model whose train_step concatenates real and fake images for one discriminator update
(with label noise), then updates the generator; float32, default compile (on a CPU-only
machine Keras' jit_compile="auto" resolves to False), run by fit's own train function.

keras.io's code calls its networks without ``training=``; its networks have no batch norm, so
that does not matter there. ganzoo's DCGAN networks do: called that way inside a custom
train_step, Keras 3 runs batch norm in inference mode, on moving statistics that are never
updated (mean 0, variance 1), so that reference trains a different, cheaper net (no batch
statistics, no moving averages). The reference the goal is held against therefore passes
``training=True`` (batch norm on batch statistics, as in ganzoo and in the DCGAN paper); the
reference exactly as written is timed too ("as written"). ganzoo float32 (XLA off) is timed
alongside: the reference's precision, so its ratio is the cost of ganzoo's step itself.

    python benchmarks/keras_reference.py [--batch 128] [--repeats 7] [--quick]
    (also part "reference" of python benchmarks/run.py)

All are timed in one process, interleaved block by block, on the same in-memory MNIST batch
(real digits when ../shared/data/mnist.npz is there); ratios are of the medians.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402  (puts the checkout and tests/ on sys.path)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from ganzoo import training  # noqa: E402
from ganzoo.models.dcgan import conv_discriminator, conv_generator  # noqa: E402
from helpers import load_config  # noqa: E402

GOAL = 1.3


class KerasIoGAN(keras.Model):
    """keras.io's DCGAN training logic, unchanged but for logits (from_logits=True) and, with
    ``training=True``, batch norm in training mode (``None``: as keras.io writes it)."""

    def __init__(self, discriminator, generator, latent_dim, training=None):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.bn_training = training

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

    def train_step(self, real_images):
        batch_size = ops.shape(real_images)[0]
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        combined = ops.concatenate([self.generator(z, training=self.bn_training), real_images],
                                   axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined, training=self.bn_training))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=self.bn_training)
            g_loss = self.loss_fn(ops.zeros((batch_size, 1)),
                                  self.discriminator(fake, training=self.bn_training))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return {"d_loss": d_loss, "g_loss": g_loss}


def mnist_batch(n):
    """Kept for callers of the old script: see common.mnist_images."""
    return common.mnist_images(n)


def dcgan_config(batch, precision="auto", jit="auto"):
    config = load_config("dcgan", "mnist")
    config.train.batch_size = batch
    config.train.precision, config.train.jit_compile = precision, jit
    return config


def ganzoo_dcgan(batch, precision="auto", jit="auto"):
    """(model, block(steps), precision, jit): ganzoo's DCGAN on MNIST shapes, its compiled
    train step as the training loop makes it, ``block`` running it on one in-memory batch."""
    config = dcgan_config(batch, precision, jit)
    model, precision, jit = training.build(config)
    step = tf.function(model.train_step, jit_compile=jit, reduce_retracing=True)
    x = tf.constant(common.mnist_images(batch)[0])

    def block(steps):
        out = None
        for _ in range(steps):
            out = step(x)
        float(out["loss"])
    block(2)  # trace and warm up
    return model, block, precision, jit


def keras_reference(batch, training=True):
    """(model, block(steps)): the keras.io-style reference on the same batch, stepped by what
    fit() calls once per step; ``training=None`` calls the nets as keras.io writes it."""
    m = load_config("dcgan", "mnist").model
    keras.utils.set_random_seed(0)
    # Keras' own BatchNormalization (ganzoo's nets use a fused one): a plain Keras reference.
    ref = KerasIoGAN(conv_discriminator(m.resolution, m.channels, m.width, norm="keras_batch"),
                     conv_generator(m.latent_dim, m.resolution, m.channels, m.width,
                                    norm="keras_batch"), m.latent_dim,
                     training=training)
    ref.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5),
                keras.losses.BinaryCrossentropy(from_logits=True))
    ref.make_train_function()
    fn = ref.train_function
    data = iter(tf.data.Dataset.from_tensors(common.mnist_images(batch)[0]).repeat())

    def block(steps):
        out = None
        for _ in range(steps):
            out = fn(data)
        float(out["d_loss"])
    block(2)
    return ref, block


def settings(quick):
    return dict(batch=128, repeats=3 if quick else 7, block_s=0.15 if quick else 0.7)


def run(quick=False, batch=None, repeats=None):
    s = settings(quick)
    batch, repeats = batch or s["batch"], repeats or s["repeats"]
    _, ours, precision, jit = ganzoo_dcgan(batch)
    _, ours32, _, _ = ganzoo_dcgan(batch, "float32", "false")
    ref_model, ref = keras_reference(batch)
    _, as_written = keras_reference(batch, training=None)
    one = common.time_call(lambda: ref(1))
    steps = common.steps_for(one, s["block_s"])
    blocks = {"ganzoo": lambda: ours(steps), "ganzoo_float32": lambda: ours32(steps),
              "keras_reference": lambda: ref(steps),
              "keras_reference_as_written": lambda: as_written(steps)}
    times = common.interleave(blocks, repeats)
    per_step = {k: [t / steps for t in v] for k, v in times.items()}
    med = {k: common.median(v) for k, v in per_step.items()}
    rows = {
        "ganzoo": dict(precision=precision, jit_compile=jit, what="ganzoo default path (auto)"),
        "ganzoo_float32": dict(precision="float32", jit_compile=False,
                               what="ganzoo, float32, XLA off"),
        "keras_reference": dict(precision="float32", jit_compile=bool(ref_model.jit_compile),
                                what="keras.io-style reference, BN training=True"),
        "keras_reference_as_written": dict(
            precision="float32", jit_compile=bool(ref_model.jit_compile),
            what="keras.io-style reference as written (BN in inference mode)"),
    }
    for k, row in rows.items():
        row.update(s_per_step=med[k], images_per_s=batch / med[k],
                   vs_reference=med["keras_reference"] / med[k])
    speedup = med["keras_reference"] / med["ganzoo"]
    return dict(
        as_written_speedup=med["keras_reference_as_written"] / med["ganzoo"],
        what=f"DCGAN 28x28x1, batch {batch} of {common.mnist_images(batch)[1]}, "
             f"{steps} step(s) x {repeats} interleaved blocks, medians",
        batch=batch, steps=steps, repeats=repeats, rows=rows, speedup=speedup, goal=GOAL,
        met=speedup >= GOAL,
        paired=common.paired_ratios(per_step["keras_reference"], per_step["ganzoo"]),
        raw=per_step)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "keras_reference.json"))
    args = p.parse_args()
    result = run(args.quick, args.batch, args.repeats)
    result["machine"] = common.machine_info()
    print(json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2, default=str))
    common.write_json(args.out, result)


if __name__ == "__main__":
    main()
