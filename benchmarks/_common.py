"""Shared helpers for the benchmark scripts: tables, timing, model lists, output files.

Model latencies are timed as the product times them (`halp_graph.latency.measure_model`
on the `cpu` target: ONNX Runtime with one intra-op thread, the calling thread's CPU
clock, warm-up and rounds until the median is stable), so a benchmark's milliseconds
are the ones `bench` and the closed loop report."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

from halp_graph.latency import get_target, measure_model
from halp_graph.latency.timing import MODEL, TimingConfig

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


def cpu_latency_ms(model, batch: int = 1, timing: TimingConfig = MODEL) -> float:
    """Median milliseconds of one inference of `model` (a path, ModelProto or LoadedModel)
    on the `cpu` target at `batch` (symbolic batch dimensions are set to it)."""
    return measure_model(model, get_target("cpu", batch=batch), timing).median_ms


def module_latency_ms(module, example_input, timing: TimingConfig = MODEL) -> float:
    """Export `module` at `example_input`'s shape (legacy exporter) and time it on the
    `cpu` target (see cpu_latency_ms)."""
    from halp_graph.torch import export_onnx  # lazy: torch is optional; only module benchmarks need it

    return cpu_latency_ms(export_onnx(module, example_input), batch=int(example_input.shape[0]),
                          timing=timing)


def prune_cells(report: dict) -> dict:
    """A prune report's table cells: its status, the measured latency ratio of the kept
    round ("-" when nothing was measured) and the number of rounds."""
    achieved = report["latency"]["achieved"]
    return {"prune": report["status"], "ratio": f"{achieved:.3f}" if achieved is not None else "-",
            "rounds": len(report["rounds"])}


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


def add_zoo_arguments(ap) -> None:
    """--exporters, --models, --zoo, --resolution: which exports a zoo benchmark covers."""
    ap.add_argument("--exporters", default="legacy,dynamo")
    ap.add_argument("--models", help="comma-separated subset (default: the whole --zoo)")
    ap.add_argument("--zoo", choices=["torchvision", "timm", "all"], default="torchvision",
                    help="torchvision classifiers, a timm model per family, or both")
    ap.add_argument("--resolution", type=int, default=224)


def over_zoo(args, run) -> tuple[list[dict], list[dict]]:
    """Call run(name, exporter) for every selected export; a failure is kept with its cause."""
    import traceback

    from halp_graph.models import zoo

    names = args.models.split(",") if args.models else (
        (zoo.classification_models() if args.zoo != "timm" else [])
        + ([f"timm:{n}" for n in zoo.TIMM_MODELS] if args.zoo != "torchvision" else []))
    rows, failures = [], []
    for exporter in args.exporters.split(","):
        for name in names:
            progress(f"{exporter} {name}")
            try:
                rows.append(run(name, exporter))
            except Exception as exc:
                first = (str(exc).splitlines() or [""])[0][:160]
                failures.append({"model": name, "exporter": exporter,
                                 "cause": f"{type(exc).__name__}: {first}"})
                traceback.print_exc(file=sys.stderr)
    return rows, failures
