"""Price a module's groups with a cost model built on its ONNX export (a latency LUT).

Latency LUTs are built from ONNX exports: their layers are ONNX nodes. The training-time
pruner works on the groups of the fx capture. `OnnxPricedCostModel` pairs the two
captures' layers and groups (correspond.py) and answers the CostModel questions for fx
layers and groups by asking the ONNX-side model about their counterparts:

    onnx_groups = analyze(export_onnx(model, example))
    lut = ...  # a CostModel over onnx_groups (issue 4)
    pruner = HALPPruner(model, example, budget=0.5, interval=100, steps=30,
                        cost_model=lambda fx_groups: OnnxPricedCostModel(fx_groups, onnx_groups, lut))
"""

from __future__ import annotations

from halp_graph.cost_model import CostModel
from halp_graph.graph.groups import Group, GroupSet, Layer

from .correspond import CorrespondenceError, match_groups


class OnnxPricedCostModel:
    def __init__(self, module_groups: GroupSet, onnx_groups: GroupSet, onnx_cost_model: CostModel):
        self.group_map = match_groups(module_groups, onnx_groups)
        self.layer_map = {a.name: b for a, b in zip(module_groups.layers, onnx_groups.layers)}
        self.onnx_groups = onnx_groups
        self.inner = onnx_cost_model
        self.unit = onnx_cost_model.unit

    def layer_cost(self, layer: Layer, kept_in: int, kept_out: int) -> float:
        try:
            counterpart = self.layer_map[layer.name]
        except KeyError:
            raise CorrespondenceError(f"layer {layer.name} has no ONNX counterpart") from None
        return self.inner.layer_cost(counterpart, kept_in, kept_out)

    def candidate_counts(self, group: Group) -> list[int]:
        return self.inner.candidate_counts(self.onnx_groups[self.group_map[group.id]])

    def dense_cost(self) -> float:
        return self.inner.dense_cost()
