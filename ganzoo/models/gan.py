"""Vanilla GAN (Goodfellow et al. 2014): MLP generator and discriminator.

``loss="minimax"`` trains G on the seed's E[log(1 - D(G(z)))]; ``"non_saturating"``
on -E[log D(G(z))]. Both log V(D, G).
"""
import numpy as np
import keras
from keras import layers

from ganzoo.engine import GANModel


def _label_embedding(labels, num_classes, dim):
    return layers.Flatten()(layers.Embedding(num_classes, dim)(labels))


def mlp_generator(latent_dim, shape, hidden=(256, 512, 1024), num_classes=0, name="generator"):
    z = keras.Input((latent_dim,), name="z")
    inputs, h = z, z
    if num_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs = [z, labels]
        h = layers.Concatenate()([z, _label_embedding(labels, num_classes, num_classes)])
    for units in hidden:
        h = layers.Dense(units)(h)
        h = layers.BatchNormalization(momentum=0.8)(h)
        h = layers.LeakyReLU(0.2)(h)
    h = layers.Dense(int(np.prod(shape)))(h)
    out = layers.Activation("tanh", dtype="float32")(layers.Reshape(shape)(h))
    return keras.Model(inputs, out, name=name)


def mlp_discriminator(shape, hidden=(512, 256), num_classes=0, dropout=0.0, name="discriminator"):
    x = keras.Input(shape, name="images")
    inputs, h = x, layers.Flatten()(x)
    if num_classes:
        labels = keras.Input((), dtype="int32", name="labels")
        inputs = [x, labels]
        h = layers.Concatenate()([h, _label_embedding(labels, num_classes, num_classes)])
    for units in hidden:
        h = layers.LeakyReLU(0.2)(layers.Dense(units)(h))
        if dropout:
            h = layers.Dropout(dropout)(h)
    out = layers.Dense(1, dtype="float32")(h)  # logits in float32 under mixed precision
    return keras.Model(inputs, out, name=name)


class GAN(GANModel):
    def __init__(self, resolution=28, channels=1, latent_dim=100, g_hidden=(256, 512, 1024),
                 d_hidden=(512, 256), dropout=0.0, num_classes=0, loss="non_saturating", **kwargs):
        shape = (resolution, resolution, channels)
        super().__init__(
            mlp_generator(latent_dim, shape, tuple(g_hidden), num_classes),
            mlp_discriminator(shape, tuple(d_hidden), num_classes, dropout),
            latent_dim=latent_dim, num_classes=num_classes, loss=loss, **kwargs)
        self.resolution, self.channels = resolution, channels
