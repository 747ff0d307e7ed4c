"""ganzoo's default DCGAN path against the same net in PyTorch (CPU build) under bf16 autocast.

    python benchmarks/run.py --only=torch [--quick]

PyTorch is optional (``pip install -e '.[bench]'``); without it the part is skipped. The
PyTorch net (benchmarks/torch_dcgan.py) mirrors ganzoo's layer for layer, and the part refuses
to run unless both have the same trainable and non-trainable parameter counts. PyTorch is
timed in both memory layouts, NCHW (contiguous) and channels_last, and the goal is checked
against the faster; PyTorch float32 is timed too, for reference. All run in one process on
the same MNIST batch, interleaved block by block (while one framework runs, the other's
threads sleep).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common, flops, keras_reference  # noqa: E402

GOAL = 1.2


def available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def settings(quick):
    return dict(batch=128, repeats=3 if quick else 7, block_s=0.15 if quick else 0.7)


def check_same_params(keras_model, torch_model):
    """Both nets' (trainable, non-trainable) parameter counts; AssertionError if they differ."""
    from benchmarks import torch_dcgan
    counts = {}
    for name, k, t in (("generator", keras_model.generator, torch_model.generator),
                       ("discriminator", keras_model.discriminator, torch_model.discriminator)):
        kc, tc = flops.keras_param_counts(k), torch_dcgan.param_counts(t)
        if tuple(kc) != tuple(tc):
            raise AssertionError(f"{name}: Keras has (trainable, non-trainable) = {kc} "
                                 f"parameters, the PyTorch mirror {tc}")
        counts[name] = dict(trainable=kc[0], non_trainable=kc[1])
    return counts


def run(quick=False, batch=None, repeats=None):
    if not available():
        return dict(skipped="torch is not installed: pip install -e '.[bench]' "
                            "(or pip install torch==2.13.0)")
    import torch

    from benchmarks import torch_dcgan
    s = settings(quick)
    batch, repeats = batch or s["batch"], repeats or s["repeats"]
    x, what = common.mnist_images(batch)
    model, ours, precision, jit = keras_reference.ganzoo_dcgan(batch)
    m = keras_reference.dcgan_config(batch).model
    torch_runs = {}
    for name, prec, cl in (("torch_bf16", "bfloat16", False),
                           ("torch_bf16_channels_last", "bfloat16", True),
                           ("torch_float32", "float32", False)):
        net = torch_dcgan.TorchDCGAN(m.latent_dim, m.resolution, m.channels, m.width,
                                     precision=prec, channels_last=cl)
        real = net.images(x)
        net.block(real, 2)  # warm up (oneDNN primitive caches)
        torch_runs[name] = (net, real)
    params = check_same_params(model, torch_runs["torch_bf16"][0])
    one = common.time_call(lambda: ours(1))
    steps = common.steps_for(one, s["block_s"])
    blocks = {"ganzoo": lambda: ours(steps)}
    for name, (net, real) in torch_runs.items():
        blocks[name] = (lambda n, r: lambda: n.block(r, steps))(net, real)
    times = common.interleave(blocks, repeats)
    per_step = {k: [t / steps for t in v] for k, v in times.items()}
    med = {k: common.median(v) for k, v in per_step.items()}
    best = min(("torch_bf16", "torch_bf16_channels_last"), key=med.get)
    rows = {"ganzoo": dict(what=f"ganzoo default path (XLA {'on' if jit else 'off'})",
                           precision=precision)}
    rows["torch_bf16"] = dict(what="PyTorch, NCHW", precision="bf16 autocast")
    rows["torch_bf16_channels_last"] = dict(what="PyTorch, channels_last",
                                            precision="bf16 autocast")
    rows["torch_float32"] = dict(what="PyTorch, NCHW", precision="float32")
    for k, row in rows.items():
        row.update(s_per_step=med[k], images_per_s=batch / med[k],
                   ganzoo_speedup=med[k] / med["ganzoo"])
    speedup = med[best] / med["ganzoo"]
    return dict(
        what=f"DCGAN 28x28x1, batch {batch} of {what}, {steps} step(s) x {repeats} interleaved "
             "blocks, medians",
        batch=batch, steps=steps, repeats=repeats, rows=rows, torch_best=best,
        torch_threads=torch.get_num_threads(), params=params, speedup=speedup, goal=GOAL,
        met=speedup >= GOAL, paired=common.paired_ratios(per_step[best], per_step["ganzoo"]),
        raw=per_step)
