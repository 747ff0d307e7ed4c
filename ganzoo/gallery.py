"""The gallery: a static page with one card per pretrained model.

``build(out_dir)`` writes ``out_dir/index.html`` and ``out_dir/images/*.png``: per model a sample
grid, a latent interpolation strip (one row per class for conditional models), for translation
models input -> translation -> reconstruction in both directions, the metrics against the GMM
floor and the real-data ceiling, the training compute, the data licence and the line that loads
it. Every image is generated from the SavedModel the registry pins, at build time. The page has
inline CSS only and relative links, so it works offline from the folder (file://).
"""
import html
import os

import numpy as np

from ganzoo import images, registry
from ganzoo.config import data_root
from ganzoo.evaluate import METRIC_COLUMNS

SEED = 0
STEPS = 8         # images along an interpolation path
TRANSLATIONS = 4  # test images per direction
TILE = 64         # pixels each image is shown at, at least (small images are scaled up)


def build(out_dir, names=None, data_dir=None, log=None):
    """Write the gallery of ``names`` (default every registered model) into ``out_dir``; test
    images for translation models come from ``data_dir`` (default ``../shared/data`` or
    ``$GANZOO_DATA``) when it has them. Returns the path of ``index.html``."""
    import ganzoo
    names = list(names) if names else ganzoo.list_models()
    entries = {name: registry.get(name) for name in names}  # unknown names fail before any work
    data_dir = data_root() if data_dir is None else os.fspath(data_dir)
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    cards = []
    for name in names:
        if log:
            log(f"gallery: {name}")
        model = ganzoo.load(name)
        cards.append(_card(out_dir, name, entries[name], model, data_dir))
    page = os.path.join(out_dir, "index.html")
    with open(page + ".tmp", "w", encoding="utf-8") as f:
        f.write(_page(cards))
    os.replace(page + ".tmp", page)
    return page


# --- images ------------------------------------------------------------------------------------

def _save(out_dir, filename, picture, resolution, alt):
    """Save ``picture`` under images/ and return its <img> tag, scaled so a tile is >= TILE px."""
    images.save_png(os.path.join(out_dir, "images", filename), picture)
    scale = max(1, TILE // resolution)
    h, w = picture.shape[:2]
    return (f'<img src="images/{filename}" width="{w * scale}" height="{h * scale}" '
            f'alt="{_e(alt)}">')


def _noise_figures(out_dir, name, model):
    classes = model.num_classes
    per_class = 0 < classes <= 16  # sample() cycles the classes: one per column
    cols = classes if per_class else (8 if model.resolution <= 32 else 4)
    num = cols * (3 if classes else 4)
    grid = images.grid(model.sample(num, seed=SEED), cols=cols)
    figures = [(_save(out_dir, f"{name}-samples.png", grid, model.resolution, f"{name} samples"),
                f"sample({num}, seed={SEED})" + (", one class per column" if per_class else ""))]
    # Conditional: the same latent path for every class, one row each.
    rows = [model.interpolate(steps=STEPS, seed=SEED, labels=c) for c in range(classes)] or [
        model.interpolate(steps=STEPS, seed=SEED)]
    strip = images.grid(np.concatenate(rows), cols=STEPS)
    caption = (f"spherical interpolation between two latents (seed {SEED}), {STEPS} steps"
               + (", one row per class" if classes else ""))
    figures.append((_save(out_dir, f"{name}-interpolation.png", strip, model.resolution,
                          f"{name} latent interpolation"), caption))
    return figures


def _test_images(card, data_dir, resolution, channels):
    """{"A": uint8 [N, R, R, C], "B": ...} from the dataset's test split, or None if absent."""
    folder = os.path.join(data_dir, card.get("dataset", {}).get("name", ""))
    if not all(os.path.isdir(os.path.join(folder, "test" + d)) for d in "AB"):
        return None
    from ganzoo import data
    return {d: np.stack([x.numpy() for x in data.real_images(
                f"cyclegan:{folder}", resolution, channels, split="test", domain=d
            ).take(TRANSLATIONS)]) for d in "AB"}


def _translation_figures(out_dir, name, model, data_dir):
    inputs = _test_images(model.card, data_dir, model.resolution, model.channels)
    if inputs is None:
        from PIL import Image
        picture = np.asarray(Image.open(os.path.join(model.path, "samples.png")))
        note = (f"No test images under {data_dir}: this is the preview grid shipped with the "
                "model (samples.png, from training), not generated for this page.")
        return [(_save(out_dir, f"{name}-samples.png", picture, model.resolution,
                       f"{name} shipped preview"), note)]
    figures = []
    for there, back, src, dst in (("a2b", "b2a", "A", "B"), ("b2a", "a2b", "B", "A")):
        x = inputs[src]
        y = model.translate(x, there)
        rows = np.stack([x, y, model.translate(y, back)], axis=1)  # per image: in, out, cycle
        grid = images.grid(rows.reshape((-1,) + x.shape[1:]), cols=3)
        figures.append((_save(out_dir, f"{name}-{there}.png", grid, model.resolution,
                              f"{name} {src} to {dst} to {src}"),
                        f"test{src} (first {len(x)}): input {src} → translation {dst} → "
                        f"reconstruction {src}"))
    return figures


# --- the page ----------------------------------------------------------------------------------

def _e(value):
    return html.escape(str(value))


def _metrics(card):
    """(model, floor, ceiling) value dicts and the block: ``ganzoo-eval --update_cards`` writes
    the dataset's floor and ceiling into every card's block (tests/test_quality.py checks it)."""
    block = card.get("metrics") or {}
    return block.get("values", {}), block.get("floor", {}), block.get("ceiling", {}), block


def _fmt(fmt, values, key):
    return fmt.format(values[key]) if key in values else "–"


def _metrics_table(card):
    values, floor, ceiling, block = _metrics(card)
    if not values:
        return '<p class="note">Not evaluated yet: the card has no metrics.</p>'
    worse = set(block.get("worse_than_floor", []))
    rows = []
    for key, label, fmt in METRIC_COLUMNS:
        if key in values or key in floor or key in ceiling:
            flag = ' class="worse" title="not better than the floor"' if key in worse else ""
            rows.append(f"<tr><th>{_e(label)}</th><td{flag}>{_fmt(fmt, values, key)}</td>"
                        f"<td>{_fmt(fmt, floor, key)}</td><td>{_fmt(fmt, ceiling, key)}</td></tr>")
    ref = block.get("reference", {})
    caption = (f"extractor {block.get('extractor', {}).get('name', '?')}, "
               f"N = {block.get('num_samples', 0):,} samples against {ref.get('images', 0):,} "
               f"{ref.get('dataset', '')} reference images; evaluated {block.get('date', '?')}"
               + ("; shaded: not better than the floor" if worse else ""))
    return ('<table class="metrics"><caption>' + _e(caption) + "</caption><tr><th>metric</th>"
            "<th>this model</th><th>GMM floor</th><th>real data (ceiling)</th></tr>"
            + "".join(rows) + "</table>")


def _duration(seconds):
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min {rest % 60:02d} s"


def _compute(training):
    """The card's training block as display strings: steps, images seen, wall time, ..."""
    hw = training.get("hardware", {})
    hardware = ", ".join(f"{k} {v}" for k, v in sorted(hw.items())) if isinstance(hw, dict) else hw
    return {"steps": f"{training['steps']:,}" if "steps" in training else "?",
            "images seen": f"{training['images_seen']:,}" if "images_seen" in training else "?",
            "wall time": _duration(training["wall_time_s"]) if "wall_time_s" in training else "?",
            "hardware": hardware or "?", "precision": training.get("precision", "?")}


def _licence(dataset):
    text = dataset.get("licence", "unknown").rstrip()
    if dataset.get("restriction"):
        text += ("" if text.endswith(".") else ".") + " " + dataset["restriction"]
    return text


def _load_line(name, kind):
    if kind == "translation":
        return f'ganzoo.load("{name}").translate(images, "a2b")  # uint8 [N, H, W, 3]'
    return f'ganzoo.load("{name}").sample(16, seed=0)'


def _card(out_dir, name, entry, model, data_dir):
    card = model.card
    if model.kind == "translation":
        figures = _translation_figures(out_dir, name, model, data_dir)
    else:
        figures = _noise_figures(out_dir, name, model)
    dataset = card.get("dataset", {})
    about = " · ".join([card.get("variant", entry["variant"]),
                        dataset.get("name", entry["dataset"]),
                        f"{model.resolution}×{model.resolution}"]
                       + ([f"{model.num_classes} classes"] if model.num_classes else []))
    compute = _compute(card.get("training", {}))
    facts = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in compute.items())
    figs = "".join(f"<figure>{img}<figcaption>{_e(caption)}</figcaption></figure>"
                   for img, caption in figures)
    html_card = f"""<section class="card" id="{_e(name)}">
<h2>{_e(name)} <small>v{_e(entry['version'])}</small></h2>
<p class="about">{_e(about)}</p>
<div class="figures">{figs}</div>
<div class="facts">
<div><h3>Quality</h3>{_metrics_table(card)}</div>
<div><h3>Training compute</h3><dl>{facts}</dl></div>
</div>
<h3>Data licence</h3>
<p>{_e(_licence(dataset))}</p>
<h3>Load it</h3>
<pre><code>import ganzoo
{_e(_load_line(name, model.kind))}</code></pre>
<p class="pin">version {_e(entry['version'])}, sha256 <code>{_e(entry['sha256'])}</code></p>
</section>"""
    values, floor, ceiling, _ = _metrics(card)
    summary = [f'<a href="#{_e(name)}">{_e(name)}</a>', _e(about),
               " / ".join(_fmt("{:.2f}", d, "fid") for d in (values, floor, ceiling)),
               _e(compute["steps"]), _e(compute["wall time"]), _e(entry["version"])]
    return html_card, summary


STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em;color:#222;
background:#fafafa}
h1{margin:.2em 0}h2{margin:0}h2 small{color:#777;font-weight:normal}h3{margin:.8em 0 .3em;
font-size:1em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.2em .5em;
text-align:left}.metrics td,.summary td:nth-child(n+3){text-align:right}
caption{caption-side:bottom;color:#666;font-size:.85em;text-align:left;padding-top:.3em}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;margin:1.2em 0;padding:1em}
.about{color:#555;margin:.2em 0 .6em}.figures{display:flex;flex-wrap:wrap;gap:1em;
align-items:flex-start}figure{margin:0}figcaption{color:#666;font-size:.85em;max-width:40em}
img{image-rendering:pixelated;display:block}.facts{display:flex;flex-wrap:wrap;gap:2em}
dl{display:grid;grid-template-columns:auto auto;gap:.1em 1em;margin:0;font-size:.9em}
dt{color:#666}dd{margin:0}.worse{background:#fde2e2}pre{background:#f3f3f3;padding:.6em;
overflow-x:auto}code{font-family:ui-monospace,monospace}.pin{color:#666;font-size:.8em;
word-break:break-all}.note{color:#666}
"""


def _page(cards):
    head = ("<tr><th>model</th><th>variant · data · size</th><th>FID model / floor / ceiling"
            "</th><th>steps</th><th>wall time</th><th>version</th></tr>")
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in summary) + "</tr>"
                   for _, summary in cards)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ganzoo gallery</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
</head>
<body>
<h1>ganzoo gallery</h1>
<p>Every pretrained model, generated from its shipped SavedModel when this page was built.
Metrics: lower FID/KID is better; the floor is a Gaussian mixture fitted to training pixels,
the ceiling held-out real images, scored the same way.</p>
<table class="summary">{head}{rows}</table>
{"".join(card for card, _ in cards)}
</body>
</html>
"""
