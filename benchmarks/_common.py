"""Shared helpers for the benchmark scripts: tables, timing, model lists, output files."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


def out_path(name: str) -> str:
    os.makedirs(OUT, exist_ok=True)
    return os.path.join(OUT, name)


def timed(fn, repeats: int = 3):
    """(result of the last call, median seconds, min seconds) over `repeats` calls."""
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return result, statistics.median(times), min(times)


def table(rows: list[dict], columns: list[str], title: str | None = None) -> str:
    """A GitHub-flavoured markdown table."""
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    lines = []
    if title:
        lines.append(f"\n{title}\n")
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def save_json(name: str, data) -> str:
    path = out_path(name)
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=str)
    return path


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ort_latency_ms(model, min_runs: int = 10, min_seconds: float = 1.0, threads: int = 1,
                   warmup: int = 3) -> tuple[float, float]:
    """(median, min) latency in ms of one ONNX Runtime run on random inputs, 1 thread."""
    from halp_graph.testing import random_inputs, session

    sess = session(model, threads=threads)
    feeds = random_inputs(model, batch=1)
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), min(times)
