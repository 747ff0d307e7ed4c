"""Name lookups that fail with the close matches."""
import difflib


def lookup(table, name, what):
    if name in table:
        return table[name]
    close = difflib.get_close_matches(str(name), list(table), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise KeyError(f"Unknown {what} {name!r}.{hint} Valid: {', '.join(sorted(table))}.")
