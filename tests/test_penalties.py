import numpy as np
import tensorflow as tf

from ganzoo import penalties

W = np.array([3.0, 4.0], np.float32)  # ||W|| = 5


def linear_critic(x):
    return tf.reduce_sum(x * W, axis=1, keepdims=True)


def test_gradient_penalty_of_a_linear_critic():
    real = tf.constant([[1.0, 2.0], [0.0, 1.0]])
    fake = tf.constant([[5.0, -1.0], [2.0, 2.0]])
    eps = tf.constant([[0.3], [0.9]])
    # the gradient of a linear critic is W everywhere: (5 - 1)^2
    assert np.isclose(penalties.gradient_penalty(linear_critic, real, fake, eps), 16.0)


def test_gradient_penalty_interpolates_per_sample():
    def critic(x):  # gradient 2x: depends on where x_hat lies
        return tf.reduce_sum(tf.square(x), axis=1, keepdims=True)
    real = tf.constant([[1.0, 0.0], [0.0, 2.0]])
    fake = tf.constant([[0.0, 0.0], [0.0, 0.0]])
    eps = tf.constant([[0.5], [0.25]])
    # x_hat = [[0.5, 0], [0, 0.5]] -> grads [[1, 0], [0, 1]] -> norms 1 -> penalty 0
    assert np.isclose(penalties.gradient_penalty(critic, real, fake, eps), 0.0, atol=1e-6)
    eps = tf.constant([[1.0], [1.0]])
    # x_hat = real -> norms [2, 4] -> mean((1, 9)) = 5
    assert np.isclose(penalties.gradient_penalty(critic, real, fake, eps), 5.0)


def test_r1():
    real = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    assert np.isclose(penalties.r1(linear_critic, real), 0.5 * 25.0)


def test_drift():
    assert np.isclose(penalties.drift(tf.constant([[1.0], [-3.0]])), 5.0)


def test_weight_clip():
    v = [tf.Variable([-0.5, 0.005, 0.2]), tf.Variable([[0.01, -0.02]])]
    penalties.weight_clip(v, 0.01)
    np.testing.assert_allclose(v[0].numpy(), [-0.01, 0.005, 0.01])
    np.testing.assert_allclose(v[1].numpy(), [[0.01, -0.01]])
