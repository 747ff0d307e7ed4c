"""Feature extractors: registry, sha256 pinning, shapes, resizing, the shipped nets, Inception."""
import json
import os
import shutil

import numpy as np
import pytest

from ganzoo import extractors, hub

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("GANZOO_DATA") or os.path.join(ROOT, "..", "shared", "data")
MNIST = os.path.join(DATA, "mnist.npz")
SHIPPED = [n for n in extractors.list_extractors()
           if extractors.EXTRACTORS[n]["kind"] == "saved_model"]


def random_images(n, size, channels, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), np.uint8)


def mnist_test(n):
    if not os.path.isfile(MNIST):
        pytest.skip(f"real MNIST not available: {MNIST} is absent (the shared data folder "
                    "../shared/data is only on development machines)")
    with np.load(MNIST) as f:
        return f["x_test"][:n], f["y_test"][:n].astype(int)


def test_registry_entries_and_close_matches():
    assert {"mnist_classifier", "inception_v3"} <= set(extractors.list_extractors())
    for name, entry in extractors.EXTRACTORS.items():
        assert entry["name"] == name and len(entry["sha256"]) == 64
        assert entry["feature_dim"] > 0 and entry["resolution"] > 0 and entry["channels"] in (1, 3)
        if entry["kind"] == "saved_model":
            assert entry["path"] == f"saved_models/extractors/{name}"
            assert extractors.NOT_INCEPTION in entry["description"]
    with pytest.raises(KeyError, match="mnist_classifier"):
        extractors.get_extractor("mnist_clasifier")
    assert set(extractors.ALIASES.values()) <= set(extractors.EXTRACTORS)
    assert extractors.get_extractor("mnist").name == "mnist_classifier"  # a dataset's extractor


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_extractor_loads_pinned_and_deterministic(name):
    entry = extractors.EXTRACTORS[name]
    path = os.path.join(ROOT, entry["path"])
    assert hub.tree_sha256(path) == entry["sha256"]
    assert sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) < 10e6
    with open(os.path.join(path, "model_card.json")) as f:
        card = json.load(f)
    assert card["sha256"] == entry["sha256"] and "not Inception" in card["note"]
    assert card["feature_dim"] == entry["feature_dim"]

    ex = extractors.get_extractor(name)
    assert (ex.name, ex.sha256, ex.resolution, ex.channels) == (
        name, entry["sha256"], entry["resolution"], entry["channels"])
    x = random_images(5, ex.resolution, ex.channels)
    a = ex.features(x, batch_size=2)  # three batches, the last one short
    assert a.shape == (5, entry["feature_dim"]) and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and a.std() > 0
    np.testing.assert_array_equal(a, ex.features(x, batch_size=2))
    np.testing.assert_allclose(a, ex.features(x), rtol=1e-4, atol=1e-4)
    logits = ex.logits(x)
    assert logits.shape == (5, entry["num_classes"]) and logits.dtype == np.float32
    assert ex.features(x[:0]).shape == (0, entry["feature_dim"])


def test_tampered_copy_is_refused(tmp_path):
    name = SHIPPED[0]
    copy = tmp_path / name
    shutil.copytree(os.path.join(ROOT, extractors.EXTRACTORS[name]["path"]), copy)
    extractors.get_extractor(name, path=str(copy))  # an exact copy loads
    (copy / "model_card.json").write_text("{}")    # documentation is not hashed
    extractors.get_extractor(name, path=str(copy))
    data = next(p for p in (copy / "variables").iterdir() if p.name.startswith("variables.data"))
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 1
    data.write_bytes(bytes(raw))
    with pytest.raises(hub.HashMismatch, match="refusing"):
        extractors.get_extractor(name, path=str(copy))


def test_wrong_registry_sha256_is_refused(monkeypatch):
    name = SHIPPED[0]
    monkeypatch.setitem(extractors.EXTRACTORS, name,
                        dict(extractors.EXTRACTORS[name], sha256="0" * 64))
    with pytest.raises(hub.HashMismatch):
        extractors.get_extractor(name)


def test_mnist_classifier_on_real_test_images():
    x, y = mnist_test(1000)
    ex = extractors.get_extractor("mnist_classifier")
    assert np.mean(np.argmax(ex.logits(x), -1) == y) >= 0.99  # x is [n, 28, 28]: grey
    # the resizing path: 64x64 RGB (nearest-upscaled) in, 28x28 grey seen by the net
    index = np.arange(64) * 28 // 64
    big = np.repeat(x[:200][:, index][:, :, index, None], 3, -1)
    assert np.mean(np.argmax(ex.logits(big), -1) == y[:200]) >= 0.9


def test_resizing_and_channel_adaptation():
    ex = extractors.get_extractor("mnist_classifier")
    for shape in ((3, 64, 64, 3), (3, 28, 28, 3), (3, 40, 30, 1), (3, 28, 28)):
        x = np.random.default_rng(1).integers(0, 256, shape, np.uint8)
        f = ex.features(x)
        assert f.shape == (3, 128) and np.all(np.isfinite(f))
    x = random_images(2, 64, 3)
    np.testing.assert_array_equal(ex.features(x), ex.features(extractors.adapt(x, 28, 1).numpy()))
    assert extractors.adapt(x, 28, 1).shape == (2, 28, 28, 1)
    with pytest.raises(TypeError, match="uint8"):
        ex.features(x.astype(np.float32))


@pytest.fixture(scope="module")
def random_inception():
    return extractors.get_extractor("inception_v3", weights="random")


def test_inception_random_weights_shapes(random_inception):
    ex = random_inception
    assert (ex.resolution, ex.channels, ex.feature_dim, ex.num_classes) == (299, 3, 2048, 1000)
    assert ex.sha256 is None  # untrained weights pin nothing
    x = random_images(2, 32, 3)
    f, logits = ex.features(x), ex.logits(x)
    assert f.shape == (2, 2048) and f.dtype == np.float32 and np.all(np.isfinite(f))
    assert logits.shape == (2, 1000) and np.all(np.isfinite(logits))
    assert ex.features(random_images(1, 28, 1)).shape == (1, 2048)  # grey is tiled to RGB


def test_inception_missing_weights_say_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_HOME", str(tmp_path))
    monkeypatch.delenv(extractors.WEIGHTS_ENV, raising=False)
    for kwargs in ({}, {"weights": str(tmp_path / "absent.h5")}):
        with pytest.raises(FileNotFoundError) as e:
            extractors.get_extractor("inception_v3", **kwargs)
        message = str(e.value)
        assert extractors.INCEPTION_URL in message and "storage.googleapis.com" in message
        assert "weights=" in message and extractors.WEIGHTS_ENV in message


def test_inception_wrong_sha256_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / extractors.INCEPTION_FILE
    fake.write_bytes(b"not the weights")
    with pytest.raises(hub.HashMismatch, match="refusing"):
        extractors.get_extractor("inception_v3", weights=str(fake))
    monkeypatch.setenv(extractors.WEIGHTS_ENV, str(fake))  # the environment variable is used
    with pytest.raises(hub.HashMismatch):
        extractors.get_extractor("inception_v3")
    monkeypatch.setenv("GANZOO_HOME", str(tmp_path / "home"))
    with pytest.raises(hub.HashMismatch):  # and a URL is checked before it is kept
        extractors.get_extractor("inception_v3", weights=fake.as_uri())
    assert not any((tmp_path / "home" / "inception").iterdir())
