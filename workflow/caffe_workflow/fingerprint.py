"""What a result depends on, short of reading the files: their sizes and mtimes.

One function for every stage that decides "redo or keep" from its input files:
the per-image stage (one image and its labels), the evaluation (one prediction
and its labels) and the Snakefile's per-batch rerun trigger (all the batch's
files). A file that is replaced, edited, added or removed changes it; reading
the files is left to the job that redoes the work.

A stored fingerprint is compared with a new one at every run, so the text
hashed for the same files and salt must never change: a change redoes every
image once (tests/unit/test_fingerprint.py holds known values).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable


def stat_token(path: str | os.PathLike | None) -> str:
    """'size:mtime_ns' of a file, or 'missing' (no file, or no path at all)."""
    try:
        stat = os.stat(path)
    except (FileNotFoundError, NotADirectoryError, TypeError):
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def fingerprint(
    paths: Iterable[str | os.PathLike | None], *salt, named: bool = False, length: int = 16
) -> str:
    """A hex digest of `salt` (e.g. a format version) and the files' stat tokens.

    `named`: each token is preceded by its path, so that the same files under
    other names (an image leaving a batch, another joining it) differ too.
    """
    parts = [str(s) for s in salt]
    if named:
        parts += [f"{path}:{stat_token(path)}" for path in paths]
    else:
        parts += [stat_token(path) for path in paths]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:length]
