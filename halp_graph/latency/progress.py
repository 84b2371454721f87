"""A small progress bar on stderr (no dependency): a redrawn line on a terminal, a few
plain lines otherwise so that logs stay readable."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str = "", stream=None, width: int = 28):
        self.total = max(total, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.start = time.monotonic()
        self.done = 0
        self._last_plain = -1
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, done: int, detail: str = "") -> None:
        self.done = done
        elapsed = time.monotonic() - self.start
        frac = min(done / self.total, 1.0)
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        bar = "#" * int(round(frac * self.width))
        line = (f"{self.label} [{bar:<{self.width}}] {done}/{self.total} "
                f"{_clock(elapsed)} elapsed, ~{_clock(eta)} left" + (f"  {detail}" if detail else ""))
        if self._tty:
            self.stream.write("\r" + line[:160].ljust(100))
            self.stream.flush()
        else:
            decile = int(frac * 10)
            if decile != self._last_plain:
                self._last_plain = decile
                self.stream.write(line + "\n")
                self.stream.flush()

    def close(self, message: str = "") -> None:
        if self._tty:
            self.stream.write("\n")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
