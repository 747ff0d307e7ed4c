"""Adversarial losses as small pure functions of discriminator logits.

Each loss is a pair: ``<name>_d(real_logits, fake_logits) -> d_loss`` and
``<name>_g(fake_logits) -> g_loss``. Logits are raw (pre-sigmoid) critic outputs;
everything is computed in float32 whatever the compute dtype.
"""
import tensorflow as tf


def _f32(x):
    return tf.cast(x, tf.float32)


def value(real_logits, fake_logits):
    """V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))] (Goodfellow et al. 2014, eq. 1)."""
    return (tf.reduce_mean(-tf.nn.softplus(-_f32(real_logits)))
            + tf.reduce_mean(-tf.nn.softplus(_f32(fake_logits))))


def minimax_d(real_logits, fake_logits):
    """D maximises V, so its loss is -V."""
    return -value(real_logits, fake_logits)


def minimax_g(fake_logits):
    """G minimises E[log(1 - D(G(z)))]: the seed's formula, which saturates early on."""
    return tf.reduce_mean(-tf.nn.softplus(_f32(fake_logits)))


def non_saturating_g(fake_logits):
    """G maximises E[log D(G(z))] instead (same fixed point, strong early gradients)."""
    return tf.reduce_mean(tf.nn.softplus(-_f32(fake_logits)))


def wasserstein_d(real_logits, fake_logits):
    return tf.reduce_mean(_f32(fake_logits)) - tf.reduce_mean(_f32(real_logits))


def wasserstein_g(fake_logits):
    return -tf.reduce_mean(_f32(fake_logits))


def hinge_d(real_logits, fake_logits):
    return (tf.reduce_mean(tf.nn.relu(1.0 - _f32(real_logits)))
            + tf.reduce_mean(tf.nn.relu(1.0 + _f32(fake_logits))))


hinge_g = wasserstein_g


def least_squares_d(real_logits, fake_logits):
    """LSGAN with a-b-c = 0-1-1 (Mao et al. 2017), as used by CycleGAN."""
    return 0.5 * (tf.reduce_mean(tf.square(_f32(real_logits) - 1.0))
                  + tf.reduce_mean(tf.square(_f32(fake_logits))))


def least_squares_g(fake_logits):
    return 0.5 * tf.reduce_mean(tf.square(_f32(fake_logits) - 1.0))


# name -> (d_loss, g_loss, value or None). The value is logged as V(D,G) where defined.
LOSSES = {
    "minimax": (minimax_d, minimax_g, value),
    "non_saturating": (minimax_d, non_saturating_g, value),
    "wasserstein": (wasserstein_d, wasserstein_g, None),
    "hinge": (hinge_d, hinge_g, None),
    "least_squares": (least_squares_d, least_squares_g, None),
}


def get(name):
    from ganzoo.lookup import lookup
    return lookup(LOSSES, name, "loss")
