"""Reading ONNX Runtime's profiler: how long each kernel ran in a session.

The CPU execution provider runs convolutions in a blocked layout (NCHWc) and converts
at the edges of a region of such ops (ReorderInput / ReorderOutput). A layer cut out of
a model is such a region by itself, so its timing includes two conversions that the
layer does not pay inside the model, where its neighbours stay blocked too. The
profiler tells how long those conversions took, so the backend can leave them out.

The profiler reports whole microseconds and each profiled kernel reads about a
microsecond longer than it runs unprofiled (`profiler_inflation` measures how much on a
chain of small kernels). On a small layer whose conversions take a microsecond or two,
that is most of what was read, so every kernel time is taken less the inflation, and
averaged over runs (a trimmed mean, finer than the microsecond a median would round to).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass

import numpy as np

LAYOUT_OPS = ("ReorderInput", "ReorderOutput")


@dataclass(frozen=True)
class NodeTime:
    """One kernel of a profiled session: its op type and its ms per run."""

    name: str
    op_type: str
    ms: float


def profile_nodes(ort, session_factory, model, feeds: dict, runs: int = 8,
                  skip: int = 2) -> list[NodeTime]:
    """Every kernel of one run of `model` (bytes or a path) with its time per run, from
    a profiled session of `runs` runs (the first `skip` left out as warm-up)."""
    with tempfile.TemporaryDirectory(prefix="halp_ort_profile_") as tmp:
        sess = session_factory(model, profile_prefix=os.path.join(tmp, "profile"))
        for _ in range(runs):
            sess.run(None, feeds)
        path = sess.end_profiling()
        with open(path, encoding="utf-8") as f:
            events = list(kernel_events(f))
    durations: dict[str, list[float]] = {}
    ops: dict[str, str] = {}
    for node, op, us in events:
        durations.setdefault(node, []).append(us / 1e3)
        ops[node] = op
    out = []
    for node, values in durations.items():
        per_run = max(1, round(len(values) / runs))  # a node run more than once per run
        kept = values[skip * per_run:] or values
        out.append(NodeTime(node, ops[node], trimmed_mean(kept) * per_run))
    return out


_EVENT = re.compile(r'"dur" :(\d+).*"name" :"([^"]*)_kernel_time".*"op_name" : "([^"]*)"')


def kernel_events(lines):
    """(node, op type, microseconds) of every kernel in a profile file, in order. ORT
    writes one event per line; reading only the kernel lines with a pattern is ten
    times faster than parsing the whole file as JSON, which was a fifth of a LUT build
    once pairs came to be profiled in every session (ort_packed.py)."""
    for line in lines:
        if '_kernel_time"' in line:
            match = _EVENT.search(line)
            if match:
                yield match.group(2), match.group(3), int(match.group(1))
                continue
            event = json.loads(line.strip().rstrip(","))  # fields in another order
            yield event["name"][:-len("_kernel_time")], event["args"]["op_name"], int(event["dur"])


def profiler_inflation(ort, session_factory, timed_ms: float, model_bytes: bytes, feeds: dict,
                       nodes: int) -> float:
    """Milliseconds a profiled kernel reads above what it costs unprofiled: (sum of the
    profiled kernel times - `timed_ms`, the model timed unprofiled less the run's fixed
    cost) / `nodes`, never below zero."""
    profiled = sum(n.ms for n in profile_nodes(ort, session_factory, model_bytes, feeds,
                                               runs=40, skip=10))
    return max(0.0, (profiled - timed_ms) / nodes)


def trimmed_mean(values: list[float], cut: float = 0.2) -> float:
    arr = np.sort(np.asarray(values, dtype=float))
    k = int(len(arr) * cut)
    return float(arr[k:len(arr) - k].mean()) if len(arr) > 2 * k else float(np.median(arr))


def context_from_profile(nodes: list[NodeTime], optimized_graph, original_graph,
                         inflation_ms: float = 0.0) -> dict[str, dict[str, float]]:
    """What a whole model's kernels cost in context, mapped back to the model as written.

    `nodes` profiles the model as ORT optimised it (`optimized_graph`, from the session's
    optimized_model_filepath). Returns {"conversions": {tensor: ms}}: the layout
    conversions ORT inserted, by the tensor of the original model they convert, and
    {"nodes": {original node: ms}}: every kernel that maps back to one original node,
    by name or, for blocked kernels, which ORT names after their output tensor with a
    `_nchwc` suffix, by the node that produces that tensor (a fused conv maps to the last
    op fused into it). Kernels that map to nothing (fusions ORT renamed) are left out.
    Each kernel is taken less `inflation_ms`."""
    originals = {n.name: n for n in original_graph.node if n.name}
    producer = {out: n for n in original_graph.node for out in n.output if out}
    optimized = {n.name: n for n in optimized_graph.node}
    conversions: dict[str, float] = {}
    others: dict[str, float] = {}
    for t in nodes:
        node = optimized.get(t.name)
        if node is None:
            continue
        ms = max(t.ms - inflation_ms, 0.0)
        if node.op_type in LAYOUT_OPS:
            tensor = node.output[0] if node.op_type == "ReorderOutput" else node.input[0]
            if tensor in producer:
                conversions[tensor] = conversions.get(tensor, 0.0) + ms
            continue
        original = originals.get(t.name)
        if original is None and t.name.endswith("_nchwc"):
            original = producer.get(t.name[:-len("_nchwc")])
        if original is not None:
            others[original.name] = others.get(original.name, 0.0) + ms
    return {"conversions": _rounded(conversions), "nodes": _rounded(others)}


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: float(f"{v:.6g}") for k, v in values.items()}
