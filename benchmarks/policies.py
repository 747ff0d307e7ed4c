"""Train-step throughput of every variant under each precision policy and XLA setting, as
ratios to float32 without XLA, and whether ``auto`` picks the fastest.

    python benchmarks/policies.py [--variants dcgan,gan] [--quick]
    (also part "policies" of python benchmarks/run.py)

Per variant, all policies are timed in one process, interleaved round-robin, so that load from
other work on the machine hits each alike; each time is the median over the rounds. Shapes are
each variant's zoo config at a size that keeps the table to a few minutes (see SETUPS); a
policy whose single step takes longer than ``slow_s`` is timed once and not repeated.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ganzoo import policies, training  # noqa: E402
from ganzoo.errors import one_line  # noqa: E402
from helpers import load_config, tiny_config  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
COMBOS = [(p, x) for p in PRECISIONS for x in (False, True)]
VARIANTS = ("gan", "cgan", "dcgan", "wgan", "wgan_gp", "progan", "cyclegan")
QUICK_VARIANTS = ("gan", "dcgan")  # --quick: enough to show the part works
# mixed_float16 without XLA runs on Eigen's generic half-precision CPU kernels (no oneDNN):
# measured 0.01x-0.05x float32 for the conv nets. It is not timed where that would make one
# step take longer than f16_skip_s; the row says so.
F16_SLOWDOWN = 40

# What each variant is timed on in a full run: its zoo config (dataset), optionally shrunk.
SETUPS = {
    "gan": dict(dataset="mnist", what="MLP 28x28x1, batch 64"),
    "cgan": dict(dataset="mnist", what="MLP 28x28x1 + labels, batch 64"),
    "dcgan": dict(dataset="mnist", what="conv 28x28x1, batch 128"),
    "wgan": dict(dataset="mnist", what="conv 28x28x1, batch 64 x 5 critic steps"),
    "wgan_gp": dict(dataset="cifar10", batch=32,
                    what="conv 32x32x3, batch 32 x 5 critic steps (config: 64)"),
    "progan": dict(dataset="celeba", resolution=16,
                   what="celeba config at its 16x16 fade-in stage, batch 32"),
    "cyclegan": dict(dataset="face2genshin", resolution=32, batch=2,
                     what="face2genshin config (ngf=ndf=32, 6 blocks) at 32x32, batch 2 "
                          "(config: 64x64, batch 4)"),
}


def variant_config(variant, quick):
    """The config a variant is timed with, and the description of its shapes."""
    setup = SETUPS[variant]
    if variant == "progan":
        config = load_config("progan", "celeba")
        if quick:
            m = config.model
            m.max_resolution, m.latent_dim, m.fmap_base, m.fmap_max = 8, 8, 32, 8
            m.images_per_phase, m.batch_sizes = 8, (4, 2)
            return config, "tiny: 8x8 fade-in, 8 channels, batch 2"
        return config, setup["what"]
    if variant == "cyclegan":
        config = load_config("cyclegan", "face2genshin")
        r = 16 if quick else setup["resolution"]
        config.model.resolution = config.data.resolution = r
        if quick:
            config.model.update(ngf=4, ndf=4, n_blocks=1)
        config.train.batch_size = 1 if quick else setup["batch"]
        return config, "tiny: 16x16, ngf=ndf=4, 1 block, batch 1" if quick else setup["what"]
    if quick:
        return tiny_config(variant), "tiny: 8x8x1, width 4, batch 2"
    config = load_config(variant, setup["dataset"])
    if "batch" in setup:
        config.train.batch_size = setup["batch"]
    return config, setup["what"]


def _progan_step(model, resolution):
    """A step half-way through the fade-in to ``resolution`` (alpha about 0.5)."""
    phase = next((p for p in model.schedule.phases if p.resolution == resolution and p.fading),
                 model.schedule.phases[-1])
    return phase.first_step + phase.steps // 2


def fake_data(variant, model, config, seed=0):
    """(batch, generator images per step) of random pixels shaped like the variant's data."""
    rng = np.random.default_rng(seed)
    m = config.model
    if variant == "progan":
        target = 8 if model.max_resolution <= 8 else SETUPS["progan"]["resolution"]
        at = _progan_step(model, target)
        model.before_step(at)
        state = model.schedule.at(at)
        r, n = state.resolution, state.batch_size
        x = rng.uniform(-1, 1, (n, r, r, m.channels))
        return tf.constant(x, tf.float32), n
    n = config.train.batch_size
    if variant == "cyclegan":
        shape = (n, m.resolution, m.resolution, m.channels)
        pair = (tf.constant(rng.uniform(-1, 1, shape), tf.float32),
                tf.constant(rng.uniform(-1, 1, shape), tf.float32))
        return pair, n
    shape = (n * model.n_critic, m.resolution, m.resolution, m.channels)
    x = tf.constant(rng.uniform(-1, 1, shape), tf.float32)
    if model.conditional:
        return (x, tf.constant(rng.integers(0, model.num_classes, shape[0]), tf.int32)), n
    return x, n


def make_step(variant, precision, jit, quick=False):
    """(block(steps), images per step, description): the variant's compiled train step under
    one policy, on one batch held in memory, traced and run once."""
    config, what = variant_config(variant, quick)
    config.train.precision, config.train.jit_compile = precision, str(bool(jit)).lower()
    model, _, jit_on = training.build(config)
    data, images = fake_data(variant, model, config)
    step = tf.function(model.train_step, jit_compile=jit_on, reduce_retracing=True)

    def block(steps):
        out = None
        for _ in range(steps):
            out = step(data)
        float(out["loss"])
    return block, images, what


def auto_choice(variant=None):
    """(precision, jit) that ``auto`` resolves to on this machine for ``variant``."""
    return policies.resolve_precision("auto", variant), policies.resolve_jit("auto", variant)


def settings(quick):
    return dict(repeats=3 if quick else 5, block_s=0.1 if quick else 0.4,
                slow_s=2.0 if quick else 3.0, f16_skip_s=2.0 if quick else 6.0)


def run_variant(variant, quick=False, repeats=None, log=common.log):
    s = settings(quick)
    repeats = repeats or s["repeats"]
    rows, blocks, what, float32_step = [], {}, None, None
    for precision, jit in COMBOS:
        row = dict(precision=precision, xla=jit)
        rows.append(row)
        if (precision, jit) == ("mixed_float16", False) and float32_step is not None \
                and float32_step * F16_SLOWDOWN > s["f16_skip_s"]:
            row["note"] = (f"not timed: float16 has no fast CPU kernels without XLA (0.01x-0.05x "
                           f"float32 on conv nets): est. {float32_step * F16_SLOWDOWN:.1f} s/step")
            log(f"  {variant} {precision} xla={jit}: skipped ({row['note']})")
            continue
        try:
            t0 = common.clock()
            block, images, what = make_step(variant, precision, jit, quick)
            block(1)  # trace (and XLA-compile)
            row["first_step_s"] = common.clock() - t0
            one = common.time_call(lambda: block(1))
        except Exception as e:  # noqa: BLE001 - a policy that cannot run is reported, not fatal
            row["error"] = one_line(e)[:300]
            log(f"  {variant} {precision} xla={jit}: cannot run: {row['error']}")
            continue
        row["images_per_step"] = images
        if (precision, jit) == ("float32", False):
            float32_step = one
        if one > s["slow_s"]:
            row.update(s_per_step=one, steps=1, blocks=1,
                       note=f"one step took {one:.1f}s: timed once, not repeated")
            log(f"  {variant} {precision} xla={jit}: {one:.2f} s/step (slow: not repeated)")
            continue
        steps = common.steps_for(one, s["block_s"])
        row["steps"] = steps
        blocks[(precision, jit)] = (lambda b, k: lambda: b(k))(block, steps)
    times = common.interleave(blocks, repeats) if blocks else {}
    for row in rows:
        key = (row["precision"], row["xla"])
        if key in times:
            per_step = [t / row["steps"] for t in times[key]]
            row.update(s_per_step=common.median(per_step), blocks=len(per_step),
                       spread=(max(per_step) - min(per_step)) / common.median(per_step))
        if "s_per_step" in row:
            row["images_per_s"] = row["images_per_step"] / row["s_per_step"]
    base = next((r for r in rows if r["precision"] == "float32" and not r["xla"]
                 and "s_per_step" in r), None)
    for row in rows:
        if base and "s_per_step" in row:
            row["vs_float32"] = base["s_per_step"] / row["s_per_step"]
    timed = [r for r in rows if "s_per_step" in r]
    fastest = min(timed, key=lambda r: r["s_per_step"]) if timed else None
    auto = auto_choice(variant)
    auto_row = next((r for r in rows if (r["precision"], r["xla"]) == auto), None)
    out = dict(variant=variant, what=what, rows=rows, auto=dict(precision=auto[0], xla=auto[1]))
    if fastest:
        out["fastest"] = dict(precision=fastest["precision"], xla=fastest["xla"])
        out["auto_is_fastest"] = (fastest["precision"], fastest["xla"]) == auto
        if auto_row and "s_per_step" in auto_row:
            out["auto_vs_fastest"] = fastest["s_per_step"] / auto_row["s_per_step"]
    return out


def run(quick=False, variants=None, repeats=None, log=common.log):
    variants = variants or (QUICK_VARIANTS if quick else VARIANTS)
    results = []
    for variant in variants:
        t = common.clock()
        results.append(run_variant(variant, quick, repeats, log))
        r = results[-1]
        log(f"  {variant}: fastest {r.get('fastest')}, auto {r['auto']}, "
            f"{common.clock() - t:.0f}s")
    agree = [r.get("auto_is_fastest") for r in results if "auto_is_fastest" in r]
    return dict(variants=results, auto=dict(zip(("precision", "xla"), auto_choice())),
                auto_agrees=all(agree) if agree else None,
                settings=dict(settings(quick), **({"repeats": repeats} if repeats else {})))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="", help="comma-separated; default: all ("
                   + ",".join(VARIANTS) + "), with --quick " + ",".join(QUICK_VARIANTS))
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    result = run(args.quick, [v for v in args.variants.split(",") if v] or None, args.repeats)
    result["machine"] = common.machine_info()
    print(json.dumps(common.plain(result), indent=1))


if __name__ == "__main__":
    main()
