"""Logging for the rules' `script:` files, which Snakemake runs in a fresh
interpreter (the workflow's own) without redirecting anything to `log:`.

A job's details go to its log; the few lines a user should see while the run
goes on (what a long step is doing, which images a rerun redoes, why a job
failed, the end summary) go to the console too (`say`).
"""

from __future__ import annotations

import os
import sys

_console = None  # the console's stderr, once stderr goes to the log


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
    global _console
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    log = open(log_path, "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    if console:
        sys.stderr = _Tee(sys.__stderr__, log)
        return
    sys.stderr.flush()
    _console = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    os.dup2(log.fileno(), 2)
    sys.stderr = os.fdopen(
        2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False
    )


def say(line: str) -> None:
    """Write `line` to the log and to the console."""
    print(line, file=sys.stderr, flush=True)
    if _console is not None:
        print(line, file=_console, flush=True)


def console(line: str) -> None:
    """Write `line` to the console only."""
    print(line, file=_console or sys.__stderr__, flush=True)


def fail(message: str) -> None:
    """Stop the job with its one-line reason: `Error: ...` on the console,
    `ERROR: ...` in the log (which Snakemake may print too: a failed job's
    log is shown with show-failed-logs)."""
    print(f"ERROR: {message}", file=sys.stderr, flush=True)
    console(f"Error: {message}")
    sys.exit(1)
