"""CycleGAN: losses against hand computation, the history pool, the two phases, policies,
shapes, and the CLI end to end on a tiny two-domain folder."""
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ganzoo import config as ganzoo_config, data, training
from ganzoo.models.cyclegan import (CycleGAN, HistoryPool, ReflectionPadding2D,
                                    patch_discriminator, resnet_generator)
from helpers import ROOT, assert_same, values

DATA = Path(os.environ.get("GANZOO_DATA",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data"))
R = 16  # tiny resolution used throughout


def tiny_config(precision="float32", jit_compile=False, **model):
    config = ganzoo_config.load(os.path.join(ROOT, "zoo_configs", "cyclegan.py:face2genshin"))
    config.model.update(dict(dict(resolution=R, ngf=4, ndf=4, n_blocks=1), **model))
    config.data.resolution = R
    t = config.train
    t.precision, t.jit_compile, t.batch_size, t.steps = precision, str(jit_compile).lower(), 2, 4
    return config


def built(**kw):
    model, _, _ = training.build(tiny_config(**kw))
    return model


def pair(n=2, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(tf.constant(rng.uniform(-1, 1, (n, R, R, 3)), tf.float32) for _ in range(2))


def nets(model):
    return dict(g_ab=model.generator, g_ba=model.generator_ba, d_a=model.discriminator_a,
                d_b=model.discriminator)


def all_values(net):
    return values(net.trainable_variables) + values(net.non_trainable_variables)


def changed(before, net):
    return any(not np.array_equal(a, b) for a, b in zip(before, values(net.trainable_variables)))


def l1(x, y):
    return np.mean(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))


# --- config ------------------------------------------------------------------------------------

def test_configs_follow_the_paper():
    h2z = ganzoo_config.load(os.path.join(ROOT, "zoo_configs", "cyclegan.py:horse2zebra"))
    m, t = h2z.model, h2z.train
    assert (m.resolution, m.n_blocks, m.ngf, m.ndf) == (256, 9, 64, 64)
    assert (m.cycle_weight, m.identity_weight, m.pool_size) == (10.0, 0.5, 50)
    assert "latent_dim" not in m and h2z.data.source == "tfds:cycle_gan/horse2zebra"
    assert t.batch_size == 1 and t.steps == 200 * 1334
    for opt in (t.d_optimizer, t.g_optimizer):
        assert opt.to_dict() == dict(name="adam", learning_rate=2e-4, beta_1=0.5,
                                     decay="linear_second_half")
    f2g = ganzoo_config.load(os.path.join(ROOT, "zoo_configs", "cyclegan.py:face2genshin"))
    assert f2g.data.source.startswith("cyclegan:") and f2g.data.random_flip
    assert f2g.model.resolution == f2g.data.resolution
    assert CycleGAN(resolution=32, ngf=2, ndf=2, latent_dim=100).n_blocks == 6  # ignored
    assert CycleGAN(resolution=256, ngf=2, ndf=2).n_blocks == 9


# --- losses ------------------------------------------------------------------------------------

def test_generator_losses_match_hand_computation():
    model = built()
    a, b = pair()
    g_ab, g_ba, d_a, d_b = (lambda x, n=n: nets(model)[n](x).numpy()
                            for n in ("g_ab", "g_ba", "d_a", "d_b"))
    fake_b, fake_a = g_ab(a), g_ba(b)
    cycle = l1(g_ba(fake_b), a) + l1(g_ab(fake_a), b)
    identity = l1(g_ab(b), b) + l1(g_ba(a), a)
    adv = np.mean((d_b(fake_b) - 1) ** 2) + np.mean((d_a(fake_a) - 1) ** 2)  # no LSGAN 1/2
    logs = {k: float(v) for k, v in model.g_step(a, b).items()}
    np.testing.assert_allclose(logs["cycle_loss"], cycle, rtol=1e-5)
    np.testing.assert_allclose(logs["identity_loss"], identity, rtol=1e-5)
    np.testing.assert_allclose(logs["g_adv_loss"], adv, rtol=1e-5)
    np.testing.assert_allclose(logs["g_loss"], adv + 10 * cycle + 5 * identity, rtol=1e-5)


def test_discriminator_loss_matches_hand_computation():
    model = built(pool_size=0)
    a, b = pair()
    fake_b, fake_a = model.generator(a).numpy(), model.generator_ba(b).numpy()

    def lsgan(d, real, fake):
        return 0.5 * (np.mean((d(real).numpy() - 1) ** 2) + np.mean(d(fake).numpy() ** 2))
    want_b = lsgan(model.discriminator, b, fake_b)
    want_a = lsgan(model.discriminator_a, a, fake_a)
    logs = {k: float(v) for k, v in model.d_step(a, b).items()}
    np.testing.assert_allclose([logs["d_b_loss"], logs["d_a_loss"], logs["d_loss"]],
                               [want_b, want_a, want_a + want_b], rtol=1e-5)


def test_known_generators_give_known_cycle_loss_and_no_identity_term():
    model = built(identity_weight=0.0)
    for g in (model.generator, model.generator_ba):  # last conv all zero: G(x) = tanh(0) = 0
        last = g.layers[-2]
        last.kernel.assign(tf.zeros_like(last.kernel))
        last.bias.assign(tf.zeros_like(last.bias))
    a, b = pair()
    adv = (np.mean((model.discriminator(tf.zeros_like(a)).numpy() - 1) ** 2)
           + np.mean((model.discriminator_a(tf.zeros_like(b)).numpy() - 1) ** 2))
    logs = {k: float(v) for k, v in model.g_step(a, b).items()}
    np.testing.assert_allclose(logs["cycle_loss"], l1(0, a) + l1(0, b), rtol=1e-5)
    np.testing.assert_allclose(logs["g_adv_loss"], adv, rtol=1e-5)
    assert logs["identity_loss"] == 0.0
    np.testing.assert_allclose(logs["g_loss"], adv + 10 * logs["cycle_loss"], rtol=1e-5)


# --- history pool ------------------------------------------------------------------------------

def images(start, n, shape=(2, 2, 1)):
    """n images with constant values start, start+1, ... (so each is identifiable)."""
    return tf.constant(np.arange(start, start + n, dtype=np.float32)[:, None, None, None]
                       * np.ones(shape, np.float32))


def ids(x):
    return [int(v) for v in np.asarray(x)[:, 0, 0, 0]]


def test_pool_fills_first_then_mixes_new_and_stored():
    pool = HistoryPool(5, (2, 2, 1), seed=0)
    assert ids(pool(images(0, 3))) == [0, 1, 2]           # filling: the new images
    assert ids(pool(images(3, 2))) == [3, 4] and int(pool.count) == 5
    stored, seen_stored, total = set(range(5)), 0, 0
    for step in range(40):
        new = list(range(100 + 3 * step, 103 + 3 * step))
        out = ids(pool(images(new[0], 3)))
        for value, fresh in zip(out, new):
            assert value == fresh or value in stored       # only new or stored images
            if value != fresh:
                seen_stored += 1
                stored.remove(value)
                stored.add(fresh)                           # the new one took its place
            total += 1
        assert set(ids(pool.images)) == stored and int(pool.count) == 5  # never more than 5
    assert 0.35 < seen_stored / total < 0.65, seen_stored / total  # about half


def test_pool_size_zero_and_batch_larger_than_pool():
    assert ids(HistoryPool(0, (2, 2, 1))(images(7, 3))) == [7, 8, 9]
    pool = HistoryPool(2, (2, 2, 1), seed=1)
    assert ids(pool(images(0, 4)))[:2] == [0, 1] and int(pool.count) == 2


def test_pool_checkpoint_round_trip(tmp_path):
    pool = HistoryPool(4, (2, 2, 1), seed=0)
    pool(images(10, 3))
    path = tf.train.Checkpoint(pool=pool).save(str(tmp_path / "ckpt"))
    after = pool(images(20, 5))
    other = HistoryPool(4, (2, 2, 1), seed=123)
    tf.train.Checkpoint(pool=other).restore(path).assert_existing_objects_matched()
    assert int(other.count) == 3 and ids(other.images)[:3] == [10, 11, 12]
    assert ids(other(images(20, 5))) == ids(after)  # the random stream is restored too


def test_pool_in_a_compiled_step_with_xla():
    pool = HistoryPool(3, (2, 2, 1), seed=0)
    query = tf.function(pool.__call__, jit_compile=True)
    for i in range(4):
        out = query(images(10 * i, 2))
    assert int(pool.count) == 3 and query.experimental_get_tracing_count() == 1
    assert out.shape == (2, 2, 2, 1)


# --- the two phases ----------------------------------------------------------------------------

def test_d_phase_leaves_both_generators_untouched():
    model = built()
    before = {n: all_values(net) for n, net in nets(model).items()}
    model.d_step(*pair())
    for name in ("g_ab", "g_ba"):
        assert_same(before[name], all_values(nets(model)[name]))
    for name in ("d_a", "d_b"):
        assert changed(before[name], nets(model)[name])


def test_g_phase_leaves_both_discriminators_untouched():
    model = built()
    before = {n: all_values(net) for n, net in nets(model).items()}
    pools = values([model.pool_a.images, model.pool_b.images])
    model.g_step(*pair())
    for name in ("d_a", "d_b"):
        assert_same(before[name], all_values(nets(model)[name]))
    for name in ("g_ab", "g_ba"):
        assert changed(before[name], nets(model)[name])
    assert_same(pools, values([model.pool_a.images, model.pool_b.images]))


@pytest.mark.parametrize("precision, jit", [("float32", False), ("mixed_bfloat16", False),
                                            ("mixed_float16", False), ("float32", True)])
def test_one_train_step(precision, jit):
    """Eager for the policies (traced graphs are covered by the CLI test and XLA), compiled
    with XLA on."""
    model = built(precision=precision, jit_compile=jit)
    before = {n: values(net.trainable_variables) for n, net in nets(model).items()}
    step = tf.function(model.train_step, jit_compile=True) if jit else model.train_step
    logs = {k: float(v) for k, v in step(pair()).items()}
    assert set(logs) == {"loss", "d_loss", "g_loss", "d_a_loss", "d_b_loss", "g_adv_loss",
                         "cycle_loss", "identity_loss"}
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert np.isclose(logs["loss"], logs["d_loss"] + logs["g_loss"], rtol=1e-4)
    if precision == "mixed_float16":
        # Dynamic loss scaling starts at 2**15: G's first scaled gradients overflow float16,
        # so those steps are skipped and the scale halves until the update goes through.
        assert float(model.g_optimizer.dynamic_scale) < 2 ** 15
        for _ in range(10):
            if changed(before["g_ab"], model.generator):
                break
            step(pair())
    for name, net in nets(model).items():
        assert changed(before[name], net), name
    compute = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
    for net in nets(model).values():
        assert net.layers[2].compute_dtype == compute[precision]
    for net in (model.discriminator, model.discriminator_a):
        assert net(pair()[0]).dtype == tf.float32     # logits in float32
    for net in (model.generator, model.generator_ba):
        out = net(pair()[0])
        assert out.dtype == tf.float32 and out.shape == (2, R, R, 3)
        assert np.all(np.abs(out.numpy()) <= 1)
    is_scaled = [isinstance(o, keras.optimizers.LossScaleOptimizer)
                 for o in (model.d_optimizer, model.g_optimizer)]
    assert is_scaled == [precision == "mixed_float16"] * 2
    assert int(model.pool_a.count) >= 2 and int(model.pool_b.count) >= 2


# --- networks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("blocks", [6, 9])
def test_generator_shapes_and_blocks(blocks):
    g = resnet_generator(3, ngf=2, n_blocks=blocks)
    assert sum(isinstance(layer, keras.layers.Add) for layer in g.layers) == blocks
    for shape in ((1, 32, 32, 3), (2, 24, 40, 3)):  # fully convolutional
        assert g(tf.zeros(shape)).shape == shape
    pads = [layer.padding for layer in g.layers if isinstance(layer, ReflectionPadding2D)]
    assert pads == [3] + [1] * (2 * blocks) + [3]
    norms = [layer for layer in g.layers if isinstance(layer, keras.layers.GroupNormalization)]
    assert len(norms) == 5 + 2 * blocks  # c7s1, d, d, 2 per block, u, u


def test_reflection_padding_matches_numpy():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    want = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(ReflectionPadding2D(2)(x).numpy(), want)


def test_instance_norm_is_per_image_and_channel():
    g = resnet_generator(3, ngf=2, n_blocks=1)
    norm = next(layer for layer in g.layers if isinstance(layer, keras.layers.GroupNormalization))
    x = np.random.default_rng(0).normal(3, 2, (2, 8, 8, 2)).astype(np.float32)
    y = norm(x).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1, atol=1e-2)


def test_patchgan_output_and_receptive_field():
    d = patch_discriminator(3, ndf=2)
    assert d(tf.zeros([2, 16, 16, 3])).shape == (2, 2, 2, 1)
    assert d(tf.zeros([1, 256, 256, 3])).shape == (1, 32, 32, 1)
    convs = [layer for layer in d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [2, 4, 8, 16, 1]
    assert [c.strides[0] for c in convs] == [2, 2, 2, 1, 1]
    field = 1  # of one output pixel, through the convolutions (instance norm aside)
    for conv in reversed(convs):
        field = field * conv.strides[0] + conv.kernel_size[0] - conv.strides[0]
    assert field == 70


# --- CLI end to end ----------------------------------------------------------------------------

def make_cyclegan_folder(root, n_train=6, n_test=2):
    rng = np.random.default_rng(0)
    sizes = [(16, 16), (20, 24), (31, 18)]
    for split, n in (("train", n_train), ("test", n_test)):
        for domain in "AB":
            folder = root / f"{split}{domain}"
            folder.mkdir(parents=True)
            for i in range(n):
                h, w = sizes[i % len(sizes)]
                pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                # one PNG named .jpg per folder, like face2genshin/trainA
                fmt = "PNG" if i == 0 else "JPEG"
                Image.fromarray(pixels).save(folder / f"{i}.jpg", format=fmt)
    return root


@pytest.fixture(scope="module")
def two_domains(tmp_path_factory):
    return make_cyclegan_folder(tmp_path_factory.mktemp("cyclegan"))


def train(folder, workdir, steps, *extra):
    cmd = [sys.executable, "-m", "ganzoo.cli.train",
           f"--config={ROOT}/zoo_configs/cyclegan.py:face2genshin", f"--workdir={workdir}",
           f"--config.data.source=cyclegan:{folder}", f"--config.train.steps={steps}",
           f"--config.model.resolution={R}", f"--config.data.resolution={R}",
           "--config.model.ngf=4", "--config.model.ndf=4", "--config.model.n_blocks=1",
           "--config.train.batch_size=2", "--config.train.num_samples=3",
           "--config.train.precision=float32", "--config.train.jit_compile=false",
           "--config.train.log_every=1", "--config.train.sample_every=2",
           "--config.train.checkpoint_every=2", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stderr


@pytest.mark.slow
def test_cli_train_resume_samples_export(two_domains, tmp_path):
    train(two_domains, tmp_path, 2, "--config.train.export=false")
    assert sorted(os.listdir(tmp_path / "checkpoints"))[0].startswith("checkpoint")
    assert not (tmp_path / "export").exists()
    log = train(two_domains, tmp_path, 4)
    assert "resumed from" in log and "at step 2" in log
    assert sorted(os.listdir(tmp_path / "samples")) == ["step_0000002.png", "step_0000004.png"]
    grid = np.asarray(Image.open(tmp_path / "samples" / "step_0000004.png"))
    assert grid.shape == (6 * (R + 2) + 2, 2 * (R + 2) + 2, 3)  # 6 rows x the 2 test pairs
    reader = tf.train.load_checkpoint(str(tmp_path / "checkpoints" / "ckpt-4"))
    # 4 steps x 2 images: the pool (size 50) was restored at step 2, not refilled from empty
    assert reader.get_tensor("pool_a/count/.ATTRIBUTES/VARIABLE_VALUE") == 8

    exported = tf.saved_model.load(str(tmp_path / "export"))
    assert {"serving_default", "translate_a2b", "translate_b2a"} <= set(exported.signatures)
    x = tf.constant(np.random.default_rng(1).integers(0, 256, (2, R, R, 3)), tf.uint8)
    for name in ("translate_a2b", "translate_b2a", "serving_default"):
        out = exported.signatures[name](images=x)["images"]
        assert out.shape == (2, R, R, 3) and out.dtype == tf.uint8
    np.testing.assert_array_equal(exported.signatures["serving_default"](images=x)["images"],
                                  exported.signatures["translate_a2b"](images=x)["images"])
    odd = exported.signatures["translate_b2a"](images=tf.zeros([1, 18, 23, 3], tf.uint8))
    assert odd["images"].shape == (1, 18, 23, 3)
    info = json.loads(exported.info.numpy().decode())
    assert info["kind"] == "translation" and info["resolution"] == R and info["step"] == 4


# --- real data ---------------------------------------------------------------------------------

@pytest.mark.skipif(not (DATA / "face2genshin" / "trainB").exists(),
                    reason=f"real data {DATA / 'face2genshin'} not present (set GANZOO_DATA)")
def test_real_face2genshin_one_step():
    config = tiny_config(resolution=32)
    config.data.source = f"cyclegan:{DATA / 'face2genshin'}"
    config.data.resolution = 32
    model, _, _ = training.build(config)
    a, b = next(iter(data.make(dict(config.data.to_dict(), shuffle_buffer=8, cache=False), 2)))
    assert a.shape == b.shape == (2, 32, 32, 3)
    logs = model.train_step((a, b))
    assert np.isfinite(float(logs["loss"]))
    preview = model.preview(model.preview_inputs(config, 2))
    assert preview.shape == (6 * 34 + 2, 2 * 34 + 2, 3) and preview.dtype == np.uint8
