"""Progressive GAN: layers against hand computation, growing and fading, the schedule, one
compiled step per resolution, train steps under every policy, resume mid-fade, CLI and export."""
import json
import math
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from ganzoo import layers as L, training
from ganzoo.models.progan import ProGAN, Schedule
from helpers import ROOT, assert_same, load_config, values


def tiny_config(precision="float32", jit_compile=False, max_resolution=8, source=None):
    """4x4 -> max_resolution, 8 channels at most, 8 images per phase, batches 4 then 2."""
    config = load_config("progan", "celeba")
    m = config.model
    m.max_resolution, m.latent_dim, m.fmap_base, m.fmap_max = max_resolution, 8, 32, 8
    m.images_per_phase, m.batch_sizes = 8, (4, 2)
    t = config.train
    t.precision, t.jit_compile = precision, str(jit_compile).lower()
    t.steps, t.log_every, t.sample_every, t.checkpoint_every, t.num_samples = 4, 1, 2, 2, 4
    t.export = False
    if source:
        config.data.source = source
    return config


def built(**kw):
    model, _, _ = training.build(tiny_config(**kw))
    return model


def all_values(net):
    return values(net.trainable_variables) + values(net.non_trainable_variables)


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "faces.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (16, 16, 16, 3), dtype=np.uint8))
    return f"npz:{path}"


# ---- layers ---------------------------------------------------------------------------------

def test_equalized_dense_weights_are_standard_normal_scaled_at_run_time():
    layer = L.EqualizedDense(300)
    layer.build((None, 200))
    w = layer.kernel.numpy()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1.0) < 0.01  # N(0, 1), 60,000 draws
    assert layer.scale == pytest.approx(math.sqrt(2.0 / 200))
    layer.bias.assign(np.linspace(-1, 1, 300).astype(np.float32))
    x = np.random.default_rng(1).normal(size=(5, 200)).astype(np.float32)
    expected = x @ (w * math.sqrt(2.0 / 200)) + layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_equalized_conv_weights_are_standard_normal_scaled_at_run_time():
    layer = L.EqualizedConv2D(64, 3)
    layer.build((None, 5, 5, 64))
    w = layer.kernel.numpy()
    assert w.shape == (3, 3, 64, 64)
    assert abs(w.mean()) < 0.015 and abs(w.std() - 1.0) < 0.015
    fan_in = 3 * 3 * 64
    assert layer.scale == pytest.approx(math.sqrt(2.0 / fan_in))
    x = np.random.default_rng(2).normal(size=(2, 5, 5, 64)).astype(np.float32)
    # hand-written 'same' convolution at one pixel (2, 3): a 3x3 window, zero padded
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    window = padded[:, 2:5, 3:6, :]                                   # rows 1..3, cols 2..4
    expected = np.einsum("nijc,ijco->no", window, w) * math.sqrt(2.0 / fan_in)
    np.testing.assert_allclose(layer(x).numpy()[:, 2, 3], expected, rtol=1e-4, atol=1e-4)
    one_by_one = L.EqualizedConv2D(3, 1, gain=1.0)
    one_by_one.build((None, 5, 5, 64))
    assert one_by_one.scale == pytest.approx(1.0 / 8.0)


def test_pixel_norm_by_hand():
    x = np.array([[[[3.0, 4.0], [0.0, 0.0]]]], np.float32)  # [1, 1, 2, 2]
    out = L.PixelNorm()(x).numpy()
    np.testing.assert_allclose(out[0, 0, 0], [3 / math.sqrt(12.5 + 1e-8), 4 / math.sqrt(12.5 + 1e-8)],
                               rtol=1e-6)
    np.testing.assert_array_equal(out[0, 0, 1], [0.0, 0.0])
    x = np.random.default_rng(3).normal(size=(4, 3, 3, 16)).astype(np.float32)
    np.testing.assert_allclose(np.mean(L.pixel_norm(x).numpy() ** 2, axis=-1), 1.0, rtol=1e-5)


def mbstd_by_hand(x, group):
    """The statistic for each sample: sample n is in group n % (N / G)."""
    n = len(x)
    m = n // group
    out = np.empty(n)
    for i in range(n):
        members = x[[i % m + j * m for j in range(group)]]
        out[i] = np.mean(np.sqrt(members.var(axis=0) + 1e-8))
    return out


@pytest.mark.parametrize("batch,group,used", [(8, 4, 4), (6, 4, 3), (5, 4, 1), (2, 4, 2), (7, 1, 1)])
def test_minibatch_stddev_by_hand(batch, group, used):
    assert L.largest_divisor(batch, group) == used
    x = np.random.default_rng(batch).normal(size=(batch, 3, 3, 5)).astype(np.float32)
    out = L.MinibatchStddev(group)(x).numpy()
    assert out.shape == (batch, 3, 3, 6)
    np.testing.assert_array_equal(out[..., :5], x)
    expected = mbstd_by_hand(x.astype(np.float64), used)
    np.testing.assert_allclose(out[..., 5], np.broadcast_to(expected[:, None, None], (batch, 3, 3)),
                               rtol=1e-5, atol=1e-6)
    # the same rule when the batch size is only known at run time
    dynamic = tf.function(lambda t: L.minibatch_stddev(t, group),
                          input_signature=[tf.TensorSpec([None, 3, 3, 5], tf.float32)])
    np.testing.assert_allclose(dynamic(x).numpy(), out, rtol=1e-6)


def test_resampling():
    x = np.arange(8, dtype=np.float32).reshape(2, 2, 2, 1)
    up = L.upsample2x(x).numpy()
    np.testing.assert_array_equal(up[0, :, :, 0], [[0, 0, 1, 1], [0, 0, 1, 1],
                                                   [2, 2, 3, 3], [2, 2, 3, 3]])
    np.testing.assert_array_equal(L.downsample2x(up).numpy(), x)


# ---- networks -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def net16():
    return ProGAN(max_resolution=16, channels=3, latent_dim=8, fmap_base=32, fmap_max=8,
                  images_per_phase=8, batch_sizes=(4,), seed=0)


def test_shapes_at_each_resolution(net16):
    z = tf.random.normal([3, 8], seed=1)
    for r in (4, 8, 16):
        images = net16.generator(z, resolution=r)
        assert images.shape == (3, r, r, 3) and images.dtype == tf.float32
        logits = net16.discriminator(images)
        assert logits.shape == (3, 1) and logits.dtype == tf.float32
    with pytest.raises(ValueError, match="max_resolution"):
        net16.generator(z, resolution=32)


def test_generator_fade_in(net16):
    g = net16.generator
    z = tf.random.normal([3, 8], seed=2)
    for r in (8, 16):
        previous = g(z, resolution=r // 2, alpha=1.0).numpy()
        np.testing.assert_allclose(g(z, resolution=r, alpha=0.0).numpy(),
                                   L.upsample2x(previous).numpy(), rtol=1e-6, atol=1e-6)
        h, _ = g.features(z, r)
        new = g.to_rgb[int(math.log2(r)) - 2](h).numpy()
        np.testing.assert_allclose(g(z, resolution=r, alpha=1.0).numpy(), new, rtol=1e-6, atol=1e-6)
        half = g(z, resolution=r, alpha=0.5).numpy()
        np.testing.assert_allclose(half, 0.5 * new + 0.5 * L.upsample2x(previous).numpy(),
                                   rtol=1e-5, atol=1e-5)
        assert not np.allclose(new, L.upsample2x(previous).numpy())
    # the default alpha is the network's variable
    g.alpha.assign(0.0)
    np.testing.assert_allclose(g(z, resolution=8).numpy(), g(z, resolution=8, alpha=0.0).numpy())
    g.alpha.assign(1.0)


def test_discriminator_fade_in(net16):
    d = net16.discriminator
    x = tf.random.uniform([4, 16, 16, 3], -1, 1, seed=3)
    x8 = L.downsample2x(x)
    # alpha 0: the new resolution's input only reaches D through the previous fromRGB
    np.testing.assert_allclose(d(x, alpha=0.0).numpy(), d(x8, alpha=1.0).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d(x8, alpha=0.0).numpy(), d(L.downsample2x(x8), alpha=1.0).numpy(),
                               rtol=1e-5, atol=1e-5)

    # alpha 1: fromRGB_16 -> block 16 -> block 8 -> 4x4 head, written out by hand
    def lrelu(t):
        return tf.maximum(t, 0.2 * t)

    def head(h):
        h = lrelu(d.conv4(d.mbstd(h)))
        return d.dense1(lrelu(d.dense0(tf.reshape(h, [4, -1]))))
    h = lrelu(d.from_rgb[2](x))
    for i in (1, 0):
        h = L.downsample2x(lrelu(d.blocks[i][1](lrelu(d.blocks[i][0](h)))))
    np.testing.assert_allclose(d(x, alpha=1.0).numpy(), head(h).numpy(), rtol=1e-5, atol=1e-5)


def test_all_blocks_exist_before_any_call():
    model = ProGAN(max_resolution=32, channels=3, latent_dim=8, fmap_base=32, fmap_max=8,
                   images_per_phase=8, batch_sizes=(4,), seed=0)
    names = {v.path for v in model.generator.variables + model.discriminator.variables}
    for r in (4, 8, 16, 32):
        assert f"generator/to_rgb_{r}x{r}/kernel" in names
        assert f"discriminator/from_rgb_{r}x{r}/kernel" in names
    assert "generator/conv1_32x32/kernel" in names and "discriminator/conv1_32x32/kernel" in names
    assert "generator/alpha" in names and "discriminator/alpha" in names
    widths = [model.generator.to_rgb[i].kernel.shape[2] for i in range(4)]
    assert widths == [8, 8, 4, 2]  # nf(s) = min(32 / 2^s, 8) at resolution 2^(s + 1)


# ---- schedule -------------------------------------------------------------------------------

def test_schedule_steps_images_and_alpha():
    s = Schedule(16, images_per_phase=8, batch_sizes=(4, 2))  # 16x16 repeats the last batch
    got = [(p.resolution, p.fading, p.first_step, p.steps, p.batch_size) for p in s.phases]
    assert got == [(4, False, 0, 2, 4), (8, True, 2, 4, 2), (8, False, 6, 4, 2),
                   (16, True, 10, 4, 2), (16, False, 14, 4, 2)]
    assert s.total_steps == 18
    assert [s.at(k).alpha for k in range(2, 7)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert s.at(1) == (0, 4, False, 1.0, 4, 4)
    assert s.at(4).phase_images == 4 and s.at(4).fading
    far = s.at(10 ** 6)  # steps beyond the schedule stay at max resolution
    assert (far.resolution, far.alpha, far.phase) == (16, 1.0, 4)
    assert s.images_before(0) == 0 and s.images_before(3) == 4 + 4 + 2
    assert s.images_before(25) == 2 * 4 + 23 * 2
    uneven = Schedule(8, images_per_phase=5, batch_sizes=(2,))
    assert [p.steps for p in uneven.phases] == [3, 3, 3]  # ceil(5 / 2)
    with pytest.raises(ValueError, match="power of two"):
        Schedule(24, 8, (4,))


def test_stage_changes_only_with_the_resolution():
    model = built(max_resolution=16)
    stages = [model.stage(k) for k in range(25)]
    assert stages[0] == {"data": {"resolution": 4}, "batch_size": 4}
    assert stages[5] == stages[9] == {"data": {"resolution": 8}, "batch_size": 2}
    distinct = [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]]
    assert [s["data"]["resolution"] for s in distinct] == [4, 8, 16]


# ---- training -------------------------------------------------------------------------------

def fade_batch(model, step, seed=0):
    """Set up ``step`` and return a real batch at its resolution and batch size."""
    model.before_step(step)
    state = model.schedule.at(step)
    rng = np.random.default_rng(seed)
    r = state.resolution
    return tf.constant(rng.uniform(-1, 1, (state.batch_size, r, r, 3)), tf.float32)


@pytest.mark.parametrize("precision,jit", [("float32", False), ("mixed_bfloat16", False),
                                           ("mixed_float16", False), ("float32", True)])
def test_one_train_step(precision, jit):
    model = built(precision=precision, jit_compile=jit)
    real = fade_batch(model, 3)  # 8x8, fading in at alpha 0.25
    assert model.generator.resolution == 8 and float(model.generator.alpha) == 0.25
    g0, d0 = values(model.generator.trainable_variables), values(model.discriminator.trainable_variables)
    step = tf.function(model.train_step, jit_compile=jit)
    changed = lambda a, b: any(not np.array_equal(x, y) for x, y in zip(a, b))  # noqa: E731
    for _ in range(8):  # float16: dynamic loss scaling skips steps until its scale fits
        logs = {k: float(v) for k, v in step(real).items()}
        assert {"loss", "d_loss", "g_loss", "w_distance", "gp"} <= set(logs)
        assert all(np.isfinite(v) for v in logs.values()), logs
        if changed(d0, values(model.discriminator.trainable_variables)):
            break
    assert changed(g0, values(model.generator.trainable_variables))
    assert changed(d0, values(model.discriminator.trainable_variables))
    assert step.experimental_get_tracing_count() == 1
    compute = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
    assert model.generator.dense.compute_dtype == compute[precision]
    out = model.generate(tf.zeros([2, 8]))
    assert out.shape == (2, 8, 8, 3) and out.dtype == tf.float32


def test_d_phase_leaves_generator_untouched():
    model = built()
    real = fade_batch(model, 3)
    g_before, d_before = all_values(model.generator), values(model.discriminator.trainable_variables)
    tf.function(model.d_step)(real, None)
    assert_same(g_before, all_values(model.generator))
    assert any(not np.array_equal(a, b) for a, b in
               zip(d_before, values(model.discriminator.trainable_variables)))


def test_g_phase_leaves_discriminator_untouched():
    model = built()
    fade_batch(model, 3)
    d_before, g_before = all_values(model.discriminator), values(model.generator.trainable_variables)
    tf.function(model.g_step)(2, None)
    assert_same(d_before, all_values(model.discriminator))
    assert any(not np.array_equal(a, b) for a, b in
               zip(g_before, values(model.generator.trainable_variables)))


def test_one_compiled_step_per_resolution(npz):
    config = tiny_config(source=npz)
    model, _, jit = training.build(config)
    stage = model.stage(2)
    batches, train_step = training.pipeline(config, model, stage, seed=0, jit=jit)
    alphas = []
    for step in range(2, 12):  # 8x8: fade in steps 2-5, stabilise 6-9, then beyond the schedule
        assert model.stage(step) == stage
        model.before_step(step)
        alphas.append(float(model.discriminator.alpha.numpy()))
        assert np.isfinite(float(train_step(next(batches))["loss"]))
    assert alphas == [0.0, 0.25, 0.5, 0.75] + [1.0] * 6
    assert train_step.experimental_get_tracing_count() == 1


class Recorder(keras.callbacks.Callback):
    """(step, resolution, alpha) of every step trained."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        g = self.model.generator
        self.seen.append((batch, g.resolution, float(g.alpha.numpy())))


def progress(workdir, step):
    ckpt = tf.train.load_checkpoint(str(workdir / "checkpoints" / f"ckpt-{step}"))
    get = lambda name: ckpt.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE")  # noqa: E731
    return dict(step=int(get("step")), images_seen=int(get("images_seen")),
                resolution=int(get("progress_resolution")), phase=int(get("progress_phase")),
                alpha=float(get("progress_alpha")), phase_images=int(get("progress_phase_images")))


def test_resume_mid_fade_and_export(npz, tmp_path, caplog):
    config = tiny_config(source=npz)
    schedule = Schedule(8, 8, (4, 2))  # stabilise 4x4: steps 0-1; fade 8x8: 2-5; stabilise 6-9
    first = Recorder()
    training.run(config, str(tmp_path), callbacks=[first])  # 4 steps: stops inside the fade
    saved = progress(tmp_path, 4)
    assert saved == dict(step=4, images_seen=8 + 4, resolution=8, phase=1, alpha=0.25,
                         phase_images=2)  # the values of step 3, the last one trained

    config.train.steps, config.train.export = 13, True  # past the end of the schedule
    second = Recorder()
    with caplog.at_level("INFO", logger="ganzoo"):
        training.run(config, str(tmp_path), callbacks=[second])
    assert "resuming at step 4: 8x8, fading in, alpha 0.2500" in caplog.text
    trained = first.seen + second.seen
    assert [s for s, _, _ in trained] == list(range(1, 14))
    assert trained == [(k + 1, schedule.at(k).resolution, schedule.at(k).alpha) for k in range(13)]
    assert progress(tmp_path, 13) == dict(step=13, images_seen=schedule.images_before(13),
                                          resolution=8, phase=2, alpha=1.0, phase_images=12)
    exported = tf.saved_model.load(str(tmp_path / "export"))
    images = exported.signatures["sample"](num_samples=tf.constant(2), seed=tf.constant(0, tf.int64))
    assert images["images"].shape == (2, 8, 8, 3) and images["images"].dtype == tf.uint8
    info = json.loads(exported.info.numpy())
    assert (info["resolution"], info["alpha"], info["step"]) == (8, 1.0, 13)


def test_resume_refuses_progress_the_schedule_does_not_give():
    model = built()
    model.progress["resolution"].assign(4)  # as if restored; step 5 was trained at 8x8
    model.progress["phase"].assign(0)
    with pytest.raises(AssertionError, match="schedule gives resolution 8"):
        model.before_step(6)


@pytest.mark.slow
def test_cli_below_max_resolution_previews_and_exports_current_size(tmp_path):
    from PIL import Image
    data = tmp_path / "faces"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (22, 18, 3), dtype=np.uint8)).save(data / f"{i}.jpg")
    work = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "ganzoo.cli.train", f"--config={ROOT}/zoo_configs/progan.py:celeba",
         f"--workdir={work}", f"--config.data.source=folder:{data}", "--config.train.steps=2",
         "--config.model.max_resolution=8", "--config.model.batch_sizes=(4,2)",
         "--config.model.images_per_phase=8", "--config.model.latent_dim=8",
         "--config.model.fmap_base=32", "--config.model.fmap_max=8",
         "--config.train.num_samples=4", "--config.train.precision=float32"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "stabilise 4x4: steps 0-1 (batch 4); fade 8x8: steps 2-5 (batch 2)" in out.stderr
    config = json.loads((work / "config.json").read_text())
    assert config["model"]["batch_sizes"] == [4, 2] and config["model"]["max_resolution"] == 8
    grid = np.array(Image.open(work / "samples" / "step_0000002.png"))
    assert grid.shape == (2 * (4 + 2) + 2, 2 * (4 + 2) + 2, 3)  # 2x2 grid of 4x4 images
    exported = tf.saved_model.load(str(work / "export"))
    images = exported.signatures["serving_default"](z=tf.zeros([3, 8]))["images"]
    assert images.shape == (3, 4, 4, 3) and images.dtype == tf.uint8
