"""ganzoo-train end to end on a tiny npz: files, resume, bad keys, Ctrl-C and kill -9."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import ROOT

TINY = ["--config.model.resolution=8", "--config.data.resolution=8", "--config.model.latent_dim=4", "--config.train.batch_size=4", "--config.train.log_every=1",
        "--config.train.sample_every=3", "--config.train.checkpoint_every=3",
        "--config.train.num_samples=4", "--config.train.precision=float32"]


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (32, 8, 8), dtype=np.uint8),
             y_train=rng.integers(0, 10, 32, dtype=np.uint8))
    return path


def command(npz, workdir, steps, config="dcgan.py:mnist", extra=("--config.model.width=4",)):
    return [sys.executable, "-m", "ganzoo.cli.train", f"--config={ROOT}/zoo_configs/{config}",
            f"--workdir={workdir}", f"--config.data.source=npz:{npz}",
            f"--config.train.steps={steps}", *TINY, *extra]


def train(*args, **kwargs):
    out = subprocess.run(command(*args, **kwargs), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stderr


def checkpoints(workdir):
    names = os.listdir(workdir / "checkpoints")
    return sorted(int(n.split("-")[1].split(".")[0]) for n in names if n.endswith(".index"))


@pytest.mark.slow
def test_train_then_resume(npz, tmp_path):
    log = train(npz, tmp_path, 3)
    assert "3/3" in log
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["train"]["steps"] == 3 and config["data"]["source"] == f"npz:{npz}"
    assert config["runtime"]["precision"] == "float32" and config["runtime"]["jit_compile"] is False
    assert checkpoints(tmp_path) == [3]
    assert os.listdir(tmp_path / "samples") == ["step_0000003.png"]
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(tmp_path / "tensorboard"))
    assert (tmp_path / "export" / "saved_model.pb").exists()

    log = train(npz, tmp_path, 6)
    assert "resumed from" in log and "at step 3" in log
    assert checkpoints(tmp_path) == [3, 6]
    assert sorted(os.listdir(tmp_path / "samples")) == ["step_0000003.png", "step_0000006.png"]
    import tensorflow as tf
    ckpt = tf.train.load_checkpoint(str(tmp_path / "checkpoints" / "ckpt-6"))
    assert ckpt.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 6
    exported = tf.saved_model.load(str(tmp_path / "export"))
    images = exported.signatures["sample"](num_samples=tf.constant(2), seed=tf.constant(0, tf.int64))
    assert images["images"].shape == (2, 8, 8, 1) and images["images"].dtype == tf.uint8


@pytest.mark.slow
def test_conditional_variant_through_the_cli(npz, tmp_path):
    train(npz, tmp_path, 2, config="cgan.py:mnist",
          extra=["--config.model.g_hidden=(8,)", "--config.model.d_hidden=(8,)"])
    assert checkpoints(tmp_path) == [2]


def test_unknown_config_key_lists_valid_keys(npz, tmp_path):
    out = subprocess.run(command(npz, tmp_path, 3, extra=["--config.train.stepz=3"]),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "Unknown config key 'train.stepz'" in out.stderr
    assert "train.steps" in out.stderr and "model.latent_dim" in out.stderr
    assert not (tmp_path / "config.json").exists()


def test_unknown_dataset_names_close_matches():
    from ganzoo import config
    with pytest.raises(KeyError, match="mnist"):
        config.load(f"{ROOT}/zoo_configs/dcgan.py:mnst")


def _start_and_wait(npz, workdir, ready, extra=()):
    proc = subprocess.Popen(command(npz, workdir, 100000, extra=("--config.model.width=4", *extra)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if ready():
            return proc
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the run did not get going within 120 s")


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_then_exits(npz, tmp_path):
    # no scheduled checkpoints: the only one can come from the interrupt
    samples = tmp_path / "samples"
    proc = _start_and_wait(npz, tmp_path, lambda: samples.exists() and len(os.listdir(samples)) >= 2,
                           extra=["--config.train.checkpoint_every=1000000"])
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    saved, = checkpoints(tmp_path)
    assert saved >= 6
    assert f"interrupted (SIGINT) at step {saved}" in err


@pytest.mark.slow
def test_kill_9_then_same_command_resumes(npz, tmp_path):
    proc = _start_and_wait(npz, tmp_path,
                           lambda: (tmp_path / "checkpoints").exists() and checkpoints(tmp_path))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    last = checkpoints(tmp_path)[-1]
    log = train(npz, tmp_path, last + 2)
    assert f"at step {last}" in log
    assert checkpoints(tmp_path)[-1] == last + 2


def test_second_trainer_on_a_workdir_is_refused_and_a_dead_ones_lock_is_not(tmp_path):
    from ganzoo import training
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from ganzoo import training\n"
         f"with training.workdir_lock({str(tmp_path)!r}):\n"
         "    print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(training.WorkdirBusy, match=f"in use by another trainer \\(pid {holder.pid} "):
            with training.workdir_lock(str(tmp_path)):
                pass
    finally:
        holder.kill()  # SIGKILL: no cleanup runs, the lock file stays behind
        holder.wait(timeout=30)
    assert (tmp_path / ".lock").exists()
    with training.workdir_lock(str(tmp_path)):
        assert f"pid {os.getpid()} " in (tmp_path / ".lock").read_text()


def test_cli_user_error_is_one_line_and_verbose_shows_the_traceback(tmp_path):
    argv = command(tmp_path / "missing.npz", tmp_path / "run", 1)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "ganzoo-train: error: npz file not found: " in out.stderr
    assert "Traceback" not in out.stderr
    out = subprocess.run(argv + ["--verbose"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "Traceback" in out.stderr and "FileNotFoundError" in out.stderr
