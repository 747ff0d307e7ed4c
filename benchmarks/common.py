"""What every benchmark part shares: paths, interleaved timing, medians and ratios, machine
information and JSON output.

Timing rule: everything compared is timed in one process, in blocks interleaved round-robin
(the order rotates every round), so that load from other work on the machine falls on each
contender alike; a contender's time is the median over its blocks, a comparison the ratio of
medians (with the spread of the per-round paired ratios alongside).
"""
import datetime
import functools
import json
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
for _path in (ROOT, TESTS):  # ganzoo from the checkout; tests/helpers.load_config
    if _path not in sys.path:
        sys.path.insert(0, _path)


def data_root():
    """../shared/data next to the checkout, or $GANZOO_DATA."""
    return os.environ.get("GANZOO_DATA", os.path.join(ROOT, "..", "shared", "data"))


# ---- statistics (pure) ------------------------------------------------------------------------

def median(values):
    values = list(values)
    if not values:
        raise ValueError("median of no values")
    return statistics.median(values)


def ratio(slow, fast):
    """How many times faster ``fast`` is than ``slow``: median(slow) / median(fast), for
    lists of durations (or two single durations)."""
    slow = median(slow) if isinstance(slow, (list, tuple)) else slow
    fast = median(fast) if isinstance(fast, (list, tuple)) else fast
    return slow / fast


def paired_ratios(slow, fast):
    """Per-round ratios slow[i] / fast[i] of two interleaved series: (min, median, max)."""
    if len(slow) != len(fast) or not slow:
        raise ValueError("paired_ratios needs two non-empty series of the same length")
    r = sorted(s / f for s, f in zip(slow, fast))
    return dict(min=r[0], median=statistics.median(r), max=r[-1])


def summary(times, units_per_block=1.0, unit_name="images"):
    """Median seconds per block / per unit, and units per second, from per-block durations."""
    med = median(times)
    return {"median_block_s": med, f"{unit_name}_per_s": units_per_block / med,
            "blocks": len(times), "spread": (max(times) - min(times)) / med if med else 0.0}


# ---- timing ---------------------------------------------------------------------------------

def clock():
    return time.perf_counter()


def time_call(fn):
    t = clock()
    fn()
    return clock() - t


class Measured(float):
    """Seconds a block measured itself (e.g. leaving out its warm-up steps); a block that
    returns one is timed by it instead of by the wall clock around the whole call."""


def interleave(blocks, repeats, rotate=True):
    """Time ``blocks`` ({name: callable running one block and waiting for its result})
    ``repeats`` times round-robin; the start of the round-robin shifts by one each round.
    Returns {name: [seconds per block, in round order]}."""
    names = list(blocks)
    times = {n: [] for n in names}
    for r in range(repeats):
        shift = r % len(names) if rotate else 0
        for name in names[shift:] + names[:shift]:
            t = clock()
            out = blocks[name]()
            wall = clock() - t
            times[name].append(float(out) if isinstance(out, Measured) else wall)
    return times


def steps_for(step_s, target_s, lo=1, hi=1000):
    """Steps per block so that a block lasts about ``target_s`` given one step's seconds."""
    if step_s <= 0:
        return hi
    return int(max(lo, min(hi, round(target_s / step_s))))


# ---- machine ---------------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [x for x in ("avx2", "avx512f", "avx512_bf16", "avx512_fp16",
                                        "amx_bf16", "amx_tile") if x in have]
    except OSError:
        pass
    return []


def load_average():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def busy(load, cpus=None):
    """Whether a 1-minute load average says other work shared the machine."""
    cpus = cpus or os.cpu_count() or 1
    return load is not None and load > 0.5 * cpus


def versions():
    out = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "numpy", "torch"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = getattr(module, "__version__", "?")
    return out


def machine_info():
    return dict(cpu=cpu_model(), cpus=os.cpu_count(), machine=platform.machine(),
                flags=cpu_flags(), system=platform.system(), **versions())


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ---- output -----------------------------------------------------------------------------------

def plain(x):
    """JSON-able copy: numpy scalars to Python, floats rounded to 6 significant digits."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float):
        return float(f"{x:.6g}")
    return x


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(plain(data), f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


@functools.lru_cache(maxsize=8)
def mnist_images(n):
    """n real MNIST training digits as float32 [n, 28, 28, 1] in [-1, 1] and a description;
    uniform noise when ../shared/data/mnist.npz is absent. Cached: treat it as read-only."""
    import numpy as np
    path = os.path.join(data_root(), "mnist.npz")
    if os.path.exists(path):
        with np.load(path) as f:
            x = f["x_train"][:n]
        return (x[..., None].astype(np.float32) / 127.5 - 1.0), f"MNIST train[:{n}]"
    return (np.random.default_rng(0).uniform(-1, 1, (n, 28, 28, 1)).astype(np.float32),
            "uniform noise (no ../shared/data/mnist.npz)")


def log(msg):
    print(msg, flush=True)
