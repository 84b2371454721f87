"""The prune report's model sizes: MACs at the given input shape for a model whose spatial
axes are symbolic, and parameters held in Constant nodes (as paddle2onnx writes them)."""

from __future__ import annotations

import numpy as np

import halp_graph
from halp_graph.cost_model import MacsCostModel
from halp_graph.graph import analyze, as_loaded
from halp_graph.input_shapes import fix_input_shapes
from halp_graph.models import edge_cases as ec


def test_macs_at_the_given_shape_and_constant_node_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("HALP_GRAPH_CACHE", str(tmp_path))
    model = ec.as_constant_nodes(ec.yolo_head())
    assert not model.graph.initializer
    name = model.graph.input[0].name
    shape = (1, 3, 64, 96)
    # an analytic estimate: no timing; a tiny model is mostly fixed cost, hence 0.95
    result = halp_graph.prune(model, "xavier", 0.95, input_shapes=[f"{name}:{','.join(map(str, shape))}"])
    report = result.report

    fixed = fix_input_shapes(as_loaded(model), {name: shape})
    dense_macs = MacsCostModel(analyze(fixed)).dense_cost()
    assert dense_macs > 0
    assert report["macs_M"]["dense"] == dense_macs
    assert 0 < report["macs_M"]["pruned"] < dense_macs

    weights = sum(int(np.prod(a.t.dims)) for n in model.graph.node if n.op_type == "Constant"
                  for a in n.attribute if a.name == "value" and a.t.data_type == 1)
    assert report["params"]["dense"] == weights > 0
    assert 0 < report["params"]["pruned"] < weights
