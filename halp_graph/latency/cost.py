"""A latency LUT seen through the CostModel protocol the solver speaks.

`layer_cost` prices a layer at its kept counts (a layer left with no input or no output
channels is gone and costs nothing) as a weighted sum of four components:

* `surface`: the layer's measured surface (the layer and its fused tail, timed alone);
* `boundary`: layout conversions its counts cause (ONNX Runtime's CPU provider, below);
* `weights`: megabytes of its weights, which a whole model reads cold while a layer
  timed alone finds them in cache;
* `context`: what the model's kernels outside the layers spend on the layer's output in
  context (layout conversions ORT inserts, pooling, unfused ops), measured on the dense
  model when the LUT was built and scaled by the layer's kept output share.

The weights are the model's calibration (halp_graph.pruning.lut_calibration), fitted
when the LUT was built by timing pruned copies of the model against it; without one they are 1, 1, 0 and 1 (the
components at face value). `dense_cost` is the whole model's measured latency, not the
sum of its layers: what the layers leave out (pooling, layout changes, the run's own
overhead) stays in the prediction, and
predicted latency = dense - sum of layer savings (halp_graph.cost_model.predict).

Layout boundaries (ONNX Runtime's CPU provider): a layer whose input count is not
aligned runs a plain NCHW kernel while its neighbours run blocked NCHWc kernels, and the
model converts layouts at each change of regime. The LUT timed the layer alone, without
those conversions, and recorded what a conversion costs per element (`layout_rate`). So a
misaligned layer also pays for converting its input (unless its producer is a depthwise
conv on the same channels, which is misaligned too), shared with the other layers that
read the same tensor, and for converting its output back when the output count is
aligned, so that each conversion is counted once.

`candidate_counts` returns the counts worth keeping in a group: walking down from the
full size, a count is kept only if it is cheaper than every larger count, summed over all
the layers the group feeds and is fed by, by a margin (0.2% of those layers' cost, and
at least 0.1 us): on a staircase that is the top edge of every step (the largest count
at each latency level); counts inside a step buy nothing, and a slope too gentle to
measure is thinned to counts that differ by the margin.
"""

from __future__ import annotations

import math

import numpy as np

from ..cost_model import all_counts
from ..errors import TargetError
from ..graph.groups import Group, GroupSet, Layer
from .subgraph import assign_tails, layer_specs


MIN_SAVING_MS = 1e-4  # a count is a candidate only if it saves at least this much ...
MIN_SAVING_SHARE = 2e-3  # ... and this share of the group's layers' cost


COMPONENTS = ("surface", "boundary", "weights", "context")
FACE_VALUE = (1.0, 1.0, 0.0, 1.0)  # component weights without a calibration


class LutCostModel:
    unit = "ms"

    def __init__(self, lut, groups: GroupSet, dense_ms: float | None = None,
                 statistic: str = "median", calibrated: bool = True):
        self.lut = lut
        self.groups = groups
        self.statistic = statistic
        specs = layer_specs(groups, batch=lut.target.get("batch"))
        self._specs = specs
        missing = [name for name, spec in specs.items() if spec.entry_key() not in lut.entries]
        if missing:
            raise TargetError(f"the LUT{' ' + lut.path if lut.path else ''} does not cover "
                              f"{len(missing)} of the model's {len(specs)} layers (first: "
                              f"{missing[0]}); build one for this model with `lut build`")
        self._surface = {name: lut.entries[spec.entry_key()].surface(statistic)
                         for name, spec in specs.items()}
        self._boundary = _boundaries(groups, specs, lut)
        record = lut.record_for(groups)
        self._context, self._unpriced = _context(groups, record.context if record is not None else {})
        calibration = record.calibration if record is not None and calibrated else None
        self.calibration = calibration
        self.weights = tuple(float(w) for w in calibration["weights"]) if calibration else FACE_VALUE
        if dense_ms is None:
            if record is None or record.dense is None:
                raise TargetError("the LUT has no measured dense latency for this model; pass "
                                  "dense_ms= (e.g. from halp_graph.latency.measure_model)")
            dense_ms = record.dense.value(statistic)
        self._dense = float(dense_ms)
        self._sizes = {g.id: g.size for g in groups}
        self._cache: dict[tuple[str, int, int], float] = {}
        self._candidates: dict[str, list[int]] = {}
        self._touching_cache: dict[str, list[Layer]] | None = None

    def layer_cost(self, layer: Layer, kept_in: int, kept_out: int) -> float:
        if kept_in <= 0 or kept_out <= 0:
            return 0.0
        key = (layer.name, int(kept_in), int(kept_out))
        cost = self._cache.get(key)
        if cost is None:
            parts = self.components(layer, int(kept_in), int(kept_out))
            cost = float(sum(w * p for w, p in zip(self.weights, parts)))
            self._cache[key] = cost
        return cost

    def unpriced_ms(self, node_names) -> float:
        """What the dense model's kernels among `node_names` cost in context that no layer
        prices (kernels outside every layer and tail that read no layer's output), as
        profiled: the calibration's context weight is fitted to the layers' shares of
        context, which can leave it near zero; 0 where the table has no whole-model
        profile."""
        return sum(self._unpriced.get(name, 0.0) for name in node_names)

    def layer_cost_table(self, layer: Layer, ins, outs) -> np.ndarray:
        """[[layer_cost(layer, i, o) for o in outs] for i in ins], the same numbers,
        computed a regime at a time (Surface.table) and component by component."""
        ci = np.asarray(ins, dtype=np.int64)[:, None]
        co = np.asarray(outs, dtype=np.int64)[None, :]
        spec = self._specs[layer.name]
        surface = self._surface[layer.name].table(ins, outs)
        with np.errstate(divide="ignore", invalid="ignore"):  # counts of 0 cost 0 below
            boundary = self._boundary_table(layer.name, ci, co)
            weights = math.prod(spec.weight_shape_at(ci, co)) * 4e-6 * np.ones_like(surface)
        context = self._context.get(layer.name, 0.0) * co / max(spec.full_out, 1) * np.ones_like(surface)
        w = self.weights
        cost = w[0] * surface + w[1] * boundary + w[2] * weights + w[3] * context
        return np.where((ci > 0) & (co > 0), cost, 0.0)

    def _boundary_table(self, name: str, ci: np.ndarray, co: np.ndarray) -> np.ndarray:
        rate, align, per_in, per_out, tied_input, readers = self._boundary.get(
            name, (0.0, 1, 0, 0, False, 1))
        shape = (ci.shape[0], co.shape[1])
        if rate <= 0 or align <= 1:
            return np.zeros(shape)
        elements = (0 if tied_input else ci * per_in / readers) + np.where(co % align == 0, co * per_out, 0)
        return np.where(ci % align == 0, 0.0, rate * elements) * np.ones(shape)

    def components(self, layer: Layer, kept_in: int, kept_out: int) -> tuple[float, ...]:
        """The layer's cost components at its kept counts (COMPONENTS; see the module
        docstring), before the calibration weighs them."""
        if kept_in <= 0 or kept_out <= 0:
            return (0.0,) * len(COMPONENTS)
        spec = self._specs[layer.name]
        surface = float(self._surface[layer.name](kept_in, kept_out))
        boundary = self._boundary_cost(layer.name, kept_in, kept_out)
        weights = math.prod(spec.weight_shape_at(kept_in, kept_out)) * 4e-6  # fp32 MB
        context = self._context.get(layer.name, 0.0) * kept_out / max(spec.full_out, 1)
        return surface, boundary, weights, context

    def _boundary_cost(self, name: str, ci: int, co: int) -> float:
        rate, align, per_in, per_out, tied_input, readers = self._boundary.get(
            name, (0.0, 1, 0, 0, False, 1))
        if rate <= 0 or align <= 1 or ci % align == 0:
            return 0.0
        elements = (0 if tied_input else ci * per_in / readers) + (co * per_out if co % align == 0 else 0)
        return rate * elements

    def dense_cost(self) -> float:
        return self._dense

    def group_cost(self, group: Group, count: int) -> float:
        """Cost of every layer touching `group` when it keeps `count` (others full)."""
        kept = {group.id: count}
        total = 0.0
        for layer in self._touching(group):
            total += self.layer_cost(layer, layer.kept_in(kept, self._sizes),
                                     layer.kept_out(kept, self._sizes))
        return total

    def candidate_counts(self, group: Group) -> list[int]:
        if group.id in self._candidates:
            return list(self._candidates[group.id])
        counts = all_counts(group)
        costs = {k: self.group_cost(group, k) for k in counts}
        full = costs[group.size]
        eps = max(MIN_SAVING_MS, MIN_SAVING_SHARE * abs(full))
        keep, best = [group.size], full
        for k in sorted(counts, reverse=True)[1:]:
            if costs[k] < best - eps:
                keep.append(k)
                best = costs[k]
        self._candidates[group.id] = sorted(keep)
        return sorted(keep)

    def _touching(self, group: Group) -> list[Layer]:
        if self._touching_cache is None:
            touching: dict[str, list[Layer]] = {}
            for layer in self.groups.layers:
                for gid in dict.fromkeys([*layer.input_groups(), *layer.output_groups()]):
                    touching.setdefault(gid, []).append(layer)
            self._touching_cache = touching
        return self._touching_cache.get(group.id, [])


def _owners(groups: GroupSet) -> dict[str, str]:
    """{tensor: layer} for every layer's output and the outputs of its fused tail."""
    layers = {layer.name: layer for layer in groups.layers}
    owner = {}
    for name, tail in assign_tails(groups.graph, layers).items():
        for node in tail:
            owner[node.outputs[0]] = name
            owner[node.name] = name
    for name in layers:
        owner[groups.graph.nodes_by_name[name].outputs[0]] = name
        owner[name] = name
    return owner


def _context(groups: GroupSet, context: dict) -> tuple[dict[str, float], dict[str, float]]:
    """({layer: ms its output costs in context outside the layers}, {node: ms of the
    profiled kernels given to no layer}): a layer's are the conversions of tensors it (or
    its tail) produces, and the kernels outside every layer and tail that read them (by
    their first computed input)."""
    if not context:
        return {}, {}
    graph = groups.graph
    owner = _owners(groups)
    out: dict[str, float] = {}
    unowned: dict[str, float] = {}
    for tensor, ms in context.get("conversions", {}).items():
        name = owner.get(tensor)
        if name is not None:
            out[name] = out.get(name, 0.0) + float(ms)
    for node_name, ms in context.get("nodes", {}).items():
        node = graph.nodes_by_name.get(node_name)
        if node is None or node_name in owner:
            continue  # priced by a layer's own entry (or not in this graph)
        data = [t for t in node.inputs if t and not graph.is_constant(t)]
        name = owner.get(data[0]) if data else None
        if name is not None:
            out[name] = out.get(name, 0.0) + float(ms)
        else:
            unowned[node_name] = float(ms)
    return out, unowned


def _boundaries(groups: GroupSet, specs, lut) -> dict:
    """{layer: (ms per element, alignment, input elements per channel, output elements
    per channel, input produced by a depthwise layer, layers reading the same input)}
    for layers with layout costs."""
    graph = groups.graph
    owner = _owners(groups)
    readers: dict[str, int] = {}
    for name in specs:
        tensor = graph.nodes_by_name[name].inputs[0]
        readers[tensor] = readers.get(tensor, 0) + 1
    out = {}
    for name, spec in specs.items():
        entry = lut.entries[spec.entry_key()]
        if entry.layout_rate <= 0:
            continue
        surface = entry.surface()
        tensor = graph.nodes_by_name[name].inputs[0]
        producer = owner.get(tensor)
        tied = producer is not None and specs[producer].depthwise
        per_in = math.prod(spec.input.shape) // max(spec.full_in, 1)
        per_out = math.prod(spec.output.shape) // max(spec.full_out, 1)
        out[name] = (entry.layout_rate, surface.align_in, per_in, per_out, tied, readers[tensor])
    return out
