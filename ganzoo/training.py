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
import re
import shutil
import signal
import socket
import tempfile
import time

import keras
import tensorflow as tf

import ganzoo
from ganzoo import images, models, policies
from ganzoo.errors import one_line
from ganzoo.lookup import lookup
from ganzoo.progress import Progress

log = logging.getLogger("ganzoo")

OPTIMIZERS = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
              "sgd": keras.optimizers.SGD}


class Diverged(RuntimeError):
    pass


class WorkdirBusy(RuntimeError):
    pass


class DamagedCheckpoint(RuntimeError):
    pass


def _checkpoint_files_exist(path):
    return bool(path) and tf.io.gfile.exists(path + ".index")


def resume_point(manager):
    """The newest checkpoint whose files are there: after a damaged latest checkpoint was
    deleted, the one before it. None for a fresh run."""
    latest = manager.latest_checkpoint
    if latest is None or _checkpoint_files_exist(latest):
        return latest
    for path in reversed(manager.checkpoints):
        if _checkpoint_files_exist(path):
            log.warning("%s is missing; resuming from %s", latest, path)
            return path
    raise DamagedCheckpoint(
        f"{manager.directory}/checkpoint names {latest}, but no checkpoint files are there; "
        f"delete {manager.directory} to start over, or use a new --workdir")


def restore(ckpt, path, manager):
    """``ckpt.restore(path)``; a truncated or corrupted checkpoint is an error that names it
    and says what to do, instead of TensorFlow's reader error."""
    try:
        return ckpt.restore(path)
    except (tf.errors.OpError, IndexError, ValueError) as e:
        text = re.sub(r"^\{\{[^}]*\}\}\s*", "", one_line(getattr(e, "message", None) or e))
        older = [p for p in manager.checkpoints if p != path and _checkpoint_files_exist(p)]
        then = (f"to resume from {os.path.basename(older[-1])}" if older
                else "to start over (it is the only one)")
        raise DamagedCheckpoint(
            f"checkpoint {path} is damaged or incomplete ({text}); delete its files "
            f"({path}.*) {then}, or use a new --workdir") from e


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


_strategies = {}  # one per name per process: MultiWorkerMirroredStrategy can be made only once


def _tpu_strategy():
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise RuntimeError(f"train.strategy=tpu: no TPU found ({one_line(e)}); run on a TPU VM "
                           "(or set TPU_NAME), or use --config.train.strategy=default|mirrored") from e
    return tf.distribute.TPUStrategy(resolver)


STRATEGIES = {"default": lambda: None, "mirrored": tf.distribute.MirroredStrategy,
              "multi_worker": tf.distribute.MultiWorkerMirroredStrategy, "tpu": _tpu_strategy}
RETRY_SHIFT = 7919  # a retry after divergence shifts the data seed and the noise RNG by this


def make_strategy(name):
    """The ``tf.distribute`` strategy ``train.strategy`` names; None for "default", which is
    the plain single-device path (no strategy, no ``strategy.run``)."""
    name = name or "default"
    maker = lookup(STRATEGIES, name, "train.strategy")
    if name not in _strategies:
        _strategies[name] = maker()
        if _strategies[name] is not None:
            log.info("strategy=%s: %d replicas in sync", name,
                     _strategies[name].num_replicas_in_sync)
    return _strategies[name]


def task(strategy):
    """(task_type, task_id) of this process in a multi-worker cluster, else (None, 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return None, 0
    return resolver.task_type, resolver.task_id or 0


def is_chief(strategy):
    """Whether this process writes the run's files: always, except on a multi-worker
    cluster, where the "chief" task does (or worker 0 when the cluster has no chief)."""
    task_type, task_id = task(strategy)
    if task_type in (None, "chief"):
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def build(config, strategy=None):
    """The compiled model for ``config``, built under its precision policy (no data needed);
    with a ``strategy`` (see ``make_strategy``) the model and both optimizers are made in its
    scope."""
    if strategy is not None:
        with strategy.scope():
            return _build(config)
    return _build(config)


def _build(config):
    variant = config.model.get("variant")
    precision = policies.resolve_precision(config.train.precision, variant)
    jit = policies.resolve_jit(config.train.jit_compile, variant)
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


def pipeline(config, model, stage, seed, jit, skip=0, strategy=None):
    """(batch iterator, compiled train step) for one stage of the run; the data order is a
    function of ``seed`` alone and the first ``skip`` batches are dropped. With a
    ``strategy`` the global batches are split over its replicas and the step runs on each."""
    from ganzoo import data
    data_cfg = config.data.to_dict()
    data_cfg.update((stage or {}).get("data", {}))
    batch_size = (stage or {}).get("batch_size", config.train.batch_size) * model.n_critic
    dataset = data.make(data_cfg, batch_size, seed=seed, skip=skip)
    if model.conditional:
        dataset = dataset.map(_label_check(model.num_classes))
    if strategy is not None:
        return _distributed(strategy, dataset, data_cfg["source"], model, batch_size, jit)
    return (_batches(dataset, data_cfg["source"]),
            tf.function(model.train_step, jit_compile=jit, reduce_retracing=True))


def _label_check(num_classes):
    """Labels outside [0, num_classes) would index past the embedding with a cryptic error."""
    message = (f"data labels must be in [0, model.num_classes = {num_classes}): set "
               f"model.num_classes to the number of classes in the data")

    def check(images, labels):
        with tf.control_dependencies([
                tf.debugging.assert_non_negative(labels, message=message),
                tf.debugging.assert_less(labels, tf.cast(num_classes, labels.dtype),
                                         message=message)]):
            return images, tf.identity(labels)
    return check


def _per_replica_order(x, n_critic, replicas):
    """Reorder a global batch of ``n_critic`` minibatches [k * R * m] to [R, k, m]: after the
    strategy hands replica r the r-th contiguous slice, its critic step i sees the r-th part
    of minibatch i, exactly the rows one device would use in critic step i."""
    grouped = tf.reshape(x, tf.concat([[n_critic, replicas, -1], tf.shape(x)[1:]], 0))
    swapped = tf.transpose(grouped, [1, 0] + list(range(2, x.shape.rank + 2)))
    return tf.ensure_shape(tf.reshape(swapped, tf.shape(x)), x.shape)


def _distributed(strategy, dataset, source, model, batch_size, jit):
    replicas, k = strategy.num_replicas_in_sync, model.n_critic
    if (batch_size // k) % replicas:
        raise ValueError(f"train.batch_size={batch_size // k} does not split over the "
                         f"{replicas} replicas of the strategy; use a multiple of {replicas}")
    if k > 1 and replicas > 1:
        dataset = dataset.map(lambda *e: tf.nest.map_structure(
            lambda x: _per_replica_order(x, k, replicas), e if len(e) > 1 else e[0]))
    devices = strategy.extended.worker_devices
    if jit and len(devices) > 1 and all("CPU" in d.upper() for d in devices):
        raise ValueError(
            f"train.jit_compile=true with {len(devices)} replicas on logical CPU devices: XLA "
            "cannot reach a variable placed on another logical CPU (a TensorFlow limitation, "
            "keras-team/keras#19005); use train.jit_compile=false (or auto) on CPU")
    replica_step = tf.function(model.train_step, jit_compile=True) if jit else model.train_step

    def step(batch):
        logs = strategy.run(replica_step, args=(batch,))
        # Each replica's logs are its trackers' means over equal shares of the batch.
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for k, v in logs.items()}
    return (_batches(strategy.experimental_distribute_dataset(dataset), source),
            tf.function(step, reduce_retracing=True))


def _batches(dataset, source):
    """The dataset's batches; running dry (no image decoded) is an error naming the source,
    not a bare StopIteration inside the loop."""
    yield from dataset
    raise ValueError(f"data.source {source} gave no images: none decoded (see the warnings "
                     "above); replace or remove the broken files, or point data.source elsewhere")


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
    Raises WorkdirBusy when another trainer holds the workdir.

    Under ``train.strategy=multi_worker`` every worker runs this with the same workdir: the
    chief writes it (and holds its lock); the others restore from it and write their
    checkpoints, TensorBoard logs and export to a temporary folder that is removed after."""
    strategy = make_strategy(config.train.get("strategy", "default"))
    os.makedirs(workdir, exist_ok=True)
    if is_chief(strategy):
        with workdir_lock(workdir):
            return _run(config, workdir, callbacks, stream, strategy)
    task_type, task_id = task(strategy)
    scratch = tempfile.mkdtemp(prefix=f"ganzoo-{task_type}{task_id}-")
    try:
        return _run(config, workdir, callbacks, stream, strategy, write_dir=scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(config, workdir, callbacks, stream, strategy=None, write_dir=None):
    chief = write_dir is None
    write_dir = workdir if chief else write_dir
    if config.train.get("deterministic", False):
        tf.config.experimental.enable_op_determinism()
    model, precision, jit = build(config, strategy)
    runtime = runtime_info(precision, jit)
    if strategy is not None:
        runtime.update(strategy=config.train.strategy, replicas=strategy.num_replicas_in_sync)
    write_config(config, write_dir, runtime)
    log.info("precision=%s jit_compile=%s device=%s", precision, jit, runtime["device"])

    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    seen = tf.Variable(0, dtype=tf.int64, trainable=False, name="images_seen")  # by G steps
    seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_seconds")
    ckpt = tf.train.Checkpoint(step=step, images_seen=seen, train_seconds=seconds,
                               **model.checkpoint_items())
    manager = tf.train.CheckpointManager(ckpt, os.path.join(write_dir, "checkpoints"),
                                         max_to_keep=config.train.keep_checkpoints)
    # Every worker resumes from the chief's checkpoints.
    chief_manager = manager if chief else tf.train.CheckpointManager(
        ckpt, os.path.join(workdir, "checkpoints"), max_to_keep=config.train.keep_checkpoints)
    resume = resume_point(chief_manager)
    if resume:
        restore(ckpt, resume, chief_manager).assert_existing_objects_matched()
        log.info("resumed from %s at step %d", resume, int(step))
    start, total, seen_before = int(step), int(config.train.steps), int(seen)

    os.makedirs(os.path.join(write_dir, "samples"), exist_ok=True)
    writer = tf.summary.create_file_writer(os.path.join(write_dir, "tensorboard"))
    preview = model.preview_inputs(config, config.train.num_samples)

    def save_samples(at):
        if not chief:
            return
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
                                                   config.train.seed + RETRY_SHIFT * retries, jit,
                                                   skip=at,
                                                   strategy=strategy)
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
                    restore(ckpt, last, manager).assert_existing_objects_matched()
                    log.warning("%s became non-finite at step %d: restored %s, retry %d of %d "
                                "with other batches and noise", bad, at, last, retries, max_retries)
                    at = int(step)
                    model.seed_generator.state.assign_add(
                        tf.constant([0, RETRY_SHIFT], model.seed_generator.state.dtype))
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
        model.export(os.path.join(write_dir, "export"),
                     metadata=dict(step=int(step), images_seen=int(seen),
                                   train_seconds=round(float(seconds), 1), runtime=runtime,
                                   config=config.to_dict()))
    return logs
