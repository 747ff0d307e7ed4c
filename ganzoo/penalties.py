"""Discriminator regularisers as small pure functions.

``critic`` is any callable images -> logits (labels already bound for conditional models).
"""
import tensorflow as tf


def _critic_grads(critic, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = tf.cast(critic(x), tf.float32)
    return tf.cast(tape.gradient(logits, x), tf.float32)


def gradient_penalty(critic, real, fake, epsilon):
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)||_2 - 1)^2].

    x_hat = eps * real + (1 - eps) * fake, eps ~ U[0, 1] per sample, shape [B, 1, 1, 1]
    (or [B, 1] for flat inputs); the caller draws eps so this stays pure.
    """
    real = tf.cast(real, tf.float32)
    fake = tf.cast(fake, tf.float32)
    x_hat = epsilon * real + (1.0 - epsilon) * fake
    grads = tf.reshape(_critic_grads(critic, x_hat), [tf.shape(real)[0], -1])
    norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + 1e-12)
    return tf.reduce_mean(tf.square(norm - 1.0))


def r1(critic, real):
    """R1 (Mescheder et al. 2018): 0.5 * E[||grad D(x)||^2] on real data."""
    grads = _critic_grads(critic, tf.cast(real, tf.float32))
    grads = tf.reshape(grads, [tf.shape(real)[0], -1])
    return 0.5 * tf.reduce_mean(tf.reduce_sum(tf.square(grads), axis=1))


def drift(real_logits):
    """ProGAN's drift term E[D(x)^2] that keeps critic outputs near zero."""
    return tf.reduce_mean(tf.square(tf.cast(real_logits, tf.float32)))


def weight_clip(variables, clip_value):
    """WGAN (Arjovsky et al. 2017): clamp every critic weight to [-c, c] after its update."""
    for v in variables:
        v.assign(tf.clip_by_value(v, -clip_value, clip_value))
