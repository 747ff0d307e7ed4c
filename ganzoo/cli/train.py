"""ganzoo-train --config=zoo_configs/dcgan.py:mnist --workdir=DIR [--config.train.steps=N ...]"""
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from ganzoo.cli import fail, flags_parser, user_errors  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file and argument, FILE.py:ARG.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, samples, logs, export.")


def setup_logging():
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.WARNING)  # TF's savers log INFO through absl
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    logger = logging.getLogger("ganzoo")
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False


def check_config_args(argv):
    """Fail before any work, in one line, when the config file is missing, an override names
    no config field (with the valid keys) or has a value its field's type refuses."""
    from ganzoo import config

    try:
        config.parse_overrides(argv)
    except (KeyError, ValueError, TypeError, FileNotFoundError) as e:
        fail("ganzoo-train", e)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    setup_logging()
    from ganzoo import training
    try:
        with user_errors("ganzoo-train"):
            training.run(_CONFIG.value, _WORKDIR.value)
    except training.Interrupted:
        # The checkpoint is on disk; skip interpreter teardown, where live tf.data threads
        # have crashed the process once (SIGSEGV) after a Ctrl-C.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(130)


def run():
    check_config_args(sys.argv)
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main, flags_parser=flags_parser("ganzoo-train"))


if __name__ == "__main__":
    run()
