"""A dependency-free progress bar on stderr for loops over files (no TensorFlow needed)."""

import sys
import time


class Progress:
    """Counts work done and redraws one line on stderr.

    On a terminal the line is redrawn in place; in a log file a line is written
    at every tenth of the work, so logs stay short.

    Args:
        total: number of items.
        label: what is being done, e.g. "evaluate".
        stream: where to write (default: sys.stderr).
        enabled: False to stay silent.
    """

    def __init__(self, total, label="", stream=None, enabled=True):
        self.total, self.label, self.done = int(total), label, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled and self.total > 0
        self.start = time.perf_counter()
        self._live = getattr(self.stream, "isatty", lambda: False)()
        self._next_report = 0

    def update(self, count=1):
        self.done += count
        if not self.enabled:
            return
        if self._live or self.done >= self._next_report or self.done == self.total:
            self._next_report = self.done + max(1, self.total // 10)
            elapsed = time.perf_counter() - self.start
            rate = self.done / elapsed if elapsed > 0 else 0.0
            filled = int(30 * self.done / self.total)
            line = (f"{self.label} {self.done}/{self.total} [{'=' * filled}{'.' * (30 - filled)}] "
                    f"{rate:.1f}/s")
            self.stream.write(("\r" + line) if self._live else line + "\n")
            if self._live and self.done == self.total:
                self.stream.write("\n")
            self.stream.flush()
