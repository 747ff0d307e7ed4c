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


PENALTIES = {"none": {}, "gp": {"gp_weight": 10.0}, "r1": {"r1_weight": 1.0},
             "drift": {"drift_weight": 0.001}}


@pytest.mark.parametrize("penalty", sorted(PENALTIES))
@pytest.mark.parametrize("loss", ["minimax", "non_saturating", "wasserstein", "hinge",
                                  "least_squares"])
@pytest.mark.parametrize("variant", ["gan", "dcgan"])
def test_architecture_loss_penalty_grid(variant, loss, penalty):
    """compare_gan style: every architecture x loss x penalty trains one step at batch 2."""
    config = tiny_config(variant)
    config.model.loss = loss
    for key, value in PENALTIES[penalty].items():
        config.model[key] = value
    model, logs = run_train_step_test(config)
    assert ("value" in logs) == (loss in ("minimax", "non_saturating"))
    assert ("gp" in logs) == (penalty == "gp") and ("r1" in logs) == (penalty == "r1")
