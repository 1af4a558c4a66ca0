"""Progress of the ingest's sample writes: a tqdm bar on a terminal, else a
log line at most every LOG_EVERY_S seconds (a log file gets no bar redraws)."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("caffe_workflow.stages.ingest")

LOG_EVERY_S = 10.0


class Progress:
    """Counts the catalog's images as the ingest goes through them."""

    def __init__(self, total: int, stream=None):
        from tqdm import tqdm

        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.bar = tqdm(
            total=total,
            unit="image",
            desc="ingest",
            file=self.stream,
            disable=not getattr(self.stream, "isatty", lambda: False)(),
            mininterval=0.5,
        )
        self.last_line = time.monotonic()

    def count(self, n: int) -> None:
        self.done += n
        self.bar.update(n)
        now = time.monotonic()
        if self.bar.disable and now - self.last_line >= LOG_EVERY_S and self.done < self.total:
            log.info("ingest: %d of %d images done", self.done, self.total)
            self.last_line = now

    def each(self, items):
        """Yield `items`, counting each one."""
        for item in items:
            yield item
            self.count(1)

    def close(self) -> None:
        self.bar.close()
