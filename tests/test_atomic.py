"""Atomic artifacts: a process killed (SIGKILL, so no cleanup runs) while writing a checkpoint,
an export or a download leaves nothing partial where the next run, TF Serving or ganzoo.load
looks: only complete artifacts or none. Hidden temporary folders (``.export-*``,
``.download-*``) may stay behind; TF Serving ignores names that are not version numbers, and
the next download removes a dead process's ``.download-*``."""
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from ganzoo import hub
from helpers import ROOT

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def wait_for(condition, what, proc, timeout=120):
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the process ended (status {proc.returncode}) before {what}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.02)


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


# ---- checkpoints -------------------------------------------------------------------------------

def train_command(npz, workdir, steps):
    return [sys.executable, "-m", "ganzoo.cli.train", f"--config={ROOT}/zoo_configs/dcgan.py:mnist",
            f"--workdir={workdir}", f"--config.data.source=npz:{npz}",
            f"--config.train.steps={steps}", "--config.train.checkpoint_every=1",
            "--config.train.keep_checkpoints=3", "--config.train.sample_every=1000000",
            "--config.train.log_every=1000000", "--config.train.export=false",
            "--config.model.resolution=8", "--config.data.resolution=8",
            "--config.model.latent_dim=4", "--config.model.width=4",
            "--config.train.batch_size=4", "--config.train.num_samples=4",
            "--config.train.precision=float32"]


def latest(workdir):
    return tf.train.latest_checkpoint(str(workdir / "checkpoints"))


def step_of(path):
    return int(path.rsplit("-", 1)[1]) if path else 0


def assert_complete(path):
    """Every tensor of the checkpoint reads back (a partial one fails here)."""
    reader = tf.train.load_checkpoint(path)
    for name in reader.get_variable_to_shape_map():
        reader.get_tensor(name)
    return int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))


def test_killed_while_checkpointing_every_step_resumes_from_a_complete_checkpoint(tmp_path):
    npz = tmp_path / "d.npz"
    np.savez(npz, x_train=np.random.default_rng(0).integers(0, 256, (32, 8, 8), dtype=np.uint8))
    workdir = tmp_path / "run"
    rng = np.random.default_rng()
    previous = None
    for round_ in range(3):
        log = tmp_path / f"round{round_}.log"
        with open(log, "w") as err:
            proc = subprocess.Popen(train_command(npz, workdir, 10 ** 6), stdout=subprocess.DEVNULL,
                                    stderr=err, cwd=ROOT, env=ENV)
        # a few checkpoints of its own, then a kill at a random moment: most of a step's time
        # goes into writing its checkpoint
        wait_for(lambda: step_of(latest(workdir)) >= step_of(previous) + 3, "checkpoints", proc)
        time.sleep(rng.uniform(0.0, 0.3))
        kill(proc)
        if previous:
            assert f"resumed from {previous} at step {step_of(previous)}" in log.read_text()
        previous = latest(workdir)
        assert assert_complete(previous) == step_of(previous)  # what the next run restores
    finish = step_of(previous) + 2
    done = subprocess.run(train_command(npz, workdir, finish), capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed from {previous} at step {step_of(previous)}" in done.stderr
    assert assert_complete(latest(workdir)) == finish


# ---- exports -----------------------------------------------------------------------------------

EXPORTER = r"""
import os, sys
import tensorflow as tf
from ganzoo import export, serving_export
out = sys.argv[1]
w = tf.Variable(tf.random.stateless_normal([4, 64], seed=[0, 0]))
module = export.GeneratorModule(lambda z: tf.reshape(tf.tanh(z @ w), [-1, 8, 8, 1]), 4, 0,
                                dict(kind="noise", latent_dim=4, num_classes=0, resolution=8,
                                     channels=1))
module.w = w
src = os.path.join(out, "src")
if not os.path.exists(src):
    export.save_atomic(module, src, module.signatures())
print("ready", flush=True)
while True:  # what training's export (overwrites) and ganzoo-export (new versions) do
    export.save_atomic(module, os.path.join(out, "export"), module.signatures())
    serving_export.export_for_serving(src, os.path.join(out, "serving"), name="tiny")
"""

VERSION_FILES = {"saved_model.pb", "fingerprint.pb", "variables/variables.index",
                 "variables/variables.data-00000-of-00001",
                 "assets.extra/tf_serving_warmup_requests"}


def files(folder):
    return {os.path.relpath(os.path.join(d, n), folder) for d, _, ns in os.walk(folder) for n in ns}


def check_exports(out):
    """Only complete SavedModels (or nothing) at the paths a reader uses."""
    assert all(n in ("src", "export", "serving") or n.startswith(".") for n in os.listdir(out))
    if os.path.exists(out / "export"):
        images = tf.saved_model.load(str(out / "export")).signatures["sample"](
            num_samples=tf.constant(2), seed=tf.constant(0, tf.int64))["images"]
        assert images.shape == (2, 8, 8, 1)
    model_dir = out / "serving" / "tiny"
    versions = sorted(int(n) for n in os.listdir(model_dir) if not n.startswith(".")) \
        if model_dir.exists() else []
    for v in versions:  # TF Serving loads every numeric folder it sees
        assert files(model_dir / str(v)) == VERSION_FILES, v
    if versions:
        served = tf.saved_model.load(str(model_dir / str(versions[-1])))
        images = served.signatures["serving_default"](z=tf.zeros([1, 4]))["images"]
        assert images.shape == (1, 8, 8, 1)
    config = out / "serving" / "models.config"
    if config.exists():  # replaced atomically: always a whole file naming existing versions
        from ganzoo import serving
        from google.protobuf import text_format
        apis = serving.serving_apis()
        parsed = text_format.Parse(config.read_text(),
                                   apis.model_server_config_pb2.ModelServerConfig())
        assert [c.name for c in parsed.model_config_list.config] == ["tiny"] and versions
    return versions


def test_killed_while_exporting_leaves_only_complete_savedmodels(tmp_path):
    pytest.importorskip("tensorflow_serving", reason="ganzoo-export needs tensorflow-serving-api")
    rng = np.random.default_rng()
    seen = []
    for round_ in range(2):
        proc = subprocess.Popen([sys.executable, "-c", EXPORTER, str(tmp_path)], cwd=ROOT, env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout.readline().strip() == "ready"
        if round_:  # at least one whole version to check, however slow the machine
            wait_for(lambda: os.path.exists(tmp_path / "serving" / "tiny" / "1"), "an export",
                     proc)
        time.sleep(rng.uniform(0.3, 2.5))  # somewhere inside a save, most likely
        kill(proc)
        proc.stdout.close()
        seen.append(check_exports(tmp_path))
    assert seen[-1], "no export finished: the kills tested nothing"


# ---- downloads ---------------------------------------------------------------------------------

class _SlowHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        try:
            for i in range(0, len(self.body), 16384):
                self.wfile.write(self.body[i:i + 16384])
                self.wfile.flush()
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):  # the client was killed
            pass


DOWNLOAD = "import sys; from ganzoo import hub; hub.download(*sys.argv[1:])"


def test_killed_download_leaves_nothing_in_the_cache(tmp_path, monkeypatch):
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    rng = np.random.default_rng(0)
    (model / "saved_model.pb").write_bytes(rng.bytes(100_000))
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(rng.bytes(300_000))
    sha256 = hub.tree_sha256(model)
    archive = hub.pack(model, tmp_path / "model.tar.gz")
    handler = type("Handler", (_SlowHandler,), {"body": archive.read_bytes()})  # ~0.5 s
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/model.tar.gz"
    cache = tmp_path / "cache" / "fake"
    dest = cache / "1"
    try:
        killed_mid_download = 0
        for delay in (0.05, 0.3, *rng.uniform(0.0, 0.8, 2)):  # during the transfer, at random
            proc = subprocess.Popen([sys.executable, "-c", DOWNLOAD, url, str(dest), sha256],
                                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            mine = hub._download_prefix(proc.pid)
            wait_for(lambda: cache.exists() and any(n.startswith(mine) for n in os.listdir(cache)),
                     "download folder", proc, timeout=30)
            time.sleep(delay)
            if proc.poll() is None:
                kill(proc)
            # the earlier dead processes' folders were swept; this one's is hidden
            assert all(n == "1" or n.startswith(mine) for n in os.listdir(cache)), os.listdir(cache)
            if dest.exists():  # it finished first: then it is whole
                assert hub.tree_sha256(dest) == sha256
                shutil.rmtree(dest)
            else:
                killed_mid_download += 1
        assert killed_mid_download, "no kill landed during a download"
        # the next download (what ganzoo.load does) works and sweeps the dead ones' folders
        monkeypatch.setenv("GANZOO_HOME", str(tmp_path / "cache"))
        path = hub.locate("fake", dict(version=1, sha256=sha256, url=url))
        assert path == str(dest) and hub.tree_sha256(path) == sha256
        assert os.listdir(cache) == ["1"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_live_downloads_folder_is_not_swept(tmp_path):
    live = tmp_path / (hub._download_prefix() + "x")  # this process: alive
    live.mkdir()
    other_host = tmp_path / ".download-1-00000000-x"
    other_host.mkdir()
    hub._sweep_dead_downloads(str(tmp_path))
    assert live.exists() and other_host.exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / (hub._download_prefix(dead.pid) + "y")
    gone.mkdir()
    hub._sweep_dead_downloads(str(tmp_path))
    assert not gone.exists() and live.exists()
