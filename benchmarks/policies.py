"""Train-step throughput of each precision / XLA policy, as ratios to float32 without XLA.

    python benchmarks/policies.py [--variant dcgan] [--dataset mnist] [--batch 64] [--repeats 5]

All policies are timed in one process, interleaved round-robin so that load from other
work on the machine hits each alike; each ratio is the median over repeats.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ganzoo import training  # noqa: E402
from helpers import load_config  # noqa: E402

POLICIES = [("float32", "false"), ("float32", "true"), ("mixed_bfloat16", "false"),
            ("mixed_float16", "false"), ("mixed_bfloat16", "true")]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--variant", default="dcgan")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10, help="steps per timed block")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    runs = {}
    for precision, jit in POLICIES:
        config = load_config(args.variant, args.dataset)
        config.train.precision, config.train.jit_compile = precision, jit
        config.train.batch_size = args.batch
        model, _, jit_on = training.build(config)
        m = config.model
        n = args.batch * model.n_critic
        x = tf.constant(np.random.uniform(-1, 1, (n, m.resolution, m.resolution, m.channels)),
                        tf.float32)
        batch = (x, tf.zeros([n], tf.int32)) if model.conditional else x
        step = tf.function(model.train_step, jit_compile=jit_on)
        for _ in range(3):  # trace, compile, warm up
            step(batch)["loss"].numpy()
        runs[(precision, jit)] = (step, batch)
    times = {k: [] for k in runs}
    for _ in range(args.repeats):
        for key, (step, batch) in runs.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                out = step(batch)
            out["loss"].numpy()
            times[key].append((time.perf_counter() - t) / args.steps)
    ref = statistics.median(times[POLICIES[0]])
    rows = []
    for (precision, jit), ts in times.items():
        med = statistics.median(ts)
        rows.append(dict(precision=precision, jit_compile=jit, median_step_s=round(med, 4),
                         images_per_s=round(args.batch / med, 1), speed_vs_float32=round(ref / med, 2)))
    print(json.dumps(dict(variant=args.variant, dataset=args.dataset, batch=args.batch,
                          repeats=args.repeats, steps=args.steps, machine=platform.machine(),
                          cpus=os.cpu_count(), tensorflow=tf.__version__, rows=rows), indent=1))


if __name__ == "__main__":
    main()
