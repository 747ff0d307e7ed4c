"""One training run: ``run(config, workdir)``.

Writes ``workdir/config.json`` (the config plus what ``auto`` resolved to), checkpoints
(both networks, both optimizers, the step and the noise RNG) under ``checkpoints/``,
TensorBoard scalars and image grids under ``tensorboard/``, PNG grids from a fixed latent
under ``samples/``, and the generator as a SavedModel under ``export/``. Running again with
the same workdir resumes from the last checkpoint. Ctrl-C (or SIGTERM) saves, then exits.
"""
import contextlib
import fcntl
import json
import logging
import math
import os
import platform
import signal
import socket
import time

import keras
import tensorflow as tf

import ganzoo
from ganzoo import images, models, policies
from ganzoo.lookup import lookup
from ganzoo.progress import Progress

log = logging.getLogger("ganzoo")

OPTIMIZERS = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
              "sgd": keras.optimizers.SGD}


class Diverged(RuntimeError):
    pass


class WorkdirBusy(RuntimeError):
    pass


@contextlib.contextmanager
def workdir_lock(workdir):
    """One trainer per workdir: an exclusive ``flock`` on ``workdir/.lock``. The kernel drops
    it when its process dies (even by kill -9), so a stale lock never blocks a resume."""
    f = open(os.path.join(workdir, ".lock"), "a+")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            owner = f.read().strip() or "another process"
            raise WorkdirBusy(f"{workdir} is in use by another trainer ({owner}); wait for it to "
                              "finish or stop it, or use another --workdir") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        yield
    finally:
        f.close()  # releases the lock


class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant, then linear to zero over the last ``decay_steps`` (CycleGAN: the second half)."""

    def __init__(self, learning_rate, total_steps, decay_steps):
        self.learning_rate, self.total_steps, self.decay_steps = learning_rate, total_steps, decay_steps

    def __call__(self, step):
        start = float(self.total_steps - self.decay_steps)
        frac = tf.clip_by_value((tf.cast(step, tf.float32) - start) / float(max(self.decay_steps, 1)),
                                0.0, 1.0)
        return self.learning_rate * (1.0 - frac)

    def get_config(self):
        return dict(learning_rate=self.learning_rate, total_steps=self.total_steps,
                    decay_steps=self.decay_steps)


def make_optimizer(cfg, total_steps=None):
    """``{name, learning_rate, [decay: "linear_second_half"], **optimizer kwargs}`` -> optimizer.

    ``total_steps`` counts this optimizer's updates (critic updates for the discriminator)."""
    kwargs = dict(cfg)
    cls = lookup(OPTIMIZERS, kwargs.pop("name"), "optimizer")
    decay = kwargs.pop("decay", "none")
    if decay == "linear_second_half":
        kwargs["learning_rate"] = LinearDecay(kwargs["learning_rate"], total_steps, total_steps // 2)
    elif decay != "none":
        raise ValueError(f"optimizer decay must be 'none' or 'linear_second_half', got {decay!r}")
    return cls(**kwargs)


def build(config):
    """The compiled model for ``config``, built under its precision policy (no data needed)."""
    precision = policies.resolve_precision(config.train.precision)
    jit = policies.resolve_jit(config.train.jit_compile)
    # Seeds Python, NumPy, TF and Keras' global generator: unseeded initializers draw from it,
    # so the same seed gives the same initial weights in any process.
    keras.utils.set_random_seed(int(config.train.seed))
    with policies.dtype_policy(precision):
        model = models.build(config.model, seed=config.train.seed)
    steps = int(config.train.steps)
    model.compile(d_optimizer=make_optimizer(config.train.d_optimizer, steps * model.n_critic),
                  g_optimizer=make_optimizer(config.train.g_optimizer, steps), jit_compile=jit)
    model.build_networks()
    return model, precision, jit


def write_samples(model, inputs, path, writer, step):
    picture = model.preview(inputs)
    images.save_png(path, picture)
    with writer.as_default():
        tf.summary.image("samples", picture[None], step=step)


def nonfinite(logs, weights_finite):
    """What went non-finite in a step: the names of bad logs, "the weights", or ""."""
    bad = [k for k, v in logs.items() if not math.isfinite(v)]
    if bad:
        return "the " + ", ".join(bad)
    return "" if bool(weights_finite()) else "the weights"


def pipeline(config, model, stage, seed, jit, skip=0):
    """(batch iterator, compiled train step) for one stage of the run; the data order is a
    function of ``seed`` alone and the first ``skip`` batches are dropped."""
    from ganzoo import data
    data_cfg = config.data.to_dict()
    data_cfg.update((stage or {}).get("data", {}))
    batch_size = (stage or {}).get("batch_size", config.train.batch_size) * model.n_critic
    dataset = data.make(data_cfg, batch_size, seed=seed, skip=skip)
    return iter(dataset), tf.function(model.train_step, jit_compile=jit, reduce_retracing=True)


def runtime_info(precision, jit):
    return dict(precision=precision, jit_compile=jit, device=policies.accelerator(),
                tensorflow=tf.__version__, keras=keras.__version__, ganzoo=ganzoo.__version__,
                python=platform.python_version(), machine=platform.machine(),
                cpu_count=os.cpu_count())


def write_config(config, workdir, runtime):
    path = os.path.join(workdir, "config.json")
    resolved = dict(config.to_dict(), runtime=runtime)
    if os.path.exists(path):
        with open(path) as f:
            before = json.load(f)
        if before.get("model") != json.loads(json.dumps(resolved["model"])):  # tuples -> lists
            raise ValueError(f"{workdir} holds a run of a different model ({before.get('model')}); "
                             "use a new --workdir.")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(resolved, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


class Interrupted(SystemExit):
    """Raised after Ctrl-C / SIGTERM once the checkpoint is saved; exit status 130."""

    def __init__(self, step):
        super().__init__(130)
        self.step = step


class _StopRequests:
    """Ctrl-C / SIGTERM ask the loop to stop at the end of the current step; a second
    Ctrl-C interrupts at once."""

    def __init__(self):
        self.signal = None

    def __call__(self, signum, frame):
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name

    def __enter__(self):
        self.previous = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def run(config, workdir, callbacks=(), stream=None):
    """Train ``config`` in ``workdir`` up to ``config.train.steps``; returns the last logs.
    Raises WorkdirBusy when another trainer holds the workdir."""
    os.makedirs(workdir, exist_ok=True)
    with workdir_lock(workdir):
        return _run(config, workdir, callbacks, stream)


def _run(config, workdir, callbacks, stream):
    if config.train.get("deterministic", False):
        tf.config.experimental.enable_op_determinism()
    model, precision, jit = build(config)
    runtime = runtime_info(precision, jit)
    write_config(config, workdir, runtime)
    log.info("precision=%s jit_compile=%s device=%s", precision, jit, runtime["device"])

    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    seen = tf.Variable(0, dtype=tf.int64, trainable=False, name="images_seen")  # by G steps
    seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_seconds")
    ckpt = tf.train.Checkpoint(step=step, images_seen=seen, train_seconds=seconds,
                               **model.checkpoint_items())
    manager = tf.train.CheckpointManager(ckpt, os.path.join(workdir, "checkpoints"),
                                         max_to_keep=config.train.keep_checkpoints)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log.info("resumed from %s at step %d", manager.latest_checkpoint, int(step))
    start, total, seen_before = int(step), int(config.train.steps), int(seen)

    os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
    writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))
    preview = model.preview_inputs(config, config.train.num_samples)

    def save_samples(at):
        write_samples(model, preview, os.path.join(workdir, "samples", f"step_{at:07d}.png"),
                      writer, at)

    callbacks = keras.callbacks.CallbackList(list(callbacks), model=model)
    weights_finite = tf.function(lambda: tf.reduce_all(
        [tf.reduce_all(tf.math.is_finite(v)) for v in model.trainable_variables]))
    max_retries = int(config.train.get("max_retries", 2))
    logs, retries = {}, 0
    if start < total:
        progress = Progress(total, start, stream=stream)
        t0, at, stage = time.perf_counter(), start, object()
        tick = t0
        with _StopRequests() as stop:
            while at < total:
                if model.stage(at) != stage:
                    stage = model.stage(at)
                    # One data order per run (a retry after divergence shifts it, to draw other
                    # batches), skipped to the step: a resumed run sees what an uninterrupted
                    # one would have seen.
                    batches, train_step = pipeline(config, model, stage,
                                                   config.train.seed + 7919 * retries, jit, skip=at)
                    per_step = (stage or {}).get("batch_size", config.train.batch_size)
                    if stage:
                        log.info("step %d: stage %s", at, stage)
                if stop.signal:
                    manager.save(checkpoint_number=at)
                    progress.update(at, logs, force=True)
                    writer.flush()
                    log.warning("interrupted (%s) at step %d; checkpoint saved, rerun to resume",
                                stop.signal, at)
                    raise Interrupted(at)
                model.before_step(at)
                logs = {k: float(v) for k, v in train_step(next(batches)).items()}
                at += 1
                callbacks.on_train_batch_end(at, logs)
                if model.stop_training:
                    raise Diverged(f"a callback stopped the run at step {at}; the last good "
                                   f"checkpoint is {manager.latest_checkpoint}.")
                bad = nonfinite(logs, weights_finite)
                if bad:
                    last = manager.latest_checkpoint
                    if retries >= max_retries or last is None:
                        raise Diverged(
                            f"{bad} became non-finite at step {at} after {retries} retr"
                            f"{'y' if retries == 1 else 'ies'} (train.max_retries={max_retries}); "
                            f"the last good checkpoint is {last or 'none (no checkpoint yet)'}. "
                            "Lower the learning rates or change the seed, then rerun to resume.")
                    retries += 1
                    ckpt.restore(last).assert_existing_objects_matched()
                    log.warning("%s became non-finite at step %d: restored %s, retry %d of %d "
                                "with other batches and noise", bad, at, last, retries, max_retries)
                    at = int(step)
                    model.seed_generator.state.assign_add(
                        tf.constant([0, 7919], model.seed_generator.state.dtype))
                    stage = object()  # remake the pipeline with the shifted seed
                    tick = time.perf_counter()
                    continue
                step.assign(at)
                seen.assign_add(per_step)
                seconds.assign_add(time.perf_counter() - tick)
                tick = time.perf_counter()
                progress.update(at, logs)
                if at % config.train.log_every == 0 or at == total:
                    with writer.as_default():
                        for k, v in logs.items():
                            tf.summary.scalar(k, v, step=at)
                    model.reset_metrics()
                if at % config.train.sample_every == 0:
                    save_samples(at)
                if at % config.train.checkpoint_every == 0:
                    manager.save(checkpoint_number=at)
        elapsed = time.perf_counter() - t0
        progress.update(at, logs, force=True)
        if at > start:
            log.info("%d steps in %.1fs: %.1f images/s (generator batches); %d images seen, "
                     "%.0fs of training in all", at - start, elapsed,
                     (int(seen) - seen_before) / elapsed, int(seen), float(seconds))
        if at % config.train.checkpoint_every:  # else the schedule has just saved it
            manager.save(checkpoint_number=at)
        if at % config.train.sample_every:
            save_samples(at)
    writer.flush()
    if config.train.export:
        if not bool(weights_finite()):  # never hand out a NaN generator
            raise Diverged(f"the weights are non-finite at step {int(step)}; not exporting")
        model.export(os.path.join(workdir, "export"),
                     metadata=dict(step=int(step), images_seen=int(seen),
                                   train_seconds=round(float(seconds), 1), runtime=runtime,
                                   config=config.to_dict()))
    return logs
