"""Error text for people: one line per exception."""


def one_line(error):
    """The first non-empty line of ``error``'s text (KeyError's without its quotes), or the
    exception's type name."""
    text = error.args[0] if isinstance(error, KeyError) and error.args else error
    text = str(text).strip()
    return text.splitlines()[0] if text else type(error).__name__
