"""``train.strategy``: MirroredStrategy over 2 logical CPUs matches one device on the same global
batch; MultiWorkerMirroredStrategy with 2 local workers trains, checkpoints once and resumes.

Logical devices must be set before TensorFlow initialises, and a MultiWorkerMirroredStrategy
can be made once per process, so both run in subprocesses; this process stays on the default
strategy."""
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from ganzoo import training
from helpers import ROOT

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")

# Variants without batch norm (per-replica statistics make BN incomparable across replica
# counts): `gan`/`cgan` with no hidden layer in G (their D has none), `wgan_gp` with
# g_norm="none" (its critic uses layer norm: per sample), `wgan` with no norm in G nor D
# (covers the cross-replica weight clip).
MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    sys.path.insert(0, "tests")
    from ganzoo import training
    from helpers import tiny_config, fake_batch, values

    strategy = training.make_strategy("mirrored")
    out = {}
    for variant in sys.argv[1:]:
        config = tiny_config(variant, batch_size=4)
        m = config.model
        if "g_hidden" in m:
            m.g_hidden = ()
        else:
            m.g_norm = "none"
            if variant != "wgan_gp":
                m.d_norm = "none"
        one, _, _ = training.build(config)
        two, _, _ = training.build(config, strategy)
        nets = lambda mod: values(mod.generator.trainable_variables
                                  + mod.discriminator.trainable_variables)
        batch = fake_batch(one, config.train.batch_size)
        step = tf.function(one.train_step)
        batches, dstep = training._distributed(
            strategy, tf.data.Dataset.from_tensors(batch).repeat(), "memory", two,
            config.train.batch_size * two.n_critic, False)
        fresh = nets(one)
        for _ in range(2):
            logs_one = {k: float(v) for k, v in step(batch).items()}
            logs_two = {k: float(v) for k, v in dstep(next(batches)).items()}
        a, b = nets(one), nets(two)
        out[variant] = dict(
            replicas=strategy.num_replicas_in_sync,
            diff=max(float(np.abs(x - y).max()) for x, y in zip(a, b)),
            moved=max(float(np.abs(x - y).max()) for x, y in zip(a, fresh)),
            logs_one=logs_one, logs_two=logs_two,
            rng=[one.seed_generator.state.numpy().tolist(),
                 two.seed_generator.state.numpy().tolist()])
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.slow
def test_mirrored_two_replicas_equal_one_device_on_the_global_batch():
    ran = subprocess.run([sys.executable, "-c", MIRRORED, "gan", "wgan_gp", "wgan"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT, env=ENV)
    assert ran.returncode == 0, ran.stderr[-3000:]
    line = [x for x in ran.stdout.splitlines() if x.startswith("RESULT ")][-1]
    for variant, r in json.loads(line[len("RESULT "):]).items():
        assert r["replicas"] == 2
        assert r["moved"] > 1e-4, variant  # two steps changed the weights...
        assert r["diff"] < 1e-6, (variant, r)  # ...exactly as one device did
        assert r["rng"][0] == r["rng"][1], variant  # the same noise stream
        assert sorted(r["logs_one"]) == sorted(r["logs_two"])
        for k, v in r["logs_one"].items():
            assert np.isclose(v, r["logs_two"][k], rtol=1e-5, atol=1e-6), (variant, k, r)


# The variants and policies the equality test does not cover: each must train under the
# strategy (two steps: finite logs, G moved; ProGAN's weight average updated) — ProGAN's
# minibatch stddev and CycleGAN's history pools make the result depend on the replica count.
OTHERS = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    sys.path.insert(0, "tests")
    from ganzoo import training
    from helpers import load_config, tiny_config, values

    def config(variant, precision):
        if variant == "progan":
            c = load_config("progan", "celeba")
            m = c.model
            m.max_resolution, m.channels, m.latent_dim, m.fmap_base, m.fmap_max = 8, 1, 4, 16, 8
            m.images_per_phase, m.batch_sizes, m.mbstd_group_size = 8, (4,), 2
            c.data.channels, c.train.steps = 1, 3
        elif variant == "cyclegan":
            c = load_config("cyclegan", "face2genshin")
            c.model.update(resolution=8, channels=1, ngf=2, ndf=2, n_blocks=1)
            c.data.resolution, c.data.channels, c.train.batch_size = 8, 1, 4
        else:
            c = tiny_config(variant, batch_size=4)
        c.train.precision, c.train.jit_compile = precision, "false"
        return c

    strategy = training.make_strategy("mirrored")
    out = {}
    for variant, precision in [("progan", "float32"), ("cyclegan", "float32"),
                               ("dcgan", "mixed_float16"), ("dcgan", "mixed_bfloat16")]:
        model, _, _ = training.build(config(variant, precision), strategy)
        size = 8 if variant != "progan" else 4
        if variant == "progan":
            model.before_step(0)  # 4x4
        x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (4, size, size, 1)), tf.float32)
        before = values(model.generator.trainable_variables)
        batches, step = training._distributed(
            strategy, tf.data.Dataset.from_tensors((x, x) if variant == "cyclegan" else x)
            .repeat(), "memory", model, 4, False)
        logs = [{k: float(v) for k, v in step(next(batches)).items()} for _ in range(2)]
        after = values(model.generator.trainable_variables)
        average = model.generator_average
        out[f"{variant} {precision}"] = dict(
            logs=logs, moved=max(float(np.abs(a - b).max()) for a, b in zip(before, after)),
            ema_updates=None if average is None else int(average.updates.numpy()),
            ema_moved=None if average is None else max(
                float(np.abs(a - b).max()) for a, b in zip(before, values(average.averages))))
    model, _, _ = training.build(config("gan", "float32"), strategy)
    try:
        training._distributed(strategy, tf.data.Dataset.from_tensors(tf.zeros([4, 8, 8, 1])),
                              "memory", model, 4, True)
        out["jit"] = "no error"
    except ValueError as e:
        out["jit"] = str(e)
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.slow
def test_progan_cyclegan_and_float16_bfloat16_train_under_mirrored():
    ran = subprocess.run([sys.executable, "-c", OTHERS], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, env=ENV)
    assert ran.returncode == 0, ran.stderr[-3000:]
    line = [x for x in ran.stdout.splitlines() if x.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT "):])
    assert "XLA cannot reach a variable placed on another logical CPU" in out.pop("jit")
    assert sorted(out) == ["cyclegan float32", "dcgan mixed_bfloat16", "dcgan mixed_float16",
                           "progan float32"]
    for name, r in out.items():
        assert r["moved"] > 1e-5, (name, r)
        assert all(np.isfinite(v) for logs in r["logs"] for v in logs.values()), (name, r)
    assert out["progan float32"]["ema_updates"] == 2
    assert out["progan float32"]["ema_moved"] > 0


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_two_workers(root, steps):
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    command = [sys.executable, "-m", "ganzoo.cli.train",
               f"--config={ROOT}/zoo_configs/gan.py:mnist",
               f"--workdir={root}/run", f"--config.data.source=npz:{root}/x.npz",
               "--config.model.resolution=8", "--config.data.resolution=8",
               "--config.model.g_hidden=(8,)", "--config.model.d_hidden=(8,)",
               "--config.model.latent_dim=4", "--config.train.batch_size=4",
               f"--config.train.steps={steps}", "--config.train.checkpoint_every=100",
               "--config.train.sample_every=100", "--config.train.num_samples=4",
               "--config.train.log_every=1", "--config.train.precision=float32",
               "--config.train.jit_compile=false", "--config.data.shuffle_buffer=16",
               "--config.train.strategy=multi_worker"]
    procs = []
    for i in range(2):
        env = dict(ENV, TF_CONFIG=json.dumps({"cluster": cluster,
                                              "task": {"type": "worker", "index": i}}))
        procs.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=240)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    return outs


@pytest.mark.slow
def test_multi_worker_trains_checkpoints_once_and_resumes(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", x_train=rng.integers(0, 256, (40, 8, 8, 1), dtype=np.uint8),
             y_train=np.zeros(40, np.uint8))
    run = tmp_path / "run"
    outs = _train_two_workers(tmp_path, 2)
    assert all("2 replicas in sync" in out for out in outs)
    assert sorted(n for n in os.listdir(run / "checkpoints") if n.endswith(".index")) == \
        ["ckpt-2.index"]  # written by the chief only (the other worker's copy is removed)
    assert os.listdir(run / "samples") == ["step_0000002.png"]
    assert (run / "export" / "saved_model.pb").exists()

    outs = _train_two_workers(tmp_path, 3)
    assert all("resumed from" in out and "ckpt-2 at step 2" in out for out in outs)
    assert sorted(n for n in os.listdir(run / "checkpoints") if n.endswith(".index")) == \
        ["ckpt-2.index", "ckpt-3.index"]
    reader = tf.train.load_checkpoint(str(run / "checkpoints" / "ckpt-3"))
    assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 3


def test_per_replica_order_gives_each_replica_its_part_of_every_critic_minibatch():
    x = tf.range(12)[:, None] * tf.ones([1, 2], tf.int32)  # k=3 minibatches of 4, R=2
    got = training._per_replica_order(x, 3, 2)[:, 0].numpy().tolist()
    assert got == [0, 1, 4, 5, 8, 9, 2, 3, 6, 7, 10, 11]


def test_default_strategy_is_no_strategy_and_bad_names_fail():
    assert training.make_strategy("default") is None
    with pytest.raises(KeyError, match="mirrored"):
        training.make_strategy("mirored")
    assert training.is_chief(None)


def test_tpu_without_a_tpu_fails_clearly():
    if tf.config.list_physical_devices("TPU"):
        pytest.skip("a TPU is present")
    with pytest.raises(RuntimeError, match="train.strategy=tpu: no TPU found"):
        training.make_strategy("tpu")
