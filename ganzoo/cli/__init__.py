"""Command-line entry points. Every CLI reports a user error as one line on stderr and exits
1; ``--verbose`` shows the traceback instead."""
import contextlib
import sys

from absl import flags

from ganzoo.errors import one_line as message

VERBOSE = flags.DEFINE_bool("verbose", False, "Show tracebacks of errors.")


def verbose(argv=None):
    """--verbose, also before absl has parsed the flags (then read from ``argv``)."""
    if flags.FLAGS.is_parsed():
        return VERBOSE.value
    argv = sys.argv if argv is None else argv
    return any(a.lstrip("-") in ("verbose", "verbose=true", "verbose=True", "verbose=1")
               for a in argv[1:])


def fail(prog, error):
    """Exit 1 with ``error`` as PROG's one-line error. Call it in an ``except`` block: with
    --verbose it re-raises instead, for the traceback."""
    if verbose():
        raise error
    print(f"{prog}: error: {message(error)} (--verbose shows the traceback)", file=sys.stderr)
    sys.exit(1)


def flags_parser(prog):
    """For ``app.run(main, flags_parser=...)``: a flag absl cannot parse (``--num=abc``, a
    missing required flag) is one line, like every other user error, not absl's two."""
    def parse(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as e:
            if verbose(argv):
                raise
            print(f"{prog}: error: {message(e)} (--helpfull lists the flags)", file=sys.stderr)
            sys.exit(1)
    return parse


@contextlib.contextmanager
def user_errors(prog):
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001 - the CLI boundary: every failure becomes one line
        fail(prog, e)
