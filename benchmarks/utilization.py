"""Achieved GFLOP/s of ganzoo's DCGAN training step against the measured peak of a large
``tf.matmul`` on the same machine, in the same run.

    python benchmarks/run.py --only=flops [--quick]

FLOPs of a step: the analytic count of benchmarks/flops.py (Dense/Conv2D/Conv2DTranspose from
layer shapes, forward 2 x multiply-adds, backward = weight gradients of the trained net +
input gradients; BN, activations, losses and Adam not counted). TensorFlow's own graph
profiler cannot count this step: the noise batch has a dynamic size, and it counts only ops
with fully known shapes. Peak: [n, n] x [n, n] matmuls in float32 and in bfloat16, 2 n^3 FLOPs
each. The default path (mixed_bfloat16 on a bf16 CPU) is held against the bf16 peak, float32
against the float32 peak. Steps and matmuls are interleaved block by block; medians. In a full
run the default path is also timed at other batch sizes, to show how much of the gap is
per-step overhead (it shrinks with the batch) and how much the kernels themselves.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common, flops, keras_reference  # noqa: E402

import tensorflow as tf  # noqa: E402

GOAL = 0.40  # of the matmul peak


def settings(quick):
    return dict(batch=128, extra_batches=() if quick else (32, 512), n=1024 if quick else 4096,
                repeats=3 if quick else 7, block_s=0.15 if quick else 0.7)


def run(quick=False, repeats=None):
    s = settings(quick)
    repeats = repeats or s["repeats"]
    steps_to_time = {}  # name: (block(steps), flops per step, dtype of its peak, batch)
    model, block, precision, jit = keras_reference.ganzoo_dcgan(s["batch"])
    peak_dtype = "bfloat16" if precision == "mixed_bfloat16" else "float32"
    count = flops.gan_step_flops(model.generator, model.discriminator, s["batch"])
    steps_to_time["default"] = (block, count["total"], peak_dtype, s["batch"], precision)
    if precision != "float32":
        _, block32, _, _ = keras_reference.ganzoo_dcgan(s["batch"], "float32", "false")
        steps_to_time["float32"] = (block32, count["total"], "float32", s["batch"], "float32")
    for b in s["extra_batches"]:
        m, blk, p, _ = keras_reference.ganzoo_dcgan(b)
        steps_to_time[f"default_batch{b}"] = (
            blk, flops.gan_step_flops(m.generator, m.discriminator, b)["total"], peak_dtype, b, p)
    blocks, per_block_flops, calls = {}, {}, {}
    for name, (blk, f, _, _, _) in steps_to_time.items():
        k = common.steps_for(common.time_call(lambda: blk(1)), s["block_s"])
        blocks[name] = (lambda b, k: lambda: b(k))(blk, k)
        per_block_flops[name], calls[name] = k * f, k
    for dtype in ("float32", "bfloat16"):
        mm, f1 = flops.matmul_block(s["n"], getattr(tf, dtype), 1)
        k = common.steps_for(common.time_call(mm), s["block_s"])
        mm, fk = flops.matmul_block(s["n"], getattr(tf, dtype), k)
        blocks[f"matmul_{dtype}"], per_block_flops[f"matmul_{dtype}"] = mm, fk
        calls[f"matmul_{dtype}"] = k
    times = common.interleave(blocks, repeats)
    gflops = {k: per_block_flops[k] / common.median(v) / 1e9 for k, v in times.items()}
    peaks = {d: gflops[f"matmul_{d}"] for d in ("float32", "bfloat16")}
    rows = {}
    for name, (_, f, dtype, batch, prec) in steps_to_time.items():
        rows[name] = dict(precision=prec, batch=batch, gflop_per_step=f / 1e9,
                          s_per_step=common.median(times[name]) / calls[name],
                          gflops=gflops[name], peak_dtype=dtype,
                          fraction_of_peak=gflops[name] / peaks[dtype])
    fraction = rows["default"]["fraction_of_peak"]
    return dict(
        what=f"DCGAN 28x28x1 on MNIST shapes; matmul {s['n']}x{s['n']}; {repeats} "
             "interleaved blocks, medians",
        flop_count=count, matmul_n=s["n"], peaks_gflops=peaks, rows=rows,
        fraction=fraction, goal=GOAL, met=fraction >= GOAL,
        raw={k: [per_block_flops[k] / t / 1e9 for t in v] for k, v in times.items()})
