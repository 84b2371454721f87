"""Reading ONNX Runtime's profiler: how long each kernel ran in a session.

The CPU execution provider runs convolutions in a blocked layout (NCHWc) and converts
at the edges of a region of such ops (ReorderInput / ReorderOutput). A layer cut out of
a model is such a region by itself, so its timing includes two conversions that the
layer does not pay inside the model, where its neighbours stay blocked too. The
profiler tells how long those conversions took, so the backend can leave them out.

The profiler reports whole microseconds, and each profiled kernel reads longer than it
runs unprofiled: on an AVX2 EPYC by 3 to 10 microseconds, more than a small kernel takes,
and by a different amount in each session (on the Xeons seen before, about one). So
the amount is measured in the session itself (`ProfilerShare`): once its profile is
written a session runs unprofiled, and the same runs timed on the clock tell what the
kernels really add up to. Every kernel is taken less that amount, averaged over runs (a
trimmed mean, finer than the microsecond a median would round to).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass

import numpy as np

from ..timing import clocked

LAYOUT_OPS = ("ReorderInput", "ReorderOutput")


@dataclass(frozen=True)
class NodeTime:
    """One kernel of a profiled session: its op type and its ms per run."""

    name: str
    op_type: str
    ms: float


def profile_nodes(session_factory, bind, model, feeds: dict, share: ProfilerShare,
                  runs: int = 8, skip: int = 2) -> tuple[list[NodeTime], float]:
    """Every kernel of one run of `model` (bytes or a path) with its time per run, from
    a profiled session of `runs` runs (the first `skip` left out as warm-up), and what
    the profiler added to each kernel in that session (`share.of`). `bind(session, feeds)`
    gives the session's run."""
    with tempfile.TemporaryDirectory(prefix="halp_ort_profile_") as tmp:
        sess = session_factory(model, profile_prefix=os.path.join(tmp, "profile"))
        run = bind(sess, feeds)
        for _ in range(runs):
            run()
        path = sess.end_profiling()
        with open(path, encoding="utf-8") as f:
            events = list(kernel_events(f))
    durations: dict[str, list[float]] = {}
    ops: dict[str, str] = {}
    for node, op, us in events:
        durations.setdefault(node, []).append(us / 1e3)
        ops[node] = op
    out, kernels = [], 0
    for node, values in durations.items():
        per_run = max(1, round(len(values) / runs))  # a node run more than once per run
        kept = values[skip * per_run:] or values
        out.append(NodeTime(node, ops[node], trimmed_mean(kept) * per_run))
        kernels += per_run
    inflation = share.of(run, min(runs - skip, 6), sum(n.ms for n in out), kernels)
    return out, inflation


@dataclass(frozen=True)
class ProfilerShare:
    """What the profiler adds to each kernel of a session, told by the session itself:
    once its profile is written a session runs unprofiled, and `of` times it on `clock`.
    That is a difference of two timings of the whole run, whose scatter is a percent or
    two of it; on kernels much longer than the profiler's share the difference is mostly
    that scatter, so there `typical_ms` is used instead: the share measured on a session
    of small kernels (None: always the session's own). Kernels whose profiled readings
    alone are that long take it without the unprofiled runs."""

    clock: str
    overhead_ms: float  # a session run's fixed cost on `clock`
    typical_ms: float | None = None

    def of(self, run, runs: int, profiled_ms: float, kernels: int) -> float:
        """Milliseconds each of a run's `kernels` read above what it costs: (`profiled_ms`,
        the kernels' profiled sum per run, - (the median of `runs` unprofiled runs of
        `run` - a run's fixed cost)) / `kernels`, never below zero."""
        kernels = max(kernels, 1)
        long = None if self.typical_ms is None else 10 * max(self.typical_ms, 1e-4)
        if long is not None and profiled_ms / kernels > long + self.typical_ms:
            return self.typical_ms  # the unprofiled runs would read above `long` too
        once = clocked(run, self.clock)
        unprofiled = float(np.median([once() for _ in range(max(runs, 3))])) - self.overhead_ms
        if long is not None and unprofiled / kernels > long:
            return self.typical_ms
        return max(0.0, (profiled_ms - unprofiled) / kernels)


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
