"""Input pipeline overhead: ganzoo's real training step fed by ``data.make`` from a folder of
real images, against the same compiled step fed one in-memory batch over and over.

    python benchmarks/run.py --only=pipeline [--quick]

The folder is a temporary copy of the first images of each CIFAR-10 class (``folder:`` source,
decoded by content, centre-cropped and resized as in training), trained with the
``dcgan.py:cifar10`` config on its default path. Two pipelines are timed: the config's default
(``data.cache`` on: files are decoded in the first epoch, later epochs come from the in-memory
cache, then shuffle, batch, scale, prefetch) and ``cache`` off (every image read and decoded
again every epoch, on the same 2 cores as the training). Without CIFAR-10 the folder holds
MNIST digits (or random pixels) written as PNGs, trained with ``dcgan.py:mnist``.

Every block first runs ``warm`` untimed steps, so that batches prefetched while another
contender ran are used up before the timed steps: the folder pipeline gets no head start.
overhead = 1 - (folder images/s) / (memory images/s).
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ganzoo import training  # noqa: E402
from helpers import load_config  # noqa: E402

GOAL = 0.05  # at most 5% slower than in-memory data


def settings(quick):
    return dict(per_class=16 if quick else 256, batch=32 if quick else 128,
                repeats=3 if quick else 7, block_s=0.15 if quick else 0.7, warm=2 if quick else 5)


def write_folder(root, per_class):
    """A class-per-subfolder image folder under ``root``; returns (dataset preset, what)."""
    cifar = os.path.join(common.data_root(), "cifar10", "train")
    if os.path.isdir(cifar):
        for cls in sorted(os.listdir(cifar)):
            src = os.path.join(cifar, cls)
            if not os.path.isdir(src):
                continue
            os.makedirs(os.path.join(root, cls))
            for name in sorted(os.listdir(src))[:per_class]:
                shutil.copyfile(os.path.join(src, name), os.path.join(root, cls, name))
        n = sum(len(files) for _, _, files in os.walk(root))
        return "cifar10", f"{n} CIFAR-10 JPEGs (32x32 RGB, {per_class} per class)"
    from PIL import Image
    x, what = common.mnist_images(per_class * 10)
    pixels = np.round((x[..., 0] + 1.0) * 127.5).astype(np.uint8)
    for i, image in enumerate(pixels):
        folder = os.path.join(root, f"class{i % 10}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(image).save(os.path.join(folder, f"{i:05d}.png"))
    return "mnist", (f"{len(pixels)} PNGs of {what} (no ../shared/data/cifar10: MNIST written "
                     "as PNGs)")


def run(quick=False, repeats=None):
    s = settings(quick)
    repeats = repeats or s["repeats"]
    root = tempfile.mkdtemp(prefix="ganzoo-bench-folder-")
    try:
        dataset, what = write_folder(root, s["per_class"])
        config = load_config("dcgan", dataset)
        config.data.source = f"folder:{root}"
        config.train.batch_size = s["batch"]
        model, precision, jit = training.build(config)
        feeds = {}
        for name, cache in (("folder", True), ("folder_no_cache", False)):
            config.data.cache = cache
            feeds[name] = training.pipeline(config, model, None, config.train.seed, jit)
        batches, step = feeds["folder"]
        memory = tf.constant(next(batches))  # one real batch, held in memory
        sources = {"memory": (iter(lambda: memory, None), step), **feeds}
        n_images = sum(len(f) for _, _, f in os.walk(root))
        epoch = n_images // s["batch"]
        for name, (it, fn) in sources.items():  # trace; fill the cache (one epoch and a bit)
            for _ in range(epoch + 2 if name == "folder" else 2):
                out = fn(next(it))
            float(out["loss"])
        one = common.time_call(lambda: float(step(memory)["loss"]))
        steps, warm = common.steps_for(one, s["block_s"]), s["warm"]

        def block(it, fn):
            def run_block():
                for _ in range(warm):
                    out = fn(next(it))
                float(out["loss"])
                t = common.clock()
                for _ in range(steps):
                    out = fn(next(it))
                float(out["loss"])
                return common.Measured(common.clock() - t)
            return run_block

        times = common.interleave({k: block(*v) for k, v in sources.items()}, repeats)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    per_step = {k: [t / steps for t in v] for k, v in times.items()}
    med = {k: common.median(v) for k, v in per_step.items()}
    rows = {
        "memory": dict(what="one real batch held in memory (tf.constant), repeated"),
        "folder": dict(what="data.make from the folder, the config's default (cache on)"),
        "folder_no_cache": dict(what="data.make from the folder, data.cache=False (decode "
                                     "every image every epoch)"),
    }
    for k, row in rows.items():
        row.update(s_per_step=med[k], images_per_s=s["batch"] / med[k],
                   overhead=1.0 - med["memory"] / med[k])
    overhead = rows["folder"]["overhead"]
    return dict(
        what=f"DCGAN ({dataset} config, {precision}, XLA {'on' if jit else 'off'}), batch "
             f"{s['batch']}, folder of {what}; {warm} untimed + {steps} timed step(s) x "
             f"{repeats} interleaved blocks, medians",
        batch=s["batch"], steps=steps, warm=warm, repeats=repeats, rows=rows,
        overhead=overhead, goal=GOAL, met=overhead <= GOAL,
        paired=common.paired_ratios(per_step["folder"], per_step["memory"]), raw=per_step)
