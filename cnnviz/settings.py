"""Deployment settings read from the environment, checked one way: a misspelt budget stops the
server with a sentence that names the variable, rather than running with a surprise."""

import os


def mebibytes(variable: str, default_mb: float, note: str = "") -> int:
    """Bytes from ``variable`` (a size in MiB, ``default_mb`` when unset); ``ValueError`` when
    it is not a non-negative number (NaN included)."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return int(default_mb * 2**20)
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1.0
    if not megabytes >= 0:
        raise ValueError(f"{variable}={raw!r} must be a size in MiB such as {default_mb:g}"
                         f"{f' ({note})' if note else ''}.")
    return int(megabytes * 2**20)
