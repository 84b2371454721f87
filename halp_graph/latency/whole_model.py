"""Measuring whole models on a target: the dense latency a prediction starts from, and
the check a closed loop runs on the model it produced.

`measure_model` times one model. `measure_interleaved` times several models in turns
(one run of each, round after round) so that a machine that speeds up or slows down
while it measures affects them all alike: comparing the ratios of their medians is then
fair even where absolute numbers drift.
"""

from __future__ import annotations

import numpy as np

from ..graph import as_loaded
from .backends import open_backend
from .timing import MODEL, Timing, TimingConfig


def measure_model(model, target, config: TimingConfig = MODEL, backend=None) -> Timing:
    """Latency of `model` (path, ModelProto or LoadedModel) on `target` (a Target):
    median and minimum over repeated runs, until stable. Raises BackendUnavailable when
    the target cannot be measured here; an analytic target returns its estimate."""
    own = backend is None
    backend = backend or open_backend(target)
    try:
        return backend.time_model(as_loaded(model), config)
    finally:
        if own:
            backend.close()


def measure_interleaved(models: list, target, rounds: int = 15, runs_per_round: int = 3,
                        backend=None) -> list[Timing]:
    """Time `models` in turns; returns one Timing per model (median and min of its runs).
    Only backends that expose `runner(model)` (ONNX Runtime, torch) support this."""
    own = backend is None
    backend = backend or open_backend(target)
    try:
        runners = [backend.runner(as_loaded(m)) for m in models]
        return time_interleaved(runners, rounds, runs_per_round)
    finally:
        if own:
            backend.close()


def time_interleaved(runners: list, rounds: int = 15, runs_per_round: int = 3) -> list[Timing]:
    """measure_interleaved on runners already made (`backend.runner(model)`: a callable
    that runs the model once and returns its time in ms), e.g. to reuse one across calls."""
    samples: list[list[float]] = [[] for _ in runners]
    for run in runners:  # warm-up
        for _ in range(2):
            run()
    for _ in range(rounds):
        for i, run in enumerate(runners):
            samples[i] += [run() for _ in range(runs_per_round)]
    out = []
    for s in samples:
        arr = np.asarray(s)
        med = float(np.median(arr))
        q1, q3 = np.percentile(arr, [25, 75])
        out.append(Timing(med, float(arr.min()), len(arr), float((q3 - q1) / med) if med else 0.0))
    return out
