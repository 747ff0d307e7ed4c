"""Sampling from the shipped SavedModels: latency for 1 and 64 images, and images/s.

    python benchmarks/run.py --only=sampling [--quick]

Each model under saved_models/NAME/VERSION (the highest version) is loaded with plain
``tf.saved_model.load``, as a user without ganzoo would, and its signatures are called:
``sample(num_samples, seed[, labels])`` (noise drawn in the graph) and
``serving_default(z[, labels])`` for noise models; ``translate_a2b(images)`` on uint8 images
for CycleGAN. The first call of each is untimed (warm-up); calls for all models and sizes
are then interleaved round-robin and each latency is the median. Latency includes fetching
the uint8 images to NumPy.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

SIZES = (1, 64)
QUICK_MODELS = ("dcgan_mnist", "cgan_mnist", "cyclegan_face2genshin")


def settings(quick):
    return dict(repeats=3 if quick else 10, models=QUICK_MODELS if quick else None)


def shipped(root=None):
    """{name: path of its highest version} of every SavedModel under saved_models/."""
    root = root or os.path.join(common.ROOT, "saved_models")
    found = {}
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        if not os.path.isdir(os.path.join(root, name)):
            continue
        versions = [v for v in os.listdir(os.path.join(root, name)) if v.isdigit()]
        if versions:
            path = os.path.join(root, name, max(versions, key=int))
            if os.path.exists(os.path.join(path, "saved_model.pb")):
                found[name] = path
    return found


def calls(module, n):
    """{signature name: callable making n images} for one loaded SavedModel."""
    info = json.loads(module.info.numpy().decode())
    sigs = module.signatures
    if info.get("kind") == "translation":
        r, c = int(info["resolution"]), int(info["channels"])
        images = tf.constant(np.random.default_rng(0).integers(0, 256, (n, r, r, c), np.uint8))
        fn = sigs["translate_a2b"]
        return {"translate_a2b": lambda: fn(images=images)["images"].numpy()}, info
    k = int(info.get("num_classes") or 0)
    labels = dict(labels=tf.constant(np.arange(n) % k, tf.int32)) if k else {}
    z = tf.random.stateless_normal([n, int(info["latent_dim"])], seed=[0, 1])
    num, seed = tf.constant(n, tf.int32), tf.constant(0, tf.int64)
    sample, serve = sigs["sample"], sigs["serving_default"]
    return {"sample": lambda: sample(num_samples=num, seed=seed, **labels)["images"].numpy(),
            "serving_default": lambda: serve(z=z, **labels)["images"].numpy()}, info


def run(quick=False, repeats=None):
    s = settings(quick)
    repeats = repeats or s["repeats"]
    models = shipped()
    if s["models"]:
        models = {k: v for k, v in models.items() if k in s["models"]}
    if not models:
        return dict(skipped="no SavedModels under saved_models/")
    blocks, meta = {}, {}
    for name, path in models.items():
        t = common.clock()
        module = tf.saved_model.load(path)
        load_s = common.clock() - t
        for n in SIZES:
            fns, info = calls(module, n)
            for sig, fn in fns.items():
                fn()  # warm up
                blocks[(name, sig, n)] = fn
        meta[name] = dict(kind=info.get("kind", "noise"), resolution=info.get("resolution"),
                          channels=info.get("channels"), load_s=load_s,
                          version=os.path.basename(path))
    times = common.interleave(blocks, repeats)
    rows = []
    for (name, sig, n), ts in times.items():
        med = common.median(ts)
        rows.append(dict(model=name, signature=sig, images=n, latency_ms=1000 * med,
                         images_per_s=n / med, **{k: meta[name][k] for k in
                                                  ("kind", "resolution", "version")}))
    return dict(what=f"tf.saved_model.load; {repeats} interleaved calls per model, signature "
                     "and size; medians", repeats=repeats, rows=rows,
                models={k: dict(v) for k, v in meta.items()})
