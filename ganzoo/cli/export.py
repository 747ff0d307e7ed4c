"""ganzoo-export NAME|WORKDIR --base=DIR [--version=N] [--serving_root=/models]

Writes a generator for TensorFlow Serving to DIR/<name>/<version>/ and regenerates
DIR/models.config for every model under DIR. NAME is a pretrained model (``ganzoo.list_models()``),
WORKDIR a training run directory (its export/) or a SavedModel directory.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from ganzoo.cli import flags_parser, user_errors  # noqa: E402

_BASE = flags.DEFINE_string("base", None, "Serving directory: DIR/<name>/<version>/ and "
                            "DIR/models.config.")
_VERSION = flags.DEFINE_integer("version", None, "Version number (default: one past the highest "
                                "there).")
_NAME = flags.DEFINE_string("name", None, "Model name in DIR and in request URLs (default: NAME, "
                            "or WORKDIR's folder name).")
_SERVING_ROOT = flags.DEFINE_string(
    "serving_root", None, "DIR as the server sees it, for base_path in models.config: /models in "
    "the tensorflow/serving container (default: the root models.config already uses, else DIR's "
    "absolute path).")


def main(argv):
    if len(argv) != 2:
        raise app.UsageError("usage: ganzoo-export NAME|WORKDIR --base=DIR [--version=N]")
    with user_errors("ganzoo-export"):
        from ganzoo import registry
        if not os.path.isdir(argv[1]) and os.sep not in argv[1]:
            registry.get(argv[1])  # an unknown name fails here, before TensorFlow loads
        from ganzoo import serving_export
        print(serving_export.export_for_serving(argv[1], _BASE.value, _VERSION.value, _NAME.value,
                                                _SERVING_ROOT.value))


def run():
    flags.mark_flags_as_required(["base"])
    app.run(main, flags_parser=flags_parser("ganzoo-export"))


if __name__ == "__main__":
    run()
