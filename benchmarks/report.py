"""benchmarks/README.md from benchmarks/results.json (pure: a dict in, markdown out).

    python benchmarks/run.py --render     # rewrite the README from the JSON, running nothing
"""
import os

NOTES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")

NOISE = 0.03  # auto within 3% of the fastest is flagged "within noise"
PARTS = ("policies", "reference", "torch", "pipeline", "sampling", "flops")
TITLES = dict(policies="Precision and XLA policies",
              reference="Against a keras.io-style Keras 3 reference",
              torch="Against PyTorch (CPU, bf16 autocast)", pipeline="Input pipeline overhead",
              sampling="Sampling from the SavedModels", flops="GFLOP/s against the matmul peak")


def num(x, digits=2):
    """A number for a table: '-' for None, thousands separators for large values."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int) or (isinstance(x, float) and abs(x) >= 100):
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


def times(x):
    return "-" if x is None else f"{x:.2f}×"


def verdict(met):
    if met is None:
        return "not measured"
    return "**met**" if met else "**missed**"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _problem(part):
    """A line for a part that was skipped or failed, else None."""
    if part is None:
        return "Not run yet: `python benchmarks/run.py` (or `--only=...`)."
    if "skipped" in part:
        return f"Skipped: {part['skipped']}"
    if "error" in part:
        return f"Failed: `{part['error']}`"
    return None


def xla(x):
    return "on" if x else "off"


# ---- parts ------------------------------------------------------------------------------------

def render_policies(p):
    lines = [f"Auto resolves to **{p['auto']['precision']}, XLA {xla(p['auto']['xla'])}** on "
             "this machine (`ganzoo/policies.py`), except for the variants whose row below says "
             "otherwise (the MLP variants: float32, XLA on). Speed is relative to float32 without XLA "
             "in the same process; images/s counts generator images (one batch per step, "
             "whatever n_critic)."]
    summary = []
    for v in p["variants"]:
        fastest = v.get("fastest")
        agree = v.get("auto_is_fastest")
        close = v.get("auto_vs_fastest", 0) >= 1 - NOISE
        summary.append([v["variant"], v["what"],
                        f"{fastest['precision']}, XLA {xla(fastest['xla'])}" if fastest else "-",
                        times(v.get("auto_vs_fastest")) if "auto_vs_fastest" in v else "-",
                        "yes" if agree else ("-" if agree is None else
                                             f"**no**{' (within noise)' if close else ''}")])
    for row, v in zip(summary, p["variants"]):
        a = v.get("auto", {})
        row.insert(3, f"{a.get('precision', '?')}, XLA {xla(a.get('xla'))}")
    lines += ["", table(["variant", "shapes", "fastest measured", "auto", "auto's speed / fastest",
                         "auto = fastest"], summary), ""]
    rows = []
    for v in p["variants"]:
        for r in v["rows"]:
            note = r.get("error") and f"cannot run: {r['error']}" or r.get("note", "")
            rows.append([v["variant"], r["precision"], xla(r["xla"]), num(r.get("images_per_s"), 1),
                         times(r.get("vs_float32")), num(r.get("first_step_s"), 1),
                         pct(r.get("spread")), note])
    lines += [table(["variant", "precision", "XLA", "images/s", "vs float32",
                     "first step s (trace + compile)", "spread (max-min)/median", "note"],
                     rows)]
    if p.get("auto_agrees") is False:
        lines += ["", "**`auto` is not the fastest measured option for every variant** (see "
                      "above)."]
    return "\n".join(lines)


def _vs(part, key, label):
    rows = [[row["what"], row.get("precision", "-"), num(row["images_per_s"], 0),
             f"{row['s_per_step'] * 1000:.1f}", times(row.get(key))]
            for row in part["rows"].values()]
    return table(["contender", "precision", "images/s", "ms/step", label], rows)


def render_reference(p):
    return "\n".join([
        p["what"] + ".", "",
        _vs(p, "vs_reference", "speed vs reference"), "",
        f"ganzoo default / reference: **{times(p['speedup'])}** (goal ≥ {times(p['goal'])}: "
        f"{verdict(p['met'])}); per-round paired ratios {times(p['paired']['min'])} to "
        f"{times(p['paired']['max'])}."
        + (f" Against the reference exactly as keras.io writes it (networks called without "
           f"`training=`, so Keras runs their batch norm in inference mode on never-updated "
           f"statistics: a cheaper, different computation): {times(p['as_written_speedup'])}."
           if "as_written_speedup" in p else "")])


def render_torch(p):
    params = ", ".join(f"{k} {v['trainable']:,} trainable + {v['non_trainable']:,} "
                       "non-trainable" for k, v in p["params"].items())
    return "\n".join([
        p["what"] + f"; PyTorch {p['torch_threads']} threads.", "",
        _vs(p, "ganzoo_speedup", "ganzoo is × faster"), "",
        f"ganzoo default / PyTorch bf16 (best layout: {p['torch_best']}): "
        f"**{times(p['speedup'])}** (goal ≥ {times(p['goal'])}: {verdict(p['met'])}); "
        f"per-round paired ratios {times(p['paired']['min'])} to {times(p['paired']['max'])}. "
        f"Same parameter counts checked: {params}."])


def render_pipeline(p):
    rows = [[row["what"], num(row["images_per_s"], 0), f"{row['s_per_step'] * 1000:.1f}",
             pct(row["overhead"])] for row in p["rows"].values()]
    return "\n".join([
        p["what"] + ".", "",
        table(["feed", "images/s", "ms/step", "overhead vs memory"], rows), "",
        f"Overhead of the default folder pipeline: **{pct(p['overhead'])}** (goal ≤ "
        f"{pct(p['goal'])}: {verdict(p['met'])})."])


def render_sampling(p):
    rows = [[r["model"], r["signature"], r["resolution"], r["images"],
             f"{r['latency_ms']:.1f}", num(r["images_per_s"], 0)] for r in p["rows"]]
    loads = ", ".join(f"{k} {v['load_s']:.1f}s" for k, v in p["models"].items())
    return "\n".join([p["what"] + ".", "",
                      table(["model", "signature", "resolution", "images", "latency ms",
                             "images/s"], rows), "",
                      f"tf.saved_model.load times: {loads}."])


def render_flops(p):
    c = p["flop_count"]
    rows = [[name, r["precision"], r["batch"], f"{r['gflop_per_step']:.2f}",
             f"{r['s_per_step'] * 1000:.1f}", num(r["gflops"], 1), r["peak_dtype"],
             pct(r["fraction_of_peak"])] for name, r in p["rows"].items()]
    peaks = ", ".join(f"{k} {v:,.1f} GFLOP/s" for k, v in p["peaks_gflops"].items())
    return "\n".join([
        p["what"] + ".", "",
        f"Measured matmul peak ({p['matmul_n']}²): {peaks}. FLOPs per step at batch "
        f"{c['batch']}: {c['total'] / 1e9:.2f} GFLOP ({c['method']}).", "",
        table(["step", "precision", "batch", "GFLOP/step", "ms/step", "GFLOP/s", "peak of",
               "of peak"], rows), "",
        f"Default path at batch {c['batch']}: **{pct(p['fraction'])}** of the matmul peak "
        f"(goal ≥ {pct(p['goal'])}: {verdict(p['met'])})."])


RENDER = dict(policies=render_policies, reference=render_reference, torch=render_torch,
              pipeline=render_pipeline, sampling=render_sampling, flops=render_flops)


def goals(parts):
    def caveat(part):
        flags = [w for w, on in (("quick run", part.get("quick")),
                                 ("busy machine", part.get("busy"))) if on]
        return f" ({', '.join(flags)})" if flags else ""

    def got(name, key):
        part = parts.get(name) or {}
        return part.get(key), part.get("met"), caveat(part)
    rows = []
    for name, key, what, target, show in (
            ("reference", "speedup", "DCGAN default path vs keras.io-style Keras reference",
             "≥ 1.30×", times),
            ("torch", "speedup", "DCGAN default path vs PyTorch bf16", "≥ 1.20×", times),
            ("pipeline", "overhead", "Input pipeline overhead (folder vs memory)", "≤ 5%", pct),
            ("flops", "fraction", "Training step GFLOP/s of the matmul peak", "≥ 40%", pct)):
        value, met, note = got(name, key)
        rows.append([what, target, show(value), verdict(met) + (note if met is not None else "")])
    policies = parts.get("policies") or {}
    agrees = policies.get("auto_agrees")
    rows.append(["`auto` picks the fastest measured policy", "every variant",
                 "-" if agrees is None else ("yes" if agrees else "no"),
                 verdict(agrees) + (caveat(policies) if agrees is not None else "")])
    return table(["goal", "target", "measured", ""], rows)


def render(results, notes=None):
    """The README text for a results dict (see run.py for its layout)."""
    m = results.get("machine", {})
    parts = results.get("parts", {})
    head = [
        "# Speed benchmarks",
        "",
        "Generated from `benchmarks/results.json` by `benchmarks/run.py`; do not edit by hand "
        "(hand-written notes go in `benchmarks/notes.md`). Regenerate with",
        "",
        "```",
        "python benchmarks/run.py                 # all parts: ~8 minutes on an idle 2-core CPU",
        "python benchmarks/run.py --only=torch    # one part (others are kept from the JSON)",
        "python benchmarks/run.py --render        # this README from the JSON, running nothing",
        "```",
        "",
        "PyTorch is optional: `pip install -e '.[bench]'`. Every comparison is a ratio inside "
        "one process: contenders are timed in blocks interleaved round-robin, and each figure "
        "is a median over blocks, so that other load on the machine falls on all alike.",
        "",
        f"Last command: `{results.get('command', '?')}`, {results.get('date', '?')}. ",
        f"Machine: {m.get('cpu', '?')}, {m.get('cpus', '?')} CPUs "
        f"({', '.join(m.get('flags', [])) or 'no AVX-512/AMX flags'}); "
        + ", ".join(f"{k} {m[k]}" for k in ("python", "tensorflow", "keras", "numpy", "torch")
                    if k in m) + ".",
    ]
    warnings = []
    if any((parts.get(k) or {}).get("quick") for k in PARTS):
        warnings.append("**Quick run (`--quick`)**: tiny shapes and repeats, to check that the "
                        "benchmark works; its numbers say nothing about speed.")
    busy = [k for k in PARTS if (parts.get(k) or {}).get("busy")]
    if busy:
        loads = ", ".join(f"{k} {parts[k].get('load_before')}→{parts[k].get('load_after')}"
                          for k in busy)
        warnings.append(f"**The machine was busy** (1-minute load average above half the CPU "
                        f"count during: {loads}): ratios are indicative at best.")
    if warnings:
        head += [""] + ["> " + w for w in warnings]
    body = ["", "## Goals", "", goals(parts)]
    for name in PARTS:
        part = parts.get(name)
        body += ["", f"## {TITLES[name]}", ""]
        problem = _problem(part)
        if problem:
            body.append(problem)
            continue
        body.append(RENDER[name](part))
        extra = [f"{part['seconds']:.0f} s" if "seconds" in part else None,
                 part.get("date") if part.get("date") != results.get("date") else None]
        extra = [e for e in extra if e]
        if extra:
            body += ["", f"<sub>This part: {', '.join(extra)}.</sub>"]
    if notes:
        body += ["", "## Notes and profile", "", notes.strip()]
    return "\n".join(head + body) + "\n"


def read_notes(path=NOTES):
    if os.path.exists(path):
        with open(path) as f:
            return f.read()
    return None
