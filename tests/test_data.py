"""Tests for ganzoo.data: tiny generated fixtures, plus real-data checks that skip without data."""
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ganzoo import data

DATA = Path(os.environ.get("GANZOO_DATA",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def cfg(source, resolution=8, channels=3, **kw):
    return dict(source=source, resolution=resolution, channels=channels, **kw)


def first(ds):
    return next(iter(ds))


def scaled(v):
    return np.float32(v) / np.float32(127.5) - 1


def all_batches(ds):
    return [b for b in ds]


def save(path, array, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path, format=fmt)
    return path


def const(value, h=8, w=8, c=3):
    return np.full((h, w, c) if c else (h, w), value, np.uint8)


# --- source parsing ------------------------------------------------------------------------------

def test_parse_source():
    assert data.parse_source("npz:/a/b.npz") == ("npz", "/a/b.npz")
    assert data.parse_source("tfds:cifar10") == ("tfds", "cifar10")
    with pytest.raises(ValueError, match="npz:PATH.*folder:PATH.*tfds:NAME"):
        data.parse_source("hdf5:/x")


# --- npz -----------------------------------------------------------------------------------------

@pytest.fixture
def npz(tmp_path):
    """10 constant 8x8 grey images; image i has value v[i] and label i (0 and 255 included)."""
    values = np.array([0, 255, 10, 20, 30, 40, 50, 60, 127, 128], np.uint8)
    x = np.broadcast_to(values[:, None, None], (10, 8, 8)).copy()
    path = tmp_path / "d.npz"
    np.savez(path, x_train=x, y_train=np.arange(10, dtype=np.uint8))
    return path, values


def test_npz_shapes_range_and_labels(npz):
    path, values = npz
    images, labels = first(data.make(cfg(f"npz:{path}", 8, 1, labels=True), 10, repeat=False))
    assert images.shape == (10, 8, 8, 1) and images.dtype == tf.float32
    assert labels.dtype == tf.int32 and sorted(labels.numpy()) == list(range(10))
    for img, lab in zip(images.numpy(), labels.numpy()):  # pairing kept, 0 -> -1, 255 -> 1
        np.testing.assert_array_equal(img, scaled(values[lab]))
    assert images.numpy().min() == -1.0 and images.numpy().max() == 1.0


def test_npz_without_labels_and_resize(npz):
    path, values = npz
    images = first(data.make(cfg(f"npz:{path}", 4, 3), 10, repeat=False))
    assert images.shape == (10, 4, 4, 3)
    got = sorted(images.numpy()[:, 0, 0, 0])
    np.testing.assert_allclose(got, sorted(scaled(values)), atol=1e-6)
    up = first(data.make(cfg(f"npz:{path}", 12, 1), 2))
    assert up.shape == (2, 12, 12, 1)


def test_config_dict(npz):
    ml_collections = pytest.importorskip("ml_collections")
    path, _ = npz
    c = ml_collections.ConfigDict(dict(
        source=f"npz:{path}", resolution=8, channels=1, labels=False, split="train",
        shuffle_buffer=10000, cache=True, random_flip=False, tfds_data_dir="", download=False,
        max_bad_fraction=0.01))
    assert first(data.make(c, 5, seed=3)).shape == (5, 8, 8, 1)


def test_npz_missing_key_names_key_and_file(npz):
    path, _ = npz
    with pytest.raises(KeyError) as e:
        data.make(cfg(f"npz:{path}", split="test"), 2)
    msg = str(e.value)
    assert "x_test" in msg and str(path) in msg and "x_train" in msg


def test_npz_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        data.make(cfg(f"npz:{tmp_path / 'nope.npz'}"), 2)


# --- folder --------------------------------------------------------------------------------------

def test_folder_class_subfolders_give_labels(tmp_path):
    for i in range(3):
        save(tmp_path / "a_red" / f"{i}.png", const([255, 0, 0]))
        save(tmp_path / "b_blue" / "deeper" / f"{i}.png", const([0, 0, 255]))
    images, labels = first(data.make(cfg(f"folder:{tmp_path}", labels=True), 6, repeat=False))
    assert sorted(labels.numpy()) == [0, 0, 0, 1, 1, 1]
    for img, lab in zip(images.numpy(), labels.numpy()):
        want = [1, -1, -1] if lab == 0 else [-1, -1, 1]
        np.testing.assert_array_equal(img[0, 0], want)


def test_folder_flat_png_named_jpg(tmp_path):
    for i in range(4):
        save(tmp_path / f"{i}.jpg", const([i, 100, 200]), fmt="PNG")  # PNG content, .jpg name
    images, labels = first(data.make(cfg(f"folder:{tmp_path}", labels=True), 4, repeat=False))
    assert list(labels.numpy()) == [0, 0, 0, 0]
    assert sorted(images.numpy()[:, 3, 3, 0]) == sorted(scaled(np.arange(4)))
    np.testing.assert_array_equal(images.numpy()[:, :, :, 2], scaled(200))


@pytest.mark.parametrize("pixel, mode_channels, channels, want", [
    (100, None, 3, [100, 100, 100]),                       # grey -> RGB replicates
    ([10, 200, 40], 3, 1, [round(0.2989 * 10 + 0.587 * 200 + 0.114 * 40)]),  # RGB -> grey
    ([10, 20, 30, 0], 4, 3, [10, 20, 30]),                 # RGBA drops alpha
])
def test_folder_channel_conversion(tmp_path, pixel, mode_channels, channels, want):
    save(tmp_path / "x.png", const(pixel, c=mode_channels))
    images = first(data.make(cfg(f"folder:{tmp_path}", channels=channels), 1))
    assert images.shape == (1, 8, 8, channels)
    np.testing.assert_allclose(images.numpy()[0], np.broadcast_to(scaled(np.array(want)),
                                                                  (8, 8, channels)), atol=1e-6)


@pytest.mark.parametrize("h, w", [(8, 12), (12, 8)])
def test_folder_centre_crop(tmp_path, h, w):
    img = const([255, 0, 0], h, w)  # red borders ...
    top, left = (h - 8) // 2, (w - 8) // 2
    img[top:top + 8, left:left + 8] = [0, 255, 0]  # ... green centre square
    save(tmp_path / "x.png", img)
    images = first(data.make(cfg(f"folder:{tmp_path}"), 1))
    np.testing.assert_array_equal(images.numpy()[0], np.broadcast_to([-1, 1, -1], (8, 8, 3)))


def test_folder_downsizes(tmp_path):
    save(tmp_path / "x.jpg", const([0, 128, 255], 40, 30))
    images = first(data.make(cfg(f"folder:{tmp_path}"), 1))
    assert images.shape == (1, 8, 8, 3)
    np.testing.assert_allclose(images.numpy()[0, 4, 4], scaled(np.array([0, 128, 255])), atol=0.05)


def test_folder_empty_and_missing(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"no images found in .*\.jpg.*\.png"):
        data.make(cfg(f"folder:{tmp_path}"), 1)
    with pytest.raises(FileNotFoundError, match="missing_dir"):
        data.make(cfg(f"folder:{tmp_path / 'missing_dir'}"), 1)


def test_folder_too_small_names_file(tmp_path):
    save(tmp_path / "big.png", const(0, 16, 16))
    save(tmp_path / "tiny.png", const(0, 4, 6))
    with pytest.raises(ValueError, match=r"tiny\.png \(6x4\)"):
        data.make(cfg(f"folder:{tmp_path}", resolution=8), 1)


def test_folder_skips_few_corrupt_files(tmp_path, caplog):
    for i in range(20):
        save(tmp_path / f"{i:02d}.png", const(i))
    (tmp_path / "broken.jpg").write_bytes(b"not an image at all")
    with caplog.at_level(logging.WARNING, logger="ganzoo.data"):
        ds = data.make(cfg(f"folder:{tmp_path}", max_bad_fraction=0.1), 1, repeat=False)
    assert len(all_batches(ds)) == 20
    assert "skipping 1 unreadable" in caplog.text and "broken.jpg" in caplog.text


def test_folder_truncated_file_is_dropped_by_pipeline(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(4):
        save(tmp_path / f"{i}.png", const(i))
    whole = save(tmp_path / "cut.png", rng.integers(0, 256, (64, 64, 3))).read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])  # header intact, data cut
    ds = data.make(cfg(f"folder:{tmp_path}"), 1, repeat=False)
    assert len(all_batches(ds)) == 4


def test_folder_many_corrupt_files_is_an_error(tmp_path):
    for i in range(5):
        save(tmp_path / f"{i}.png", const(i))
        (tmp_path / f"bad{i}.jpg").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"5 of 10 .*bad0\.jpg"):
        data.make(cfg(f"folder:{tmp_path}"), 1)


# --- tfds ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("labels", [True, False])
def test_tfds_mock(labels):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=8):
        batch = first(data.make(cfg("tfds:mnist", 32, 3, labels=labels), 4))
    images = batch[0] if labels else batch
    assert images.shape == (4, 32, 32, 3) and images.dtype == tf.float32
    assert -1 <= images.numpy().min() and images.numpy().max() <= 1
    if labels:
        assert batch[1].dtype == tf.int32 and all(0 <= v < 10 for v in batch[1].numpy())


def test_tfds_unprepared_fails_with_instructions(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(FileNotFoundError) as e:
        data.make(cfg("tfds:mnist", 28, 1, tfds_data_dir=str(tmp_path)), 4)
    msg = str(e.value)
    assert "not prepared" in msg and str(tmp_path) in msg
    assert "tfds build mnist" in msg and "tfds_data_dir" in msg and "download=True" in msg


# --- batching, repeat, seeds, flip ---------------------------------------------------------------

@pytest.fixture
def npz64(tmp_path):
    path = tmp_path / "d64.npz"
    np.savez(path, x_train=np.zeros((64, 4, 4), np.uint8), y_train=np.arange(64))
    return path


def test_drop_remainder_and_repeat(npz64):
    ds = data.make(cfg(f"npz:{npz64}", 4, 1, labels=True), 10, repeat=False)
    assert ds.element_spec[0].shape == (10, 4, 4, 1) and ds.element_spec[1].shape == (10,)
    assert len(all_batches(ds)) == 6  # 64 // 10, the remainder is dropped
    forever = data.make(cfg(f"npz:{npz64}", 4, 1), 10)
    assert len(all_batches(forever.take(20))) == 20


def test_seeds(npz64):
    def order(seed):
        return first(data.make(cfg(f"npz:{npz64}", 4, 1, labels=True), 16, seed=seed))[1].numpy()
    np.testing.assert_array_equal(order(1), order(1))
    assert not np.array_equal(order(1), order(2))


def test_random_flip(tmp_path):
    img = np.zeros((8, 8), np.uint8)
    img[:, 4:] = 255
    path = tmp_path / "half.npz"
    np.savez(path, x_train=np.stack([img] * 32), y_train=np.zeros(32))
    images = first(data.make(cfg(f"npz:{path}", 8, 1, random_flip=True), 32)).numpy()[..., 0]
    flipped = images[:, 0, 0] == 1
    assert 0 < flipped.sum() < 32
    for got, want in ((images[flipped], img[:, ::-1]), (images[~flipped], img)):
        np.testing.assert_array_equal(got, np.broadcast_to(scaled(want), got.shape))


# --- real data (skipped when ../shared/data is absent) -------------------------------------------

def needs(rel):
    return pytest.mark.skipif(not (DATA / rel).exists(),
                              reason=f"real data {DATA / rel} not present (set GANZOO_DATA)")


@needs("mnist.npz")
def test_real_mnist():
    images, labels = first(data.make(cfg(f"npz:{DATA / 'mnist.npz'}", 28, 1, labels=True), 32))
    assert images.shape == (32, 28, 28, 1)
    assert images.numpy().min() == -1 and images.numpy().max() == 1
    assert set(labels.numpy()) <= set(range(10))


@needs("cifar10/train")
def test_real_cifar10_folder():
    ds = data.make(cfg(f"folder:{DATA / 'cifar10' / 'train'}", 32, 3, labels=True,
                       shuffle_buffer=64), 64)
    images, labels = first(ds)
    assert images.shape == (64, 32, 32, 3)
    assert set(labels.numpy()) <= set(range(10)) and len(set(labels.numpy())) > 3


@needs("face2genshin/trainA")
def test_real_face2genshin_png_named_jpg():
    # 124 of the 777 files are PNGs named .jpg: all must decode (no silent drops).
    ds = data.make(cfg(f"folder:{DATA / 'face2genshin' / 'trainA'}", 64, 3, cache=False),
                   7, repeat=False)
    batches = all_batches(ds)
    assert len(batches) == 777 // 7 and batches[0].shape == (7, 64, 64, 3)


@needs("celeba/img_align_celeba")
def test_real_celeba():
    ds = data.make(cfg(f"folder:{DATA / 'celeba' / 'img_align_celeba'}", 64, 3,
                       shuffle_buffer=64), 16)
    images = first(ds)
    assert images.shape == (16, 64, 64, 3)
    assert -1 <= images.numpy().min() and images.numpy().max() <= 1


# --- two domains (cyclegan:PATH, tfds:cycle_gan/NAME) --------------------------------------------

def cyclegan_folder(root, train=4, test=2):
    """trainA/trainB/testA/testB: domain A red-ish, B blue-ish; sizes differ; one PNG named .jpg."""
    rng = np.random.default_rng(0)
    sizes = [(10, 10), (12, 20), (25, 11)]
    for split, n in (("train", train), ("test", test)):
        for domain, colour in (("A", [255, 0, 0]), ("B", [0, 0, 255])):
            for i in range(n):
                h, w = sizes[i % 3]
                img = np.clip(const(colour, h, w).astype(int)
                              + rng.integers(-20, 20, (h, w, 3)), 0, 255)
                save(root / f"{split}{domain}" / f"{i}.jpg", img, fmt="PNG" if i == 0 else "JPEG")
    return root


def test_two_domain_pairs(tmp_path):
    root = cyclegan_folder(tmp_path)
    ds = data.make(cfg(f"cyclegan:{root}", random_flip=True), 3, seed=1)
    assert ds.element_spec[0].shape == ds.element_spec[1].shape == (3, 8, 8, 3)
    for a, b in ds.take(5):  # repeated; every pair is (domain A, domain B)
        assert a.dtype == b.dtype == tf.float32
        assert -1 <= a.numpy().min() and b.numpy().max() <= 1
        assert (a.numpy()[..., 0] > a.numpy()[..., 2]).all()
        assert (b.numpy()[..., 2] > b.numpy()[..., 0]).all()
    assert data.is_two_domain(f"cyclegan:{root}") and data.is_two_domain("tfds:cycle_gan/horse2zebra")
    assert not data.is_two_domain("tfds:mnist") and not data.is_two_domain(f"folder:{root}")


def test_two_domain_training_crops_are_random_and_seeded(tmp_path):
    rng = np.random.default_rng(0)
    for d in "AB":
        save(tmp_path / f"train{d}" / "x.png", rng.integers(0, 256, (32, 32, 3)))
    c = cfg(f"cyclegan:{tmp_path}", resolution=16, random_flip=True)
    assert data.load_size(c) == 17 and data.load_size(dict(c, resolution=256)) == 286

    def crops(seed):
        return np.stack([a.numpy() for a, _ in data.make(c, 1, seed=seed).take(8)])
    first_run = crops(3)
    np.testing.assert_array_equal(first_run, crops(3))
    assert len({x.tobytes() for x in first_run}) > 1  # one image, different crops/flips


def test_two_domain_test_split_is_centre_cropped_in_order(tmp_path):
    root = cyclegan_folder(tmp_path)
    c = cfg(f"cyclegan:{root}", split="test", shuffle_buffer=0, random_flip=True)
    pairs = all_batches(data.make(c, 1, repeat=False))
    assert len(pairs) == 2
    again = all_batches(data.make(c, 1, repeat=False, seed=5))
    for (a, b), (a2, b2) in zip(pairs, again):  # no shuffling, no random crop, no flip
        np.testing.assert_array_equal(a, a2)
        np.testing.assert_array_equal(b, b2)
    # the first test image of A, centre-cropped and resized like folder:
    want = first(data.make(cfg(f"folder:{root / 'testA'}", shuffle_buffer=0), 2, repeat=False))
    assert any(np.array_equal(pairs[0][0][0], w) for w in want.numpy())


def test_two_domain_missing_folder_and_labels(tmp_path):
    root = cyclegan_folder(tmp_path)
    import shutil
    shutil.rmtree(root / "trainB")
    with pytest.raises(FileNotFoundError, match=r"trainB.*trainA, trainB, testA, testB"):
        data.make(cfg(f"cyclegan:{root}"), 2)
    with pytest.raises(ValueError, match="labels"):
        data.make(cfg(f"cyclegan:{root}", labels=True, split="test"), 2)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        data.make(cfg(f"cyclegan:{tmp_path / 'nowhere'}"), 2)


def test_two_domain_tfds_mock():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=6):  # mock_data knows cycle_gan's four splits
        for split in ("train", "test"):
            a, b = first(data.make(cfg("tfds:cycle_gan/horse2zebra", 16, 3, split=split,
                                       random_flip=True), 2))
            assert a.shape == b.shape == (2, 16, 16, 3) and a.dtype == tf.float32
            assert -1 <= a.numpy().min() and a.numpy().max() <= 1


@needs("face2genshin/trainB")
def test_real_face2genshin_two_domains():
    root = DATA / "face2genshin"
    train = data.make(cfg(f"cyclegan:{root}", 64, 3, random_flip=True, shuffle_buffer=16,
                          cache=False), 8)
    a, b = first(train)
    assert a.shape == b.shape == (8, 64, 64, 3)
    test = all_batches(data.make(cfg(f"cyclegan:{root}", 64, 3, split="test", shuffle_buffer=0,
                                     cache=False), 10, repeat=False))
    assert len(test) == 10  # 100 + 100 test images, PNGs named .jpg in testA included
