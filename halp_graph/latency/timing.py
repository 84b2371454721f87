"""Timing a callable robustly: warm-up, rounds of runs, median and minimum, until stable.

One measurement runs the callable a few times to warm caches and allocators, then in
rounds sized to last at least `round_ms`, and stops once two consecutive rounds agree
within `rel_tol` on the median (or after `max_rounds`). The median of all runs is the
latency; the minimum is kept beside it as the interference-free bound.

Clocks: a callable may return its own elapsed milliseconds (CUDA events). Otherwise
`clock="wall"` uses perf_counter, and `clock="thread"` the calling thread's CPU time.
For a single-threaded CPU run (ONNX Runtime with one intra-op thread computes on the
calling thread) the two agree on an idle machine; on a busy one the thread clock leaves
out the time the thread waited for a core, which is what makes tables built on a shared
machine repeatable. It cannot see work done on other threads, so multi-threaded runs
must use the wall clock.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class TimingConfig:
    warmup: int = 3
    warmup_ms: float = 5.0
    min_runs: int = 5
    round_ms: float = 15.0
    min_rounds: int = 2
    max_rounds: int = 6
    rel_tol: float = 0.02
    max_runs: int = 2000
    clock: str = "wall"  # "wall" or "thread"

    def with_clock(self, clock: str) -> "TimingConfig":
        return dataclasses.replace(self, clock=clock)

    def scaled(self, factor: float) -> "TimingConfig":
        """A config that spends `factor` times the time (for whole models, quick runs)."""
        return dataclasses.replace(self, warmup_ms=self.warmup_ms * factor,
                                   round_ms=self.round_ms * factor)


QUICK = TimingConfig(warmup=1, warmup_ms=1.0, min_runs=3, round_ms=2.0, max_rounds=3, rel_tol=0.03)
DEFAULT = TimingConfig(warmup=2, warmup_ms=2.0, min_runs=5, round_ms=5.0, min_rounds=2,
                       max_rounds=5, rel_tol=0.02)
MODEL = TimingConfig(warmup=3, warmup_ms=100.0, min_runs=7, round_ms=300.0, min_rounds=3,
                     max_rounds=8, rel_tol=0.01)
QUICK_MODEL = TimingConfig(warmup=2, warmup_ms=20.0, min_runs=5, round_ms=60.0, min_rounds=2,
                           max_rounds=4, rel_tol=0.02)


@dataclass(frozen=True)
class Timing:
    median_ms: float
    min_ms: float
    runs: int
    spread: float  # relative interquartile range of the runs
    layout_ms: float = 0.0  # layout conversions timed with it and left out (ORT CPU); NaN: unknown

    def value(self, statistic: str = "median") -> float:
        return self.min_ms if statistic == "min" else self.median_ms

    def to_json(self) -> dict:
        return {"median_ms": round(self.median_ms, 6), "min_ms": round(self.min_ms, 6),
                "runs": self.runs, "spread": round(self.spread, 4)}


def clock_ns(clock: str) -> Callable[[], int]:
    if clock not in ("wall", "thread"):
        raise ValueError(f"clock must be 'wall' or 'thread', not {clock!r}")
    return time.thread_time_ns if clock == "thread" else time.perf_counter_ns


def clocked(run_once: Callable[[], float | None], clock: str) -> Callable[[], float]:
    """`run_once` wrapped to return its elapsed milliseconds on `clock` (or its own)."""
    now = clock_ns(clock)

    def once() -> float:
        start = now()
        own = run_once()
        elapsed = (now() - start) / 1e6
        return float(own) if own is not None else elapsed

    return once


def measure(run_once: Callable[[], float | None], config: TimingConfig = DEFAULT) -> Timing:
    """Time `run_once` (which may return its own elapsed ms) as described above."""
    samples: list[float] = []
    once = clocked(run_once, config.clock)

    warm, spent = 0, 0.0
    while warm < config.warmup or spent < config.warmup_ms:
        spent += once()
        warm += 1
        if warm >= 50:
            break
    per_run = max(spent / warm, 1e-4)
    round_runs = max(config.min_runs, int(config.round_ms / per_run))
    medians: list[float] = []
    for round_index in range(config.max_rounds):
        batch = [once() for _ in range(round_runs)]
        samples += batch
        medians.append(float(np.median(batch)))
        if round_index + 1 >= config.min_rounds:
            a, b = medians[-2], medians[-1]
            if abs(a - b) <= config.rel_tol * min(a, b):
                break
        if len(samples) >= config.max_runs:
            break
    arr = np.asarray(samples)
    median = float(np.median(arr))
    q1, q3 = np.percentile(arr, [25, 75])
    return Timing(median, float(arr.min()), len(samples), float((q3 - q1) / median) if median else 0.0)
