"""Bad inputs: one test per row of the README's "Bad inputs" table.

Inputs ganzoo handles (PNG named .jpg, grey or RGBA images in an RGB set, ...) must load
correctly; the others must fail with one line that names the thing (file, folder, key, name)
and says what to do. Most rows are tested in-process through the functions the CLIs call
(``user_errors`` prints exactly ``cli.message(error)``); a few go through the real CLIs to
check the exit status, the single ``PROG: error:`` line and ``--verbose``'s traceback.
Serving requests (wrong z width, labels out of range, too many samples, NaN z) are covered
by tests/test_serving.py (``BAD``) and tests/test_fuzz.py.
"""
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import ganzoo
from ganzoo import cli, config, data, hub, registry, training
from helpers import ROOT

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def one_line(error, *names, todo):
    """The CLI's text for ``error``: the whole message on one line, naming ``names``, with the
    ``todo`` regex (what to do) in it."""
    full = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    assert "\n" not in str(full).strip(), full
    text = cli.message(error)
    for name in names:
        assert str(name) in text, (name, text)
    assert re.search(todo, text), (todo, text)
    return text


def run_cli(module, *args):
    return subprocess.run([sys.executable, "-m", f"ganzoo.cli.{module}", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT)


def assert_cli_error(out, prog, *names):
    """Exit 1, one ``PROG: error:`` line naming ``names``, no traceback."""
    assert out.returncode == 1, out.stderr[-3000:]
    lines = [l for l in out.stderr.splitlines() if "error:" in l]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    return lines[0]


def cfg(source, resolution=8, channels=3, **kw):
    return dict(source=source, resolution=resolution, channels=channels, **kw)


def save(path, array, fmt=None, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.asarray(array))
    (image.convert(mode) if mode else image).save(path, format=fmt)
    return path


def batches(ds):
    return [b for b in ds]


# ---- image folders ---------------------------------------------------------------------------

RGB = np.array([200, 100, 50], np.uint8)


def mixed_folder(root):
    """One colour, stored every way real folders store it: file -> expected RGB."""
    rgb = np.broadcast_to(RGB, (12, 12, 3)).copy()
    grey = np.full((12, 12), 90, np.uint8)
    rgba = np.concatenate([rgb, np.full((12, 12, 1), 255, np.uint8)], -1)
    save(root / "jpeg.jpg", rgb, "JPEG")
    save(root / "png_named.jpg", rgb, "PNG")            # face2genshin has 124 of these
    save(root / "upper.JPG", rgb, "PNG")                # extension case
    save(root / "grey.png", grey)                       # L
    save(root / "grey.jpg", grey, "JPEG")               # greyscale JPEG
    save(root / "grey_alpha.png", np.stack([grey, np.full_like(grey, 255)], -1), mode="LA")
    save(root / "rgba.png", rgba)                       # RGBA
    save(root / "palette.png", rgb, mode="P")           # palette PNG
    save(root / "palette.gif", rgb, "GIF", mode="P")
    save(root / "cmyk.jpg", rgb, "JPEG", mode="CMYK")   # print-ready JPEGs
    save(root / "bitmap.bmp", rgb, "BMP")
    Image.fromarray(np.full((12, 12), 90 * 257, np.uint16)).save(root / "deep.png")  # 16-bit
    return {"jpeg.jpg": RGB, "png_named.jpg": RGB, "upper.JPG": RGB, "grey.png": [90] * 3,
            "grey.jpg": [90] * 3, "grey_alpha.png": [90] * 3, "rgba.png": RGB,
            "palette.png": RGB, "palette.gif": RGB, "cmyk.jpg": RGB, "bitmap.bmp": RGB,
            "deep.png": [90] * 3}


def test_png_named_jpg_grey_rgba_and_other_modes_in_one_rgb_set_all_load(tmp_path, caplog):
    want = mixed_folder(tmp_path)
    with caplog.at_level(logging.WARNING, logger="ganzoo.data"):
        ds = data.real_images(f"folder:{tmp_path}", 8, 3)
        images = np.stack([x.numpy() for x in ds])
    assert "unreadable" not in caplog.text  # nothing skipped
    assert images.shape == (len(want), 8, 8, 3) and images.dtype == np.uint8
    for image, name in zip(images, sorted(want)):  # real_images keeps the sorted file order
        np.testing.assert_allclose(image.reshape(-1, 3).mean(0), want[name], atol=3, err_msg=name)
    grey = np.stack([x.numpy() for x in data.real_images(f"folder:{tmp_path}", 8, 1)])
    assert grey.shape == (len(want), 8, 8, 1)  # and the same set as a greyscale one


def jpeg_bytes(folder, seed=0):
    """A real, noisy 32x32 JPEG's bytes (written outside the data folder)."""
    rng = np.random.default_rng(seed)
    path = save(folder / "scratch" / f"{seed}.jpg", rng.integers(0, 256, (32, 32, 3), np.uint8),
                "JPEG")
    data_bytes = path.read_bytes()
    shutil.rmtree(folder / "scratch")
    return data_bytes


def test_corrupt_jpegs_are_skipped_with_a_warning_naming_them(tmp_path, caplog):
    for i in range(20):
        save(tmp_path / f"{i:02d}.jpg", np.full((8, 8, 3), i * 10, np.uint8), "JPEG")
    (tmp_path / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    whole = jpeg_bytes(tmp_path)
    (tmp_path / "cut.jpg").write_bytes(whole[:len(whole) * 9 // 10])  # header intact, data cut
    with caplog.at_level(logging.WARNING, logger="ganzoo.data"):
        got = batches(data.make(cfg(f"folder:{tmp_path}", max_bad_fraction=0.1), 1, repeat=False))
    assert len(got) == 20  # the header check drops garbage.jpg, the decoder drops cut.jpg
    assert "skipping 1 unreadable" in caplog.text and "garbage.jpg" in caplog.text


def test_mostly_corrupt_folder_is_an_error_naming_the_files(tmp_path):
    save(tmp_path / "good.jpg", np.zeros((8, 8, 3), np.uint8), "JPEG")
    for i in range(3):
        (tmp_path / f"bad{i}.jpg").write_bytes(b"\xff\xd8\xff" + bytes(61))
    with pytest.raises(ValueError) as e:
        data.make(cfg(f"folder:{tmp_path}"), 1)
    one_line(e.value, tmp_path, "bad0.jpg", "3 of 4",
             todo=r"delete or re-encode them, or raise data.max_bad_fraction")


def test_folder_where_no_image_decodes_stops_training_with_a_clear_error(tmp_path):
    whole = jpeg_bytes(tmp_path, 1)
    for i in range(3):
        (tmp_path / f"{i}.jpg").write_bytes(whole[:len(whole) * 9 // 10])  # headers intact
    source = f"folder:{tmp_path}"
    stream = training._batches(data.make(cfg(source), 2), source)  # what the loop draws from
    with pytest.raises(ValueError) as e:
        next(stream)
    one_line(e.value, source, todo=r"replace or remove the broken files")


def test_images_smaller_than_the_resolution(tmp_path):
    save(tmp_path / "big.png", np.zeros((16, 16, 3), np.uint8))
    save(tmp_path / "small.jpg", np.zeros((6, 10, 3), np.uint8), "JPEG")
    with pytest.raises(ValueError) as e:
        data.make(cfg(f"folder:{tmp_path}", resolution=8), 1)
    one_line(e.value, "small.jpg (10x6)", "resolution 8",
             todo=r"remove or upscale them, or lower data.resolution")


@pytest.mark.parametrize("case", ["empty", "missing", "a file", "cyclegan missing domain"])
def test_empty_or_missing_folder(tmp_path, case):
    if case == "empty":
        (tmp_path / "notes.txt").write_text("no images here")
        source, error, names, todo = (f"folder:{tmp_path}", ValueError, [tmp_path],
                                      "put images there")
    elif case == "missing":
        source, error, names, todo = (f"folder:{tmp_path / 'nope'}", FileNotFoundError,
                                      [tmp_path / "nope"], r"check data.source \(folder:PATH\)")
    elif case == "a file":
        np.savez(tmp_path / "d.npz", x_train=np.zeros((2, 8, 8), np.uint8))
        source, error, names, todo = (f"folder:{tmp_path / 'd.npz'}", NotADirectoryError,
                                      [tmp_path / "d.npz"], "npz:PATH for an .npz")
    else:
        save(tmp_path / "trainA" / "a.png", np.zeros((8, 8, 3), np.uint8))
        source, error, names, todo = (f"cyclegan:{tmp_path}", FileNotFoundError,
                                      [tmp_path / "trainB"], "needs trainA, trainB, testA, testB")
    with pytest.raises(error) as e:
        data.make(cfg(source), 1)
    one_line(e.value, *names, todo=todo)


# ---- npz files --------------------------------------------------------------------------------

def npz_case(tmp_path, case):
    path = tmp_path / "d.npz"
    x = np.zeros((4, 8, 8), np.uint8)
    if case == "no x_test":
        np.savez(path, x_train=x, y_train=np.zeros(4, np.uint8))
        return path, dict(split="test"), KeyError, ["x_test", "x_train"], "set data.split"
    if case == "no labels":
        np.savez(path, x_train=x)
        return path, dict(labels=True), KeyError, ["y_train"], r"set data.labels=False"
    if case == "other names":
        np.savez(path, images=x)
        return path, {}, KeyError, ["x_train", "'images'"], "save the arrays under those names"
    if case == "not an npz":
        path.write_bytes(b"PK? no, just text")
        return path, {}, ValueError, [], r"np\.savez\(path, x_train="
    if case == "an npy":
        path = tmp_path / "d.npy"
        np.save(path, x)
        return path, {}, ValueError, [], r"np\.savez\(path, x_train="
    if case == "empty":
        np.savez(path, x_train=x[:0])
        return path, {}, ValueError, ["x_train", "no images"], "point data.source"
    if case == "images without labels count":
        np.savez(path, x_train=x, y_train=np.zeros(3, np.uint8))
        return path, dict(labels=True), ValueError, ["4 images but 3 labels"], "one label per image"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["no x_test", "no labels", "other names", "not an npz", "an npy",
                                  "empty", "images without labels count"])
def test_npz_without_the_expected_keys_or_contents(tmp_path, case):
    path, extra, error, names, todo = npz_case(tmp_path, case)
    with pytest.raises(error) as e:
        data.make(cfg(f"npz:{path}", 8, 1, **extra), 2)
    one_line(e.value, path, *names, todo=todo)


@pytest.mark.parametrize("x, y, names", [
    (np.random.default_rng(0).random((4, 8, 8)), None, ["x_train", "float64"]),          # [0, 1]
    (np.zeros((4, 8, 8), np.int64), None, ["x_train", "int64"]),
    (np.zeros((4, 8, 8), np.float32), np.array([0.5, 1, 2, 3]), ["y_train", "non-integer"]),
    (np.array([None] * 4, object), None, ["Object arrays"]),
])
def test_npz_wrong_dtype(tmp_path, x, y, names):
    path = tmp_path / "d.npz"
    if y is None:
        np.savez(path, x_train=x)
    else:
        np.savez(path, x_train=x.astype(np.uint8), y_train=y)
    with pytest.raises(ValueError) as e:
        data.make(cfg(f"npz:{path}", 8, 1, labels=y is not None), 2)
    one_line(e.value, path, *names, todo=r"astype\(np\.uint8\)|save integer|save plain numeric")


def test_integral_float_labels_still_load(tmp_path):
    np.savez(tmp_path / "d.npz", x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.arange(4.0))
    _, labels = next(iter(data.make(cfg(f"npz:{tmp_path / 'd.npz'}", 8, 1, labels=True), 4)))
    assert sorted(labels.numpy()) == [0, 1, 2, 3]


# ---- configs and names ------------------------------------------------------------------------

DCGAN = f"--config={ROOT}/zoo_configs/dcgan.py:mnist"


@pytest.mark.parametrize("override, names", [
    ("--config.train.stepz=3", ["'train.stepz'", "Did you mean 'train.steps'", "Valid: "]),
    ("--config.train.batch-size=3", ["'train.batch-size'", "'train.batch_size'"]),
    ("--config.model.latent_dim.x=3", ["'model.latent_dim.x'"]),
])
def test_unknown_config_key(override, names):
    with pytest.raises(KeyError) as e:
        config.parse_overrides(["ganzoo-train", DCGAN, override])
    one_line(e.value, *names, todo="Did you mean|Valid: ")


@pytest.mark.parametrize("override, expect", [
    ("--config.train.steps=abc", "train.steps takes an integer (default 10000), not 'abc'"),
    ("--config.train.steps=1e3", "train.steps takes an integer (default 10000), not '1e3'"),
    ("--config.model.latent_dim=1.5", "model.latent_dim takes an integer (default 100)"),
    ("--config.train.export=maybe", "train.export takes true or false (default True)"),
    ("--config.train.d_optimizer.learning_rate=fast",
     "train.d_optimizer.learning_rate takes a number (default 0.0002), not 'fast'"),
    ("--config.train=3", "train is a group of keys"),
])
def test_wrong_config_type(override, expect):
    with pytest.raises(ValueError) as e:
        config.parse_overrides(["ganzoo-train", DCGAN, override])
    one_line(e.value, expect, todo=r"takes|set them one by one")


def test_config_overrides_of_the_right_type_are_parsed_like_the_cli():
    c = config.parse_overrides(["ganzoo-train", DCGAN, "--workdir=/x", "--config.train.steps=5",
                                "--config.train.d_optimizer.learning_rate=1e-3",
                                "--noconfig.train.export", "--config.data.source", "npz:d.npz"])
    assert (c.train.steps, c.train.d_optimizer.learning_rate, c.train.export, c.data.source) == (
        5, 1e-3, False, "npz:d.npz")


@pytest.mark.parametrize("argv", [
    [DCGAN, "--config.train.steps=abc"],
    [DCGAN, "--config.train.steps=abc", "--verbose"],
    ["--config=zoo_configs/nope.py:mnist"],
])
def test_wrong_config_type_through_the_cli(argv, tmp_path):
    # ganzoo-train checks overrides before importing TensorFlow: these subprocesses are cheap
    out = run_cli("train", *argv, f"--workdir={tmp_path}")
    if "--verbose" in argv:
        assert out.returncode == 1 and "Traceback" in out.stderr and "ValueError" in out.stderr
    elif "nope.py" in argv[0]:
        assert_cli_error(out, "ganzoo-train", "'zoo_configs/nope.py' not found",
                         "--config=FILE.py:ARG")
    else:
        assert_cli_error(out, "ganzoo-train", "train.steps takes an integer", "'abc'")
    assert not (tmp_path / "config.json").exists()


@pytest.mark.parametrize("flag, names", [("--num=lots", ["--num=lots"]),
                                         ("--labels=1,a", ["--labels takes class numbers", "'a'"])])
def test_unparsable_flag_is_one_line(flag, names):
    # both fail before TensorFlow is imported: cheap subprocesses
    assert_cli_error(run_cli("sample", "cgan_mnist", flag), "ganzoo-sample", *names)


@pytest.mark.parametrize("what", ["pretrained model", "dataset preset", "variant", "optimizer",
                                  "data source"])
def test_unknown_names(what):
    if what == "pretrained model":
        with pytest.raises(KeyError) as e:
            ganzoo.load("dcgan_mnst")
        one_line(e.value, "'dcgan_mnst'", todo="Did you mean 'dcgan_mnist'")
    elif what == "dataset preset":
        with pytest.raises(KeyError) as e:
            config.parse_overrides(["ganzoo-train", f"{DCGAN[:-len('mnist')]}mnst"])
        one_line(e.value, "'mnst'", todo="Did you mean 'mnist'")
    elif what == "variant":
        c = config.parse_overrides(["ganzoo-train", DCGAN, "--config.model.variant=dcgam"])
        with pytest.raises(KeyError) as e:
            training.build(c)
        one_line(e.value, "'dcgam'", todo="Did you mean 'dcgan'")
    elif what == "optimizer":
        c = config.parse_overrides(["ganzoo-train", DCGAN, "--config.train.g_optimizer.name=adm"])
        with pytest.raises(KeyError) as e:
            training.make_optimizer(c.train.g_optimizer)
        one_line(e.value, "'adm'", todo="Did you mean 'adam'")
    else:
        with pytest.raises(ValueError) as e:
            data.make(cfg("hdf5:/data/x.h5"), 1)
        one_line(e.value, "'hdf5:/data/x.h5'", todo="expected one of 'npz:PATH'")


# ---- pretrained models: z, labels, num ---------------------------------------------------------

@pytest.fixture(scope="module")
def gan():
    return ganzoo.load("gan_mnist")


@pytest.fixture(scope="module")
def cgan():
    return ganzoo.load("cgan_mnist")


@pytest.mark.parametrize("z, names", [
    (np.zeros((2, 50), np.float32), [r"z must have shape \[N, 100\]", r"\(2, 50\)"]),
    (np.zeros((2, 10, 100), np.float32), [r"\(2, 10, 100\)"]),
    (np.full((1, 100), np.nan), ["NaN or Inf"]),
    (np.full((1, 100), 1e39), ["beyond float32"]),
    ([["x"] * 100], ["float32 numbers"]),
])
def test_wrong_z(gan, z, names):
    with pytest.raises(ValueError) as e:
        gan.generate(z)
    text = one_line(e.value, todo=r"shape \[N, 100\]|pass finite latents")
    for pattern in names:
        assert re.search(pattern, text), (pattern, text)


def test_one_latent_and_an_empty_batch_still_work(gan):
    assert gan.generate(np.zeros(100, np.float32)).shape == (1, 28, 28, 1)
    assert gan.generate(np.zeros((0, 100), np.float32)).shape == (0, 28, 28, 1)


@pytest.mark.parametrize("call, pattern", [
    (lambda m: m.sample(2, labels=[3, 10]), r"labels must lie in \[0, 10\).*got 10"),
    (lambda m: m.generate(np.zeros((2, 100)), labels=[-1, 0]),
     r"labels must lie in \[0, 10\).*got -1"),
    (lambda m: m.sample(3, labels=[1, 2]), r"one per image \(3\) or one for all; got int64 array"),
    (lambda m: m.sample(2, labels=[0.5, 1]), r"labels must be integers.*float64"),
])
def test_labels_out_of_range_or_malformed(cgan, call, pattern):
    with pytest.raises(ValueError) as e:
        call(cgan)
    assert re.search(pattern, one_line(e.value, "labels", todo=r"\[0, 10\)"))


def test_labels_for_an_unconditional_model(gan):
    with pytest.raises(ValueError) as e:
        gan.sample(2, labels=[1, 2])
    one_line(e.value, "not conditional", todo="pass labels=None")


@pytest.mark.parametrize("num, error, pattern", [
    (1000, ValueError, r"num must lie in \[1, 256\], got 1000; for more images call sample again"),
    (0, ValueError, r"got 0"),
    (2.5, TypeError, r"num must be an integer, got 2\.5"),
])
def test_num_samples_out_of_range(gan, num, error, pattern):
    # the SavedModel itself would silently clamp to [1, 256]
    with pytest.raises(error) as e:
        gan.sample(num)
    assert re.search(pattern, one_line(e.value, todo="num"))
    assert gan.sample(256, seed=1).shape == (256, 28, 28, 1)


def test_num_samples_too_large_through_the_cli(tmp_path):
    out = run_cli("sample", "gan_mnist", "--num=1000", f"--out={tmp_path / 'x.png'}")
    assert_cli_error(out, "ganzoo-sample", "num must lie in [1, 256], got 1000")
    assert not (tmp_path / "x.png").exists()


# ---- a tampered SavedModel ---------------------------------------------------------------------

@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A registry entry "tiny" for a copy of gan_mnist, no other repository models, an empty
    cache (as tests/test_pretrained.py's ``isolated``)."""
    src = os.path.join(hub.REPO_MODELS, "gan_mnist", str(registry.MODELS["gan_mnist"]["version"]))
    repo = tmp_path / "repo"
    shutil.copytree(src, repo / "tiny" / "1")
    entry = dict(version=1, sha256=hub.tree_sha256(src), url=None)
    monkeypatch.setattr(hub, "REPO_MODELS", str(repo))
    monkeypatch.setenv("GANZOO_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(registry.MODELS, "tiny", entry)
    return repo / "tiny" / "1", entry


def tamper(folder):
    data_file = next((folder / "variables").glob("variables.data-*"))
    raw = bytearray(data_file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data_file.write_bytes(bytes(raw))


def test_tampered_savedmodel_is_refused_naming_it_and_what_to_do(isolated, tmp_path):
    folder, entry = isolated
    assert ganzoo.load("tiny").sample(1).shape == (1, 28, 28, 1)
    tamper(folder)
    with pytest.raises(hub.HashMismatch) as e:
        ganzoo.load("tiny")
    one_line(e.value, "tiny v1", folder, entry["sha256"],
             todo=r"restore it \(git checkout -- \S*tiny/1\) or delete the folder")
    # the cache copy: delete it and load again (from the entry's URL) as the message says
    archive = hub.pack(str(folder), tmp_path / "tiny.tar.gz")
    shutil.rmtree(folder)
    good = tmp_path / "good"
    shutil.copytree(os.path.join(ROOT, "saved_models", "gan_mnist", "1"), good)
    hub.pack(str(good), archive)
    registry.MODELS["tiny"] = dict(entry, url=archive.as_uri())
    cached = ganzoo.load("tiny").path
    tamper(Path(cached))
    with pytest.raises(hub.HashMismatch) as e:
        ganzoo.load("tiny")
    one_line(e.value, "(cache)", cached, todo=f"delete {re.escape(cached)} and load it again")
    shutil.rmtree(cached)
    assert ganzoo.load("tiny").sample(1).shape == (1, 28, 28, 1)


SAMPLE_WITH_FAKE_REGISTRY = """
import sys
from ganzoo import hub, registry
hub.REPO_MODELS, sha256, out, *flags = sys.argv[1:]
registry.MODELS["tiny"] = dict(version=1, sha256=sha256, url=None)
sys.argv = ["ganzoo-sample", "tiny", "--out=" + out, *flags]
from ganzoo.cli import sample
sample.run()
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_tampered_savedmodel_through_the_cli(isolated, tmp_path, verbose):
    folder, entry = isolated
    tamper(folder)
    argv = [sys.executable, "-c", SAMPLE_WITH_FAKE_REGISTRY, str(folder.parents[1]),
            entry["sha256"], str(tmp_path / "x.png")] + (["--verbose"] if verbose else [])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT)
    if verbose:
        assert out.returncode == 1 and "Traceback" in out.stderr and "HashMismatch" in out.stderr
    else:
        assert_cli_error(out, "ganzoo-sample", "tiny v1", "refusing to load it", "git checkout")
    assert not (tmp_path / "x.png").exists()


# ---- a truncated checkpoint --------------------------------------------------------------------

def train_argv(npz, workdir):
    return ["ganzoo-train", DCGAN, f"--workdir={workdir}", f"--config.data.source=npz:{npz}",
            "--config.train.steps=3", "--config.train.checkpoint_every=1",
            "--config.model.resolution=8", "--config.data.resolution=8",
            "--config.model.latent_dim=4", "--config.model.width=4",
            "--config.train.batch_size=4", "--config.train.sample_every=100",
            "--config.train.num_samples=4", "--config.train.precision=float32",
            "--config.train.export=false"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 3-step run checkpointed every step (ckpt-1..3), trained in-process with exactly the
    config the CLI command gives."""
    root = tmp_path_factory.mktemp("run")
    npz = root / "d.npz"
    np.savez(npz, x_train=np.random.default_rng(0).integers(0, 256, (16, 8, 8), dtype=np.uint8))
    training.run(config.parse_overrides(train_argv(npz, root / "w")), str(root / "w"))
    return npz, root / "w"


def damage(path, how):
    raw = path.read_bytes()
    if how == "truncated":
        path.write_bytes(raw[:len(raw) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    else:
        flipped = bytearray(raw)
        flipped[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(flipped))


@pytest.mark.parametrize("part, how", [("data-00000-of-00001", "truncated"),
                                       ("data-00000-of-00001", "flipped"),
                                       ("index", "truncated"), ("index", "empty")])
def test_truncated_checkpoint_names_it_then_deleting_it_resumes_from_the_previous(
        trained, tmp_path, part, how, caplog):
    npz, original = trained
    workdir = tmp_path / "w"
    shutil.copytree(original, workdir)
    ckpt = workdir / "checkpoints" / "ckpt-3"
    damage(workdir / "checkpoints" / f"ckpt-3.{part}", how)
    argv = train_argv(npz, workdir)
    with pytest.raises(training.DamagedCheckpoint) as e:
        training.run(config.parse_overrides(argv), str(workdir))
    one_line(e.value, f"checkpoint {ckpt} is damaged",
             todo=re.escape(f"delete its files ({ckpt}.*) to resume from ckpt-2, "
                            "or use a new --workdir"))
    for f in workdir.glob("checkpoints/ckpt-3.*"):  # do what it says
        f.unlink()
    c = config.parse_overrides(argv)
    c.train.steps = 4
    with caplog.at_level(logging.INFO, logger="ganzoo"):
        training.run(c, str(workdir))
    assert "ckpt-3 is missing; resuming from" in caplog.text
    assert f"resumed from {workdir}/checkpoints/ckpt-2 at step 2" in caplog.text
    assert tf.train.load_checkpoint(str(workdir / "checkpoints" / "ckpt-4")).get_tensor(
        "step/.ATTRIBUTES/VARIABLE_VALUE") == 4


def test_truncated_checkpoint_through_the_cli(trained, tmp_path):
    npz, original = trained
    workdir = tmp_path / "w"
    shutil.copytree(original, workdir)
    damage(workdir / "checkpoints" / "ckpt-3.data-00000-of-00001", "truncated")
    out = subprocess.run([sys.executable, "-m", "ganzoo.cli.train", *train_argv(npz, workdir)[1:]],
                         capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT)
    assert_cli_error(out, "ganzoo-train", "ckpt-3 is damaged", "to resume from ckpt-2")


def test_only_checkpoint_damaged_says_start_over(trained, tmp_path):
    npz, original = trained
    workdir = tmp_path / "w"
    shutil.copytree(original, workdir)
    for n in (1, 2):
        for f in workdir.glob(f"checkpoints/ckpt-{n}.*"):
            f.unlink()
    damage(workdir / "checkpoints" / "ckpt-3.index", "truncated")
    with pytest.raises(training.DamagedCheckpoint) as e:
        training.run(config.parse_overrides(train_argv(npz, workdir)), str(workdir))
    one_line(e.value, "ckpt-3", todo="to start over")


def test_training_labels_beyond_num_classes_name_the_setting(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x_train=rng.integers(0, 256, (16, 8, 8), dtype=np.uint8),
             y_train=np.arange(16, dtype=np.uint8) % 12)  # 12 classes, the config says 10
    out = run_cli("train", "--config=zoo_configs/cgan.py:mnist", f"--workdir={tmp_path / 'run'}",
                  f"--config.data.source=npz:{tmp_path / 'd.npz'}", "--config.train.steps=2",
                  "--config.model.resolution=8", "--config.data.resolution=8",
                  "--config.train.batch_size=8")
    assert_cli_error(out, "ganzoo-train", "data labels must be in [0, model.num_classes = 10)",
                     "set model.num_classes")
