"""Logging for the rules' `script:` files, which Snakemake runs in a fresh
interpreter (the workflow's own) without redirecting anything to `log:`."""

from __future__ import annotations

import os
import sys


class _Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()

    def isatty(self):
        return False


def stderr_to(log_path: str | os.PathLike, console: bool = False) -> None:
    """From now on this process's stderr goes to `log_path` (truncated).

    Without `console`, at the file-descriptor level, so C libraries and
    subprocesses land in the log too. With `console` (long steps whose progress
    the user should see, like the download), Python's writes go to both.
    """
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    log = open(log_path, "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    if console:
        sys.stderr = _Tee(sys.__stderr__, log)
        return
    sys.stderr.flush()
    os.dup2(log.fileno(), 2)
    sys.stderr = os.fdopen(2, "w", buffering=1, encoding="utf-8",
                           errors="backslashreplace", closefd=False)  # fmt: skip
