"""Registry, hub (repo -> cache -> URL, sha256 pinning) and the loaded model's API."""
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import ganzoo
from ganzoo import export, hub, registry, training
from helpers import tiny_config


# ---- every shipped model ------------------------------------------------------------------

@pytest.mark.parametrize("name", registry.list_models())
def test_shipped_model_loads_and_samples_reproducibly(name):
    model = ganzoo.load(name)
    shape = (4, model.resolution, model.resolution, model.channels)
    if model.kind == "translation":
        x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        for direction in ("a2b", "b2a"):
            a, b = model.translate(x, direction), model.translate(x, direction)
            assert a.dtype == np.uint8 and a.shape == shape
            np.testing.assert_array_equal(a, b)
            assert a.std() > 5
    else:
        a, b = model.sample(4, seed=0), model.sample(4, seed=0)
        assert a.dtype == np.uint8 and a.shape == shape
        np.testing.assert_array_equal(a, b)
        assert a.std() > 5  # not constant
        assert not np.array_equal(a, model.sample(4, seed=1))
    assert model.card["name"] == name and model.card["sha256"] == registry.MODELS[name]["sha256"]


@pytest.mark.parametrize("name", registry.list_models())
def test_registry_hash_equals_the_files(name):
    entry = registry.MODELS[name]
    path = os.path.join(hub.REPO_MODELS, name, str(entry["version"]))
    assert hub.tree_sha256(path) == entry["sha256"]
    assert sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) < 25e6


def test_saved_models_budget():
    total = sum(os.path.getsize(os.path.join(d, f))
                for d, _, fs in os.walk(hub.REPO_MODELS) for f in fs)
    assert total < 150e6


def test_unknown_name_lists_close_matches():
    with pytest.raises(KeyError, match="dcgan_mnist"):
        ganzoo.load("dcgan_mnst")


def test_missing_folder_is_not_called_an_unknown_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder.*registry names: .*dcgan_mnist"):
        ganzoo.load(str(tmp_path / "missing" / "export"))


# ---- a tiny model to exercise the hub ------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    model, _, _ = training.build(tiny_config("dcgan"))
    path = str(tmp_path_factory.mktemp("tiny") / "1")
    export.save_generator(model, path, metadata=dict(config={"model": {"variant": "dcgan"}}))
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No repository models, an empty cache."""
    monkeypatch.setattr(hub, "REPO_MODELS", str(tmp_path / "repo"))
    monkeypatch.setenv("GANZOO_HOME", str(tmp_path / "cache"))
    return tmp_path


def entry_for(path, url=None):
    return dict(version=1, sha256=hub.tree_sha256(path), url=url)


def test_tree_hash_covers_names_and_contents(tiny, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny, copy)
    assert hub.tree_sha256(copy) == hub.tree_sha256(tiny)
    (copy / "model_card.json").write_text("{}")  # documentation is not hashed
    assert hub.tree_sha256(copy) == hub.tree_sha256(tiny)
    os.rename(copy / "fingerprint.pb", copy / "fingerprint2.pb")
    assert hub.tree_sha256(copy) != hub.tree_sha256(tiny)


def test_tampered_repo_model_is_refused(tiny, isolated):
    dest = isolated / "repo" / "tiny" / "1"
    shutil.copytree(tiny, dest)
    entry = entry_for(tiny)
    assert hub.locate("tiny", entry) == str(dest)
    data = next((dest / "variables").glob("variables.data-*"))
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(hub.HashMismatch, match="refusing"):
        hub.locate("tiny", entry)


class _Server:
    """http.server on 127.0.0.1 in a thread; ``cut`` sends half the body, then hangs up."""

    def __init__(self, directory, cut=False):
        handler = functools.partial(type("Handler", (_Handler,), {"cut": cut}),
                                    directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(http.server.SimpleHTTPRequestHandler):
    cut = False

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.cut:
            return super().do_GET()
        body = open(os.path.join(self.directory, self.path.lstrip("/")), "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        self.connection.close()


def test_url_download_verifies_and_caches(tiny, isolated):
    served = isolated / "www"
    served.mkdir()
    hub.pack(tiny, served / "tiny.tar.gz")
    with _Server(served) as base:
        entry = entry_for(tiny, url=f"{base}/tiny.tar.gz")
        path = hub.locate("tiny", entry)
    assert path == str(isolated / "cache" / "tiny" / "1")
    assert os.listdir(isolated / "cache" / "tiny") == ["1"]  # no temporary leftovers
    assert hub.tree_sha256(path) == entry["sha256"]
    images = ganzoo.load(path, trust=True).sample(2, seed=3)  # verified by locate
    assert images.shape == (2, 8, 8, 1)
    assert hub.locate("tiny", entry) == path  # second time: from the cache, server gone


def test_file_url(tiny, isolated):
    archive = hub.pack(tiny, isolated / "tiny.tar.gz")
    assert os.path.isdir(hub.locate("tiny", entry_for(tiny, url=f"file://{archive}")))


def test_download_with_wrong_hash_leaves_nothing(tiny, isolated):
    archive = hub.pack(tiny, isolated / "tiny.tar.gz")
    entry = dict(version=1, sha256=hashlib.sha256(b"other").hexdigest(), url=f"file://{archive}")
    with pytest.raises(hub.HashMismatch):
        hub.locate("tiny", entry)
    assert os.listdir(isolated / "cache" / "tiny") == []


def test_cut_download_leaves_nothing(tiny, isolated):
    served = isolated / "www"
    served.mkdir()
    hub.pack(tiny, served / "tiny.tar.gz")
    with _Server(served, cut=True) as base:
        with pytest.raises(Exception):
            hub.locate("tiny", entry_for(tiny, url=f"{base}/tiny.tar.gz"))
    assert os.listdir(isolated / "cache" / "tiny") == []


def test_missing_everywhere_says_where_it_looked(isolated):
    with pytest.raises(FileNotFoundError, match="no URL"):
        hub.locate("tiny", dict(version=1, sha256="0" * 64, url=None))


def test_archive_with_escaping_paths_is_refused(isolated):
    import tarfile
    evil = isolated / "evil.tar.gz"
    (isolated / "x").write_text("x")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(isolated / "x", arcname="../escaped")
    with pytest.raises(ValueError, match="refusing"):
        hub.locate("tiny", dict(version=1, sha256="0" * 64, url=f"file://{evil}"))
    assert not (isolated / "cache" / "escaped").exists()


# ---- the loaded model ------------------------------------------------------------------------

def test_pretrained_api(tiny):
    model = ganzoo.load(tiny, trust=True)
    assert (model.latent_dim, model.num_classes, model.resolution, model.channels) == (4, 0, 8, 1)
    z = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.generate(z), model.generate(z))
    path = model.interpolate(steps=5, seed=1)
    assert path.shape == (5, 8, 8, 1)
    with pytest.raises(TypeError, match="translation"):
        model.translate(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="not conditional"):
        model.sample(2, labels=[1, 2])


def test_conditional_pretrained_follows_labels(tmp_path):
    model, _, _ = training.build(tiny_config("cgan"))
    export.save_generator(model, str(tmp_path / "m"))
    loaded = ganzoo.load(str(tmp_path / "m"), trust=True)
    assert loaded.num_classes == 10
    a = loaded.sample(4, seed=0, labels=[0, 0, 0, 0])
    b = loaded.sample(4, seed=0, labels=[5, 5, 5, 5])
    assert not np.array_equal(a, b)
    with pytest.raises(ValueError, match="labels"):
        loaded.sample(2, labels=[10, 0])


def test_same_seed_same_images_across_processes(tiny):
    code = ("import hashlib, ganzoo, sys; "
            f"print(hashlib.sha256(ganzoo.load({tiny!r}, trust=True).sample(4, seed=7).tobytes()).hexdigest())")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           timeout=120).stdout.split()[-1] for _ in range(2)]
    here = hashlib.sha256(ganzoo.load(tiny, trust=True).sample(4, seed=7).tobytes()).hexdigest()
    assert outs == [here, here]


def test_plain_tf_saved_model_load_needs_no_ganzoo(tiny):
    code = ("import tensorflow as tf, sys; m = tf.saved_model.load(sys.argv[1]); "
            "out = m.signatures['sample'](num_samples=tf.constant(3), seed=tf.constant(1, tf.int64)); "
            "assert 'ganzoo' not in sys.modules; print(out['images'].shape, out['images'].dtype)")
    out = subprocess.run([sys.executable, "-c", code, tiny], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert "(3, 8, 8, 1) <dtype: 'uint8'>" in out.stdout, out.stderr[-2000:]


def test_sample_cli_writes_a_png(tmp_path):
    from PIL import Image
    name = registry.list_models()[0]
    out = tmp_path / "grid.png"
    res = subprocess.run([sys.executable, "-m", "ganzoo.cli.sample", name, "--num=4", "--seed=0",
                          f"--out={out}"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert Image.open(out).size[0] > 28
    bad = subprocess.run([sys.executable, "-m", "ganzoo.cli.sample", "dcgan_mnst"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "dcgan_mnist" in bad.stderr


def test_publish_writes_card_samples_and_pins_the_hash(tmp_path):
    import json

    from ganzoo import publish
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x_train=rng.integers(0, 256, (16, 8, 8), dtype=np.uint8),
             y_train=np.zeros(16, np.uint8))
    config = tiny_config("dcgan")
    config.data.source = f"npz:{tmp_path / 'd.npz'}"
    config.train.steps = 2
    training.run(config, str(tmp_path / "run"))
    card = publish.publish(str(tmp_path / "run"), "tiny", "mnist", out=str(tmp_path / "zoo"))
    folder = tmp_path / "zoo" / "tiny" / "1"
    assert json.loads((folder / "model_card.json").read_text()) == card
    assert card["sha256"] == hub.tree_sha256(folder)
    assert card["training"]["steps"] == 2 and card["training"]["images_seen"] == 4
    assert card["training"]["wall_time_s"] > 0 and card["training"]["precision"] == "float32"
    assert "MNIST" in card["dataset"]["licence"] and card["variant"] == "dcgan"
    assert (folder / "samples.png").exists()
    with pytest.raises(FileExistsError):
        publish.publish(str(tmp_path / "run"), "tiny", "mnist", out=str(tmp_path / "zoo"))


def test_a_folder_loads_only_when_trusted(tiny):
    with pytest.raises(ganzoo.UntrustedModel, match="a SavedModel is a program.*trust=True"):
        ganzoo.load(tiny)
    assert ganzoo.load(tiny, trust=True).sample(1, seed=0).shape[0] == 1
