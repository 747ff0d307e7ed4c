import keras
import numpy as np
import pytest
import tensorflow as tf

from ganzoo import policies, training
from helpers import assert_same, fake_batch, tiny_config, values


def built(variant="dcgan", **kw):
    model, _, _ = training.build(tiny_config(variant, **kw))
    return model


def all_values(net):
    return values(net.trainable_variables) + values(net.non_trainable_variables)


@pytest.mark.parametrize("variant", ["dcgan", "wgan_gp", "cgan"])
def test_d_phase_leaves_generator_untouched(variant):
    model = built(variant)
    real = fake_batch(model)
    real, labels = real if model.conditional else (real, None)
    g_before, d_before = all_values(model.generator), values(model.discriminator.trainable_variables)
    tf.function(model.d_step)(real[:2], None if labels is None else labels[:2])
    assert_same(g_before, all_values(model.generator))  # batch-norm statistics included
    assert any(not np.array_equal(a, b) for a, b in
               zip(d_before, values(model.discriminator.trainable_variables)))


@pytest.mark.parametrize("variant", ["dcgan", "wgan_gp", "cgan"])
def test_g_phase_leaves_discriminator_untouched(variant):
    model = built(variant)
    labels = tf.constant([0, 1]) if model.conditional else None
    d_before, g_before = all_values(model.discriminator), values(model.generator.trainable_variables)
    tf.function(model.g_step)(2, labels)
    assert_same(d_before, all_values(model.discriminator))
    assert any(not np.array_equal(a, b) for a, b in
               zip(g_before, values(model.generator.trainable_variables)))


def test_n_critic_consumes_one_minibatch_per_critic_step():
    model = built("wgan")
    assert model.n_critic == 5
    calls = []
    original = model.d_step
    model.d_step = lambda real, labels: calls.append(real.shape[0]) or original(real, labels)
    model.train_step(fake_batch(model, batch_size=2))
    assert calls == [2] * 5
    with pytest.raises(ValueError, match="n_critic"):
        model.train_step(tf.zeros([7, 8, 8, 1]))


def test_wgan_clips_critic_weights():
    model = built("wgan")
    tf.function(model.train_step)(fake_batch(model))
    for v in model.discriminator.trainable_variables:
        assert np.abs(v.numpy()).max() <= 0.01 + 1e-7


def test_metrics_and_terminate_on_nan():
    model = built("gan")
    logs = model.train_step(fake_batch(model))
    assert {"loss", "d_loss", "g_loss", "value"} == set(logs)
    callback = keras.callbacks.TerminateOnNaN()
    callback.set_model(model)
    callback.on_batch_end(0, {"loss": float("nan")})
    assert model.stop_training


def test_nan_input_stops_training(tmp_path):
    model = built("gan")
    logs = model.train_step(tf.fill([2, 8, 8, 1], float("nan")))
    assert np.isnan(float(logs["loss"]))


def test_noise_comes_from_the_models_seed_generator():
    a, b = built("gan"), built("gan")
    np.testing.assert_array_equal(a.sample_latent(3), b.sample_latent(3))  # same config seed
    state = a.seed_generator.state.numpy().copy()
    a.sample_latent(3)
    assert not np.array_equal(state, a.seed_generator.state.numpy())


def test_float16_scales_both_losses():
    model = built("dcgan", precision="mixed_float16")
    for opt in (model.d_optimizer, model.g_optimizer):
        assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
    logits = model.discriminate(tf.zeros([2, 8, 8, 1]))
    assert logits.dtype == tf.float32  # D logits and losses stay float32
    tf.function(model.train_step)(fake_batch(model))
    for opt in (model.d_optimizer, model.g_optimizer):
        assert float(opt.dynamic_scale) > 0  # built and stepped


def test_policy_resolution_on_this_machine():
    assert policies.resolve_precision("float32") == "float32"
    with pytest.raises(ValueError):
        policies.resolve_precision("float64")
    assert policies.resolve_jit("true") is True and policies.resolve_jit(False) is False
    if policies.accelerator() == "cpu":
        assert policies.resolve_jit("auto") is False
        expected = "mixed_bfloat16" if policies.cpu_has_bf16() else "float32"
        assert policies.resolve_precision("auto") == expected
        assert policies.resolve_precision("auto", "dcgan") == expected
        for mlp in ("gan", "cgan"):  # dispatch-bound: float32 + XLA measured fastest
            assert policies.resolve_precision("auto", mlp) == "float32"
            assert policies.resolve_jit("auto", mlp) is True
    with pytest.raises(ValueError):
        policies.resolve_jit("sometimes")


def test_policy_does_not_leak():
    before = keras.config.dtype_policy().name
    built("gan", precision="mixed_bfloat16")
    assert keras.config.dtype_policy().name == before


def test_divergence_stops_the_run_without_checkpointing_it(tmp_path):
    """What TerminateOnNaN does on a NaN loss (stop_training) ends the loop with Diverged,
    and the diverged step is not saved."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x_train=rng.integers(0, 256, (16, 8, 8), dtype=np.uint8),
             y_train=np.zeros(16, np.uint8))
    config = tiny_config("dcgan")
    config.data.source = f"npz:{tmp_path / 'd.npz'}"
    config.train.steps, config.train.checkpoint_every = 10, 2

    class StopAtStep3(keras.callbacks.Callback):  # as TerminateOnNaN does on a NaN loss
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                self.model.stop_training = True

    with pytest.raises(training.Diverged, match="step 3.*ckpt-2"):
        training.run(config, str(tmp_path / "run"), callbacks=[StopAtStep3()])
    saved = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.index"))
    assert saved == ["ckpt-2.index"]


class PoisonAt(keras.callbacks.Callback):
    """Writes NaN into a generator weight after step ``at``, ``times`` times."""

    def __init__(self, at, times):
        super().__init__()
        self.at, self.times = at, times

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.at and self.times:
            self.times -= 1
            v = self.model.generator.trainable_variables[0]
            v.assign(tf.fill(v.shape, float("nan")))


def _nan_config(tmp_path, steps=8):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x_train=rng.integers(0, 256, (16, 8, 8), dtype=np.uint8),
             y_train=np.zeros(16, np.uint8))
    config = tiny_config("dcgan")
    config.data.source = f"npz:{tmp_path / 'd.npz'}"
    config.train.steps, config.train.checkpoint_every = steps, 2
    return config


def test_nonfinite_weights_restore_the_last_checkpoint_and_retry(tmp_path, caplog):
    config = _nan_config(tmp_path)
    with caplog.at_level("WARNING", logger="ganzoo"):
        training.run(config, str(tmp_path / "run"), callbacks=[PoisonAt(3, times=1)])
    assert "the weights became non-finite at step 3: restored" in caplog.text
    assert "ckpt-2" in caplog.text and "retry 1 of 2" in caplog.text
    exported = tf.saved_model.load(str(tmp_path / "run" / "export"))
    images = exported.signatures["sample"](num_samples=tf.constant(4), seed=tf.constant(0, tf.int64))
    assert images["images"].shape[0] == 4
    saved = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.index"))
    assert saved[-1] == "ckpt-8.index"


def test_divergence_past_max_retries_stops_and_exports_nothing(tmp_path):
    config = _nan_config(tmp_path)
    config.train.max_retries = 1
    with pytest.raises(training.Diverged, match=r"the weights became non-finite at step 3 after 1 "
                                                r"retry \(train.max_retries=1\); the last good "
                                                r"checkpoint is .*ckpt-2"):
        training.run(config, str(tmp_path / "run"), callbacks=[PoisonAt(3, times=5)])
    assert not (tmp_path / "run" / "export").exists()


def test_nan_loss_is_caught_in_the_step_it_appears(tmp_path):
    config = _nan_config(tmp_path)
    config.train.max_retries = 0
    config.train.d_optimizer.learning_rate = float("inf")
    with pytest.raises(training.Diverged, match=r"non-finite at step 1 .*none \(no checkpoint yet\)"):
        training.run(config, str(tmp_path / "run"))


def test_weight_average_follows_the_ramped_decay():
    from ganzoo.engine import WeightAverage
    v = tf.Variable([1.0, 2.0])
    average = WeightAverage([v], 0.9)
    expected = np.array([1.0, 2.0])
    for t, value in enumerate([[3.0, 0.0], [5.0, 1.0], [-1.0, 4.0]], start=1):
        v.assign(value)
        average.update([v])
        beta = min(0.9, (1 + t) / (10 + t))
        expected = beta * expected + (1 - beta) * np.array(value)
        np.testing.assert_allclose(average.averages[0].numpy(), expected, rtol=1e-6)
    with average.applied([v]):
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(v.numpy(), [-1.0, 4.0])  # raw weights back
    with pytest.raises(ValueError, match="ema_decay"):
        WeightAverage([v], 1.0)


def test_ema_samples_and_export_use_the_average_and_resume_restores_it(tmp_path):
    config = _nan_config(tmp_path, steps=4)
    config.model.ema_decay = 0.5
    training.run(config, str(tmp_path / "run"))
    model, _, _ = training.build(config)
    ckpt = tf.train.Checkpoint(**model.checkpoint_items())
    ckpt.restore(str(tmp_path / "run" / "checkpoints" / "ckpt-4")).expect_partial()
    assert int(model.generator_average.updates.numpy()) == 4
    raw = values(model.generator.trainable_variables)
    averaged = values(model.generator_average.averages)
    assert any(not np.array_equal(a, b) for a, b in zip(raw, averaged))
    exported = tf.saved_model.load(str(tmp_path / "run" / "export"))
    z = tf.random.stateless_normal([3, config.model.latent_dim], seed=[1, 2])
    out = exported.signatures["serving_default"](z=z)["images"].numpy()
    with model.averaged():
        expected = model.generate(z, training=False).numpy()
    raw_out = model.generate(z, training=False).numpy()
    from ganzoo import images
    np.testing.assert_array_equal(out, images.to_uint8(expected))
    assert not np.array_equal(out, images.to_uint8(raw_out))
    assert_same(raw, values(model.generator.trainable_variables))


def test_cyclegan_refuses_ema():
    from ganzoo.models.cyclegan import CycleGAN
    with pytest.raises(ValueError, match="ema_decay"):
        CycleGAN(resolution=8, channels=1, ngf=2, ndf=2, n_blocks=1, ema_decay=0.9)
