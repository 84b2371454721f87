"""Measured ONNX Runtime latency of a whole model, for benchmarks and for checking budgets.

A stand-in until the latency LUT (issue 4) is merged: it times complete models, not
layers. The model (an nn.Module is exported first, legacy exporter) runs in a one-thread
CPU session; after a warm-up, `rounds` rounds each time `runs` back-to-back inferences,
and the fastest round's mean is reported. On a shared machine other processes only ever
make a round slower, so the minimum is the stable statistic.
"""

from __future__ import annotations

import time

import numpy as np

from halp_graph.testing import random_inputs, session


def onnx_latency_ms(model, batch: int = 1, rounds: int = 30, runs: int = 10, warmup: int = 10,
                    threads: int = 1) -> float:
    """Latency in milliseconds of one inference of `model` (a LoadedModel or ModelProto)."""
    sess = session(model, threads=threads)
    feeds = random_inputs(model, batch=batch)
    for _ in range(warmup):
        sess.run(None, feeds)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(runs):
            sess.run(None, feeds)
        best = min(best, (time.perf_counter() - start) / runs)
    return best * 1000.0


def module_latency_ms(module, example_input, **kwargs) -> float:
    """Export `module` at `example_input`'s shape and time it (see onnx_latency_ms)."""
    from .export import export_onnx

    model = export_onnx(module, example_input)
    batch = int(np.asarray(example_input.shape)[0])
    return onnx_latency_ms(model, batch=batch, **kwargs)
