"""ganzoo's default DCGAN training path against a plain Keras 3 reference of the same
architecture, written the way keras.io's DCGAN ("customizing what happens in fit") is: a
keras.Model whose train_step concatenates real and fake images for one discriminator update
(with label noise), then updates the generator; float32, default compile, run by fit's own
train function.

    python benchmarks/keras_reference.py [--batch 128] [--steps 10] [--repeats 7]

Both are timed in one process, interleaved block by block, on the same in-memory MNIST batch
(real digits when ../shared/data/mnist.npz is there); the ratio is of the medians.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from ganzoo import training  # noqa: E402
from ganzoo.models.dcgan import conv_discriminator, conv_generator  # noqa: E402
from helpers import load_config  # noqa: E402


class KerasIoGAN(keras.Model):
    """keras.io's DCGAN training logic, unchanged but for logits (from_logits=True)."""

    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

    def train_step(self, real_images):
        batch_size = ops.shape(real_images)[0]
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        combined = ops.concatenate([self.generator(z), real_images], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            g_loss = self.loss_fn(ops.zeros((batch_size, 1)), self.discriminator(self.generator(z)))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return {"d_loss": d_loss, "g_loss": g_loss}


def mnist_batch(n):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                        "mnist.npz")
    if os.path.exists(path):
        with np.load(path) as f:
            x = f["x_train"][:n]
        return (x[..., None].astype(np.float32) / 127.5 - 1.0), "MNIST train[:batch]"
    return np.random.default_rng(0).uniform(-1, 1, (n, 28, 28, 1)).astype(np.float32), "uniform noise"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="steps per timed block")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "keras_reference.json"))
    args = p.parse_args()
    x, what = mnist_batch(args.batch)

    config = load_config("dcgan", "mnist")
    config.train.batch_size = args.batch  # precision and jit_compile stay "auto": the default path
    model, precision, jit = training.build(config)
    ours = tf.function(model.train_step, jit_compile=jit)
    ours_batch = tf.constant(x)

    m = config.model
    ref = KerasIoGAN(conv_discriminator(m.resolution, m.channels, m.width),
                     conv_generator(m.latent_dim, m.resolution, m.channels, m.width), m.latent_dim)
    ref.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5),
                keras.losses.BinaryCrossentropy(from_logits=True))
    ref.make_train_function()
    ref_fn = ref.train_function  # what fit() calls once per step
    ref_data = iter(tf.data.Dataset.from_tensors(x).repeat())

    def run_ours():
        out = None
        for _ in range(args.steps):
            out = ours(ours_batch)
        float(out["loss"])

    def run_ref():
        out = None
        for _ in range(args.steps):
            out = ref_fn(ref_data)
        float(out["d_loss"])

    for fn in (run_ours, run_ref):  # trace and warm up
        fn()
    times = {"ganzoo": [], "keras_reference": []}
    for _ in range(args.repeats):
        for name, fn in (("ganzoo", run_ours), ("keras_reference", run_ref)):
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) / args.steps)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = dict(
        what=f"DCGAN 28x28, batch {args.batch} ({what}), {args.steps} steps x {args.repeats} "
             "interleaved blocks, medians",
        ganzoo=dict(precision=precision, jit_compile=jit, s_per_step=med["ganzoo"],
                    images_per_s=args.batch / med["ganzoo"]),
        keras_reference=dict(precision="float32", jit_compile="compile() default",
                             s_per_step=med["keras_reference"],
                             images_per_s=args.batch / med["keras_reference"]),
        speedup=med["keras_reference"] / med["ganzoo"], goal=1.3,
        machine=dict(cpus=os.cpu_count(), machine=platform.machine(), tensorflow=tf.__version__,
                     keras=keras.__version__), raw=times)
    print(json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
