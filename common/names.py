"""Name tables with helpful misses: the registries of models, tasks and datasets all add entries
once and answer an unknown name with its close matches."""

import difflib


def add_unique(table, name, value, what):
    """`table[name] = value`; the same name twice is a programming error."""
    if name in table:
        raise ValueError(f"{what} '{name}' is registered twice.")
    table[name] = value
    return value


def lookup(table, name, what, otherwise=""):
    """`table[name]`, or a one-line ValueError naming up to three close matches (else `otherwise`)."""
    try:
        return table[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(table), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else otherwise
        raise ValueError(f"Unknown {what} '{name}'.{hint}") from None
