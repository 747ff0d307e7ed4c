"""ganzoo-gallery --out=DIR [--models=a,b] [--data_dir=../shared/data]

Renders the gallery (see ``ganzoo.gallery``): DIR/index.html with one card per pretrained
model and its images in DIR/images/, generated from the shipped SavedModels. Open it from the
folder; it needs no network.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from ganzoo.cli import flags_parser, user_errors  # noqa: E402

_OUT = flags.DEFINE_string("out", "gallery", "Folder for index.html and images/.")
_MODELS = flags.DEFINE_list("models", None, "Models to show (default: every registered one).")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Real data for the translation models' test images (default "
    "../shared/data or $GANZOO_DATA); without it their cards show the shipped preview.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}; usage: ganzoo-gallery --out=DIR")
    from ganzoo import gallery
    with user_errors("ganzoo-gallery"):
        page = gallery.build(_OUT.value, _MODELS.value, _DATA_DIR.value,
                             log=lambda line: print(line, file=sys.stderr))
    print(page)


def run():
    app.run(main, flags_parser=flags_parser("ganzoo-gallery"))


if __name__ == "__main__":
    run()
