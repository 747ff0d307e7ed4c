"""Every variant x precision policy x XLA: one compiled train step (the shared battery)."""
import keras
import pytest

from helpers import VARIANTS, run_train_step_test, tiny_config

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_one_step_each_precision(variant, precision):
    model, _ = run_train_step_test(tiny_config(variant, precision=precision))
    compute = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
    assert model.generator.layers[1].compute_dtype == compute[precision]
    is_scaled = [isinstance(o, keras.optimizers.LossScaleOptimizer)
                 for o in (model.d_optimizer, model.g_optimizer)]
    assert is_scaled == [precision == "mixed_float16"] * 2


@pytest.mark.parametrize("variant", VARIANTS)
def test_one_step_with_xla(variant):
    run_train_step_test(tiny_config(variant, jit_compile=True))


def test_conditional_generator_follows_labels():
    model, _ = run_train_step_test(tiny_config("cgan"))
    import tensorflow as tf
    z = tf.zeros([2, model.latent_dim])
    out = model.generate(z, tf.constant([0, 1])).numpy()
    assert not (out[0] == out[1]).all()
