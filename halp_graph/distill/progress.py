"""A one-line progress bar for distillation on stderr: epoch, share done, loss, held-out
agreement (or relative error), time left. Redrawn in place on a terminal; elsewhere one
line per held-out evaluation, so logs stay readable."""

from __future__ import annotations

import sys
import time

WIDTH = 24


class ProgressBar:
    def __init__(self, total_steps: int, epochs: int, enabled: bool, stream=None):
        self.total, self.epochs = max(total_steps, 1), epochs
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.held = ""
        self._last_draw = 0.0

    def held_out(self, metrics: dict) -> None:
        if metrics.get("agreement") is not None:
            self.held = f"held-out agreement {100 * metrics['agreement']:.1f}%"
        else:
            self.held = f"held-out rel. error {metrics['rel_error']:.3g}"

    def update(self, step: int, epoch: int, loss: float, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty and not force and now - self._last_draw < 0.5:
            return
        if not self.tty and not force:
            return
        self._last_draw = now
        done = step / self.total
        elapsed = now - self.start
        left = elapsed / done - elapsed if done > 0 else 0.0
        bar = "#" * int(WIDTH * done) + "." * (WIDTH - int(WIDTH * done))
        line = (f"distil epoch {min(epoch + 1, self.epochs)}/{self.epochs} [{bar}] {100 * done:3.0f}% "
                f"loss {loss:.4g} {self.held} {_clock(elapsed)} elapsed, {_clock(left)} left")
        self.stream.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"
