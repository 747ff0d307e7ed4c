"""ganzoo-sample NAME|all --num=16 --seed=0 --out=grid.png

Writes a PNG grid of samples from a pretrained model (``all``: one grid per model into
``--out_dir``). Translation models (CycleGAN) show their shipped preview grid instead.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from ganzoo.cli import flags_parser, user_errors  # noqa: E402

_TRUST = flags.DEFINE_bool("trust", False, "Allow a SavedModel folder instead of a registry name. "
                           "A SavedModel is a program: only for folders whose author you trust.")

_NUM = flags.DEFINE_integer("num", 16, "How many images.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed: the same seed gives the same images.")
_OUT = flags.DEFINE_string("out", None, "PNG path (default NAME.png in --out_dir).")
_OUT_DIR = flags.DEFINE_string("out_dir", "samples", "Folder for grids when --out is not given.")
_LABELS = flags.DEFINE_list("labels", None, "Class labels for conditional models (cycled).")


def sample_to_png(name, num, seed, out, labels=None, trust=False):
    import numpy as np

    import ganzoo
    from ganzoo import images
    model = ganzoo.load(name, trust=trust)
    if model.kind == "noise":
        if labels is not None:
            labels = np.resize(np.asarray(labels, np.int32), num)
        cols = model.num_classes if 0 < model.num_classes <= 16 and labels is None else None
        picture = images.grid(model.sample(num, seed=seed, labels=labels), cols=cols)
    else:
        from PIL import Image
        picture = np.asarray(Image.open(os.path.join(model.path, "samples.png")))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    images.save_png(out, picture)
    return out


def _label(text):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--labels takes class numbers like --labels=0,3,7, not {text!r}") from None


def main(argv):
    if len(argv) != 2:
        raise app.UsageError("usage: ganzoo-sample NAME|all [--num=16 --seed=0 --out=grid.png]")
    import ganzoo
    names = ganzoo.list_models() if argv[1] == "all" else [argv[1]]
    if argv[1] == "all" and not names:
        sys.exit("ganzoo-sample: no pretrained models are registered yet")
    with user_errors("ganzoo-sample"):
        labels = [_label(x) for x in _LABELS.value] if _LABELS.value else None
    for name in names:
        out = _OUT.value if _OUT.value and len(names) == 1 else os.path.join(_OUT_DIR.value, f"{name}.png")
        with user_errors("ganzoo-sample"):
            print(sample_to_png(name, _NUM.value, _SEED.value, out, labels, _TRUST.value))


def run():
    app.run(main, flags_parser=flags_parser("ganzoo-sample"))


if __name__ == "__main__":
    run()
