"""Run ganzoo's speed benchmarks, write benchmarks/results.json and regenerate
benchmarks/README.md from it.

    python benchmarks/run.py [--quick] [--only=policies,reference,torch,pipeline,sampling,flops]
                             [--out=benchmarks/results.json] [--readme=benchmarks/README.md]
    python benchmarks/run.py --render     # README from the JSON only

Parts (each a module of this folder):
  policies   every variant x {float32, mixed_bfloat16, mixed_float16} x {XLA off, on}; does
             ``auto`` pick the fastest?                                     (policies.py)
  reference  DCGAN default path vs a keras.io-style Keras 3 reference       (keras_reference.py)
  torch      DCGAN default path vs the same net in PyTorch, bf16 autocast   (vs_torch.py)
  pipeline   training fed from a folder of real images vs from memory      (pipeline.py)
  sampling   latency and images/s of the shipped SavedModels                (sampling.py)
  flops      training step GFLOP/s vs the measured tf.matmul peak           (utilization.py)

A full run takes about 8 minutes on an idle 2-core machine; ``--quick`` (tiny shapes and
repeats, a minute or two) only checks that everything works. Parts not run keep their previous
results from the JSON; each part records its own date, duration and machine load.
"""
import argparse
import gc
import logging
import os
import shlex
import sys
import traceback
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common, report  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ("reference", "torch", "flops", "pipeline", "sampling", "policies")  # cheap ones first


def part_runner(name):
    """The part's ``run(quick)``, imported on use (each pulls in TensorFlow)."""
    from benchmarks import keras_reference, pipeline, policies, sampling, utilization, vs_torch
    return dict(policies=policies.run, reference=keras_reference.run, torch=vs_torch.run,
                pipeline=pipeline.run, sampling=sampling.run, flops=utilization.run)[name]


def quiet():
    import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("ganzoo").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)


def command_line(argv):
    return " ".join(["python", "benchmarks/run.py"] + [shlex.quote(a) for a in argv])


def run_part(name, quick, **kwargs):
    load = common.load_average()
    t = common.clock()
    try:
        result = part_runner(name)(quick, **kwargs)
    except Exception as e:  # noqa: BLE001 - one broken part must not lose the others
        traceback.print_exc()
        result = dict(error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:400])
    seconds = common.clock() - t
    after = common.load_average()
    result.update(quick=quick, date=common.now(), seconds=seconds, load_before=load,
                  load_after=after, busy=common.busy(load) or common.busy(after))
    return result


def write_readme(results, path):
    text = report.render(results, report.read_notes())
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny shapes and repeats: a smoke run")
    p.add_argument("--only", default=",".join(report.PARTS),
                   help="comma-separated parts: " + ",".join(report.PARTS))
    p.add_argument("--out", default=os.path.join(HERE, "results.json"))
    p.add_argument("--readme", default=os.path.join(HERE, "README.md"))
    p.add_argument("--variants", default="",
                   help="policies part: comma-separated variants (default all; --quick gan,dcgan)")
    p.add_argument("--render", action="store_true", help="only regenerate the README from --out")
    p.add_argument("--fresh", action="store_true", help="drop results of parts not run")
    args = p.parse_args(argv)
    previous = common.read_json(args.out) or {}
    if args.render:
        if not previous:
            p.error(f"{args.out} does not exist; run the benchmarks first")
        write_readme(previous, args.readme)
        print(f"wrote {args.readme} from {args.out}")
        return 0
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = sorted(set(only) - set(report.PARTS))
    if unknown:
        p.error(f"unknown part(s) {unknown}; choose from {','.join(report.PARTS)}")

    quiet()
    results = dict(command=command_line(argv), date=common.now(), quick=args.quick,
                   machine=common.machine_info(),
                   parts={} if args.fresh else dict(previous.get("parts", {})))
    total = common.clock()
    timings = {}
    for name in [n for n in ORDER if n in only]:
        common.log(f"== {name}{' (quick)' if args.quick else ''}: load {common.load_average()}")
        kwargs = {}
        if name == "policies" and args.variants:
            kwargs["variants"] = [v for v in args.variants.split(",") if v]
        result = run_part(name, args.quick, **kwargs)
        results["parts"][name] = result
        timings[name] = result["seconds"]
        status = result.get("error") or result.get("skipped") or "ok"
        common.log(f"== {name}: {result['seconds']:.0f}s, {status}")
        results["machine"] = common.machine_info()  # now with the versions the parts imported
        common.write_json(args.out, results)
        write_readme(common.read_json(args.out), args.readme)
        gc.collect()
    common.log("part timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
               + f"; total {common.clock() - total:.0f}s")
    common.log(f"wrote {args.out} and {args.readme}")
    goals = report.goals(results["parts"])
    common.log(goals)
    return 1 if any("error" in results["parts"].get(n, {}) for n in only) else 0


if __name__ == "__main__":
    sys.exit(main())
