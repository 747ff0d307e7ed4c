"""Command-line entry points. Every CLI reports a user error as one line on stderr and exits
1; ``--verbose`` shows the traceback instead."""
import contextlib
import sys

from absl import flags

VERBOSE = flags.DEFINE_bool("verbose", False, "Show tracebacks of errors.")


def message(error):
    """One line for an exception: KeyError's text without quotes, the first line otherwise."""
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    text = str(text).strip().splitlines()[0] if str(text).strip() else type(error).__name__
    return text


@contextlib.contextmanager
def user_errors(prog):
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 - the CLI boundary: every failure becomes one line
        if VERBOSE.value:
            raise
        print(f"{prog}: error: {message(e)} (--verbose shows the traceback)", file=sys.stderr)
        sys.exit(1)
