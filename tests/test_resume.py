"""Exact resume: a run killed with SIGKILL at a random step and rerun ends with the same
weights, optimizer states, RNG, history pools and ProGAN progress as an uninterrupted run
(deterministic mode)."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from helpers import ROOT

COMMON = ["--config.train.precision=float32", "--config.train.jit_compile=false",
          "--config.train.deterministic=true", "--config.train.log_every=1",
          "--config.train.sample_every=1",  # a PNG per step slows steps enough to kill mid-run
          "--config.train.checkpoint_every=3", "--config.train.keep_checkpoints=20",
          "--config.train.num_samples=4", "--config.train.export=false"]
STEPS = 60


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    np.savez(root / "rgb.npz", x_train=rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8),
             y_train=np.zeros(40, np.uint8))
    for part in ("trainA", "trainB", "testA", "testB"):
        (root / "two" / part).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(
                root / "two" / part / f"{i}.png")
    return root


def variant_args(variant, root):
    if variant == "dcgan":
        return ["zoo_configs/dcgan.py:cifar10", f"--config.data.source=npz:{root}/rgb.npz",
                "--config.model.resolution=8", "--config.data.resolution=8",
                "--config.model.width=4", "--config.model.latent_dim=4",
                "--config.train.batch_size=4", "--config.data.shuffle_buffer=16"]
    if variant == "cyclegan":
        return ["zoo_configs/cyclegan.py:face2genshin", f"--config.data.source=cyclegan:{root}/two",
                "--config.model.resolution=8", "--config.data.resolution=8",
                "--config.model.ngf=4", "--config.model.ndf=4", "--config.model.n_blocks=1",
                "--config.model.pool_size=3", "--config.train.batch_size=2"]
    return ["zoo_configs/progan.py:celeba", f"--config.data.source=npz:{root}/rgb.npz",
            "--config.model.max_resolution=8", "--config.model.batch_sizes=(4,2)",
            "--config.model.images_per_phase=8", "--config.model.latent_dim=8",
            "--config.model.fmap_base=32", "--config.model.fmap_max=8"]


def command(variant, root, workdir):
    config, *rest = variant_args(variant, root)
    return [sys.executable, "-m", "ganzoo.cli.train", f"--config={ROOT}/{config}",
            f"--workdir={workdir}", f"--config.train.steps={STEPS}", *COMMON, *rest]


def checkpoint_steps(workdir):
    folder = workdir / "checkpoints"
    if not folder.exists():
        return []
    return sorted(int(n.split("-")[1].split(".")[0]) for n in os.listdir(folder)
                  if n.endswith(".index"))


def final_state(workdir):
    """Every checkpointed value but the wall-clock and save counters."""
    reader = tf.train.load_checkpoint(str(workdir / "checkpoints" / f"ckpt-{STEPS}"))
    names = [n for n, _ in tf.train.list_variables(str(workdir / "checkpoints" / f"ckpt-{STEPS}"))]
    skip = ("train_seconds", "save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH")
    return {n: reader.get_tensor(n) for n in names if not any(s in n for s in skip)}


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["dcgan", "cyclegan", "progan"])
def test_killed_and_resumed_equals_uninterrupted(variant, sources, tmp_path):
    ran = subprocess.run(command(variant, sources, tmp_path / "straight"), capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    assert ran.returncode == 0, ran.stderr[-3000:]

    killed = tmp_path / "killed"
    proc = subprocess.Popen(command(variant, sources, killed), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)
    # a random step well before the end: its sample grid appears right after it is trained
    target = killed / "samples" / f"step_{np.random.default_rng().integers(4, STEPS // 2):07d}.png"
    deadline = time.time() + 300
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    last = checkpoint_steps(killed)[-1]
    assert 3 <= last < STEPS, "the run must die mid-way for this test to mean anything"

    resumed = subprocess.run(command(variant, sources, killed), capture_output=True, text=True,
                             timeout=600, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from" in resumed.stderr and f"ckpt-{last}" in resumed.stderr

    a, b = final_state(tmp_path / "straight"), final_state(killed)
    assert sorted(a) == sorted(b) and len(a) > 10
    different = [n for n in a if not np.array_equal(a[n], b[n])]
    assert not different, f"killed at step > {last} and resumed, these differ: {different[:10]}"
