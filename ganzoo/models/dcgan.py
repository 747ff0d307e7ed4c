"""DCGAN (Radford et al. 2016): strided (transposed) convolutions, batch norm,
ReLU in G, LeakyReLU in D, N(0, 0.02) initialisation."""
import keras
from keras import layers

from ganzoo.engine import GANModel
from ganzoo.layers import FusedBatchNormalization

INIT = keras.initializers.RandomNormal(0.0, 0.02)


def num_upsamplings(resolution):
    """How many x2 steps lead from a 4..7 pixel start to ``resolution`` (28 -> 2, 32 -> 3)."""
    n = 0
    while resolution % 2 == 0 and resolution // 2 >= 4:
        resolution //= 2
        n += 1
    if n == 0:
        raise ValueError(f"resolution {resolution} must be a multiple of 8 or 28-like (7 * 2^k)")
    return n


def _norm(kind):
    """``batch``: batch norm, fused (ganzoo.layers); ``keras_batch``: Keras' own (unfused) layer,
    the same computation, kept for the plain-Keras reference in benchmarks/."""
    if kind == "batch":
        return FusedBatchNormalization(momentum=0.9, epsilon=1e-5)
    if kind == "keras_batch":
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    if kind == "layer":
        return layers.LayerNormalization(axis=[1, 2, 3])
    return None


def conv_generator(latent_dim, resolution, channels, width=64, norm="batch", name="generator"):
    n = num_upsamplings(resolution)
    start = resolution >> n
    z = keras.Input((latent_dim,), name="z")
    h = layers.Dense(start * start * width * 2 ** (n - 1), use_bias=False, kernel_initializer=INIT)(z)
    h = layers.Reshape((start, start, width * 2 ** (n - 1)))(h)
    for i in range(n - 1, 0, -1):
        if _norm(norm):
            h = _norm(norm)(h)
        h = layers.ReLU()(h)
        h = layers.Conv2DTranspose(width * 2 ** (i - 1), 4, 2, padding="same", use_bias=False,
                                   kernel_initializer=INIT)(h)
    if _norm(norm):
        h = _norm(norm)(h)
    h = layers.ReLU()(h)
    h = layers.Conv2DTranspose(channels, 4, 2, padding="same", kernel_initializer=INIT)(h)
    out = layers.Activation("tanh", dtype="float32")(h)
    return keras.Model(z, out, name=name)


def conv_discriminator(resolution, channels, width=64, norm="batch", name="discriminator"):
    n = num_upsamplings(resolution)
    x = keras.Input((resolution, resolution, channels), name="images")
    h = x
    for i in range(n):
        h = layers.Conv2D(width * 2 ** i, 4, 2, padding="same", kernel_initializer=INIT)(h)
        if i and _norm(norm):
            h = _norm(norm)(h)
        h = layers.LeakyReLU(0.2)(h)
    out = layers.Dense(1, kernel_initializer=INIT, dtype="float32")(layers.Flatten()(h))
    return keras.Model(x, out, name=name)


class DCGAN(GANModel):
    def __init__(self, resolution=32, channels=3, latent_dim=100, width=64, g_norm="batch",
                 d_norm="batch", loss="non_saturating", **kwargs):
        super().__init__(
            conv_generator(latent_dim, resolution, channels, width, g_norm),
            conv_discriminator(resolution, channels, width, d_norm),
            latent_dim=latent_dim, loss=loss, **kwargs)
        self.resolution, self.channels = resolution, channels
