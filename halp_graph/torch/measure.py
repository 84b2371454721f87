"""Measured ONNX Runtime latency of a whole model, for benchmarks and for checking budgets.

A stand-in until the latency LUT (issue 4) is merged: it times complete models, not
layers. The model (an nn.Module is exported first, legacy exporter) runs in a one-thread
CPU session, which executes every op on the calling thread; after a warm-up, `rounds`
rounds each time `runs` back-to-back inferences and the median round is reported.

The clock is the calling thread's CPU time (`time.thread_time`), not the wall clock: on
a machine shared with other jobs the wall clock also counts the time the thread sat
preempted, which made repeated wall-clock measurements of one model differ by 2x here,
while its CPU time repeats within 1%. On an idle machine the two agree.
"""

from __future__ import annotations

import time

import numpy as np

from halp_graph.runtime import random_inputs, session


def onnx_latency_ms(model, batch: int = 1, rounds: int = 30, runs: int = 5, warmup: int = 10,
                    threads: int = 1) -> float:
    """Latency in milliseconds of one inference of `model` (a LoadedModel or ModelProto)."""
    sess = session(model, threads=threads)
    feeds = random_inputs(model, batch=batch)
    for _ in range(warmup):
        sess.run(None, feeds)
    per_round = []
    for _ in range(rounds):
        start = time.thread_time()
        for _ in range(runs):
            sess.run(None, feeds)
        per_round.append((time.thread_time() - start) / runs)
    return float(np.median(per_round)) * 1000.0


def module_latency_ms(module, example_input, **kwargs) -> float:
    """Export `module` at `example_input`'s shape and time it (see onnx_latency_ms)."""
    from .export import export_onnx

    model = export_onnx(module, example_input)
    batch = int(np.asarray(example_input.shape)[0])
    return onnx_latency_ms(model, batch=batch, **kwargs)
