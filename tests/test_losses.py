import numpy as np
import pytest

from ganzoo import losses

REAL = np.array([[2.0], [-1.0]], np.float32)
FAKE = np.array([[0.5], [-3.0]], np.float32)


def sig(x):
    return 1 / (1 + np.exp(-x))


def test_value_is_the_seed_formula():
    expected = np.mean(np.log(sig(REAL))) + np.mean(np.log(1 - sig(FAKE)))
    assert np.isclose(losses.value(REAL, FAKE), expected, rtol=1e-6)


def test_minimax():
    assert np.isclose(losses.minimax_d(REAL, FAKE), -losses.value(REAL, FAKE))
    assert np.isclose(losses.minimax_g(FAKE), np.mean(np.log(1 - sig(FAKE))), rtol=1e-6)


def test_non_saturating():
    assert np.isclose(losses.non_saturating_g(FAKE), -np.mean(np.log(sig(FAKE))), rtol=1e-6)


def test_wasserstein():
    assert np.isclose(losses.wasserstein_d(REAL, FAKE), FAKE.mean() - REAL.mean())
    assert np.isclose(losses.wasserstein_g(FAKE), -FAKE.mean())


def test_hinge():
    # relu(1 - [2, -1]) = [0, 2]; relu(1 + [0.5, -3]) = [1.5, 0]
    assert np.isclose(losses.hinge_d(REAL, FAKE), 1.0 + 0.75)
    assert np.isclose(losses.hinge_g(FAKE), 1.25)


def test_least_squares():
    # 0.5 * (mean([1, 4]) + mean([0.25, 9]))
    assert np.isclose(losses.least_squares_d(REAL, FAKE), 0.5 * (2.5 + 4.625))
    assert np.isclose(losses.least_squares_g(FAKE), 0.5 * np.mean([0.25, 16.0]))


def test_saturation_is_why_non_saturating_exists():
    # D confidently rejects the fakes: the minimax gradient vanishes, the other does not.
    import tensorflow as tf
    x = tf.Variable([[-8.0]])
    for fn, small in ((losses.minimax_g, True), (losses.non_saturating_g, False)):
        with tf.GradientTape() as tape:
            y = fn(x)
        g = abs(float(tape.gradient(y, x)[0, 0]))
        assert (g < 1e-3) == small


def test_lookup_suggests_close_names():
    with pytest.raises(KeyError, match="non_saturating"):
        losses.get("non_saturated")
