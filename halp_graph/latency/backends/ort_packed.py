"""Timing many channel pairs of one layer at once: one profiled ONNX Runtime session.

A layer timed alone in its own session pays, per pair, a session, a warm-up, rounds of
runs long enough for the clock to settle and the fixed cost of every run, and on the
CPU provider a profile of its layout conversions besides. For a layer that runs in tens
of microseconds that is a hundred times the layer itself, and the run's fixed cost is
then most of what the clock reads, with its scatter.

Here the pairs a sampler asks for together (a probe window, a sweep's levels, a grid)
are copies of the layer side by side in one graph, each with its own input, weights and
output, run in one profiled session. The profiler reports every kernel of every run, so
a pair's time is what its own kernels took, read directly: the layout conversions at
the edges of the cut are left out by their op type (they are not paid inside the model,
see ort_profile.py), each kernel less what the profiler adds to it (read in the same
session, ort_profile.ProfilerShare: all copies are the same layer, so their kernels
carry about the same share), and no run overhead is left to subtract. Per pair and run
the kernels are summed; the pair's latency is a trimmed mean of those sums over the
runs (the profiler's whole microseconds would round a median), its minimum the smallest
sum. A pair whose mean is not yet known to within the tolerance (its standard error,
from the spread of its runs) is profiled again with the others that are not, and its
runs pooled.

Between two runs of one copy the others run, so its weights come from memory rather than
from a cache the copy has to itself: as inside the model, where every other layer runs
in between (mobilenet_v2's classifier, 5 MB of weights, reads 0.44 ms profiled in the
model, 0.38 ms packed and 0.11 ms timed alone on this machine's AVX2 EPYC).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import numpy as np
from onnx import helper

from ..subgraph import LayerSpec
from ..timing import Timing, clocked
from .ort_profile import LAYOUT_OPS, ProfilerShare, kernel_events, trimmed_mean


@dataclass(frozen=True)
class PackConfig:
    max_pairs: int = 48  # copies in one session
    max_bytes: int = 192 << 20  # weights and inputs of one session
    runs_ms: float = 20.0  # aim: this much kernel time per session after the warm-up
    min_runs: int = 6
    max_runs: int = 48
    rel_tol: float = 0.02  # a pair's mean is known to within this (one standard error)
    abs_tol_ms: float = 5e-4
    retries: int = 2


def pack_batches(spec: LayerSpec, pairs: list[tuple[int, int]], config: PackConfig) -> list[list]:
    """`pairs` in batches of at most `max_pairs` and `max_bytes` (a pair over the byte
    limit goes alone)."""
    batches, current, size = [], [], 0
    for pair in pairs:
        nbytes = _pair_bytes(spec, *pair)
        if current and (len(current) >= config.max_pairs or size + nbytes > config.max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(pair)
        size += nbytes
    if current:
        batches.append(current)
    return batches


def packed_model(spec: LayerSpec, pairs: list[tuple[int, int]]):
    """One model holding `spec` at every pair, names prefixed `p<i>_`, its feeds, and its
    initializers' data by name (the model only names them: `spec.to_onnx(external=...)`)."""
    nodes, inputs, outputs, inits, feeds, weights = [], [], [], [], {}, {}
    for i, (ci, co) in enumerate(pairs):
        prefix = f"p{i}_"
        external: dict[str, np.ndarray] = {}
        graph = spec.to_onnx(ci, co, external=external, blocked_operands=True).graph
        for node in graph.node:
            node.name = prefix + node.name
            node.input[:] = [prefix + name if name else name for name in node.input]
            node.output[:] = [prefix + name for name in node.output]
            nodes.append(node)
        for group, into in ((graph.input, inputs), (graph.output, outputs), (graph.initializer, inits)):
            for item in group:
                item.name = prefix + item.name
                into.append(item)
        weights.update((prefix + name, value) for name, value in external.items())
        for name, value in spec.feeds(ci, co).items():
            feeds[prefix + name] = value
    graph = helper.make_graph(nodes, f"packed_{spec.op_type}", inputs, outputs, inits)
    opsets = [helper.make_opsetid("", spec.opset)]
    model = helper.make_model(graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets),
                              producer_name="halp_graph.latency")
    return model.SerializeToString(), feeds, weights


def time_packed(session_factory, bound_run, spec: LayerSpec, pairs: list[tuple[int, int]],
                share: ProfilerShare, config: PackConfig = PackConfig()) -> dict[tuple[int, int], Timing]:
    """{pair: Timing} for every pair, timed in packed, profiled sessions as described
    above, less what the profiler adds (`share`). ORT names the conversions it inserts
    after none of the copies, so a Timing's layout_ms (what was left out) is known only
    for a pair timed alone, from its runs alone, and NaN (unknown) otherwise; a computing
    kernel that names no copy makes its batch be profiled pair by pair."""
    runs: dict[tuple[int, int], list[float]] = {}
    layouts: dict[tuple[int, int], list[float]] = {}
    todo = list(dict.fromkeys(pairs))
    for _ in range(config.retries + 1):
        for batch in pack_batches(spec, todo, config):
            try:
                profiled = [_profile(session_factory, bound_run, spec, batch, share, config)]
                parts = [batch]
            except _Unattributed:  # a kernel of no known copy: profile each pair alone
                parts = [[pair] for pair in batch]
                profiled = [_profile(session_factory, bound_run, spec, part, share, config)
                            for part in parts]
            for part, (kernel, layout) in zip(parts, profiled):
                for pair in part:
                    runs.setdefault(pair, []).extend(kernel[pair])
                    if len(part) == 1:  # beside other copies its conversions are nobody's
                        layouts.setdefault(pair, []).extend(layout[pair])
        todo = [pair for pair in todo if not _settled(runs[pair], config)]
        if not todo:
            break
    out = {}
    for pair, values in runs.items():
        arr = np.asarray(values)
        mean = trimmed_mean(values)
        q1, q3 = np.percentile(arr, [25, 75])
        out[pair] = Timing(max(mean, 1e-3), max(float(arr.min()), 1e-3), len(values),
                           float((q3 - q1) / mean) if mean > 0 else 0.0,
                           trimmed_mean(layouts[pair]) if pair in layouts else float("nan"))
    return out


class _Unattributed(Exception):
    """A computing kernel whose name carries no copy's prefix."""


def _settled(values: list[float], config: PackConfig) -> bool:
    """Whether the mean of `values` is known to within `rel_tol` (or `abs_tol_ms`): its
    standard error, from the interquartile range (robust to the odd preempted run)."""
    arr = np.asarray(values)
    q1, q3 = np.percentile(arr, [25, 75])
    error = (q3 - q1) / 1.349 / np.sqrt(len(arr))
    return error <= max(config.rel_tol * trimmed_mean(values), config.abs_tol_ms)


def _profile(session_factory, bound_run, spec, batch, share, config):
    """Per pair of `batch`: its kernels' ms in each profiled run after the warm-up, and
    its layout conversions' ms in each, less what the profiler added (`share.of`)."""
    model, feeds, weights = packed_model(spec, batch)
    with tempfile.TemporaryDirectory(prefix="halp_ort_packed_") as tmp:
        sess = session_factory(model, profile_prefix=os.path.join(tmp, "profile"), initializers=weights)
        run = bound_run(sess, feeds)  # the binding's first run and ours warm the session up
        first = clocked(run, "wall")()
        count = int(np.clip(config.runs_ms / max(first, 1e-3), config.min_runs, config.max_runs))
        for _ in range(count):
            run()
        path = sess.end_profiling()
        with open(path, encoding="utf-8") as f:
            events = list(kernel_events(f))
    total = 2 + count  # the binding's run, ours, then the counted runs
    skip = total - count
    kernel = {pair: np.zeros(total) for pair in batch}
    layout = {pair: np.zeros(total) for pair in batch}
    kernels = {pair: 0 for pair in batch}  # kernels per run
    layouts = dict(kernels)
    every = np.zeros(total)  # all kernels of each run, ours or not
    seen: dict[str, int] = {}
    for node, op, us in events:
        nth = seen.get(node, 0)
        seen[node] = nth + 1
        if nth >= total:
            continue
        every[nth] += us / 1e3
        if _is_aux(node):
            continue  # what gives a join operand its layout (LayerSpec.to_onnx): not the layer
        index = 0 if len(batch) == 1 else _pair_index(node)
        if index is None or index >= len(batch):
            if op not in LAYOUT_OPS:
                raise _Unattributed(node)
            continue  # a conversion ORT named after nothing of ours: left out either way
        conversion = op in LAYOUT_OPS
        (layout if conversion else kernel)[batch[index]][nth] += us / 1e3
        if nth == 0:
            (layouts if conversion else kernels)[batch[index]] += 1
    per_kernel = share.of(run, config.min_runs, trimmed_mean(list(every[skip:])), len(seen))

    def less_share(times, counts):
        return {pair: list(np.maximum(v[skip:] - per_kernel * counts[pair], 0.0))
                for pair, v in times.items()}

    return less_share(kernel, kernels), less_share(layout, layouts)


def _pair_index(node: str) -> int | None:
    """The copy a kernel belongs to: ORT keeps the `p<i>_` prefix of the node's name or,
    for kernels it creates, of the tensor it names them after."""
    if not node.startswith("p"):
        return None
    head, _, _ = node[1:].partition("_")
    return int(head) if head.isdigit() else None


def _is_aux(node: str) -> bool:
    """Whether a kernel is a copy's `aux<i>` node (or ORT's blocked kernel named after it)."""
    return _pair_index(node) is not None and node.partition("_")[2].startswith("aux")


def _pair_bytes(spec: LayerSpec, ci: int, co: int) -> int:
    weights = int(np.prod(spec.weight_shape_at(ci, co)))
    return 4 * (weights + int(np.prod(spec.input.at(ci))) + int(np.prod(spec.tail_shapes[-1].at(co))
                                                                 if spec.tail_shapes else 0))
