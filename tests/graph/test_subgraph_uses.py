"""A tensor read inside a subgraph (an If branch, a Loop body) is a use like any other:
its group is frozen with a reason, since no rule edits inside a subgraph. Found on Silero
VAD, where a pruned encoder channel reached an LSTM inside an If and broke the model."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from halp_graph.graph import analyze, from_proto


def model_with_an_if():
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((4, 8, 1, 1)).astype(np.float32), "w2")
    then = helper.make_graph([helper.make_node("Identity", ["r"], ["t_out"])], "then", [],
                             [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, [1, 8, 8, 8])])
    other = helper.make_graph([helper.make_node("Neg", ["r"], ["e_out"])], "else", [],
                              [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, [1, 8, 8, 8])])
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["y"]),
             helper.make_node("If", ["flag"], ["z"], then_branch=then, else_branch=other)]
    graph = helper.make_graph(nodes, "with_if",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8]),
                               helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8]),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 8, 8, 8])], [w1, w2])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_group_read_inside_an_if_is_frozen_with_a_reason():
    groups = analyze(from_proto(model_with_an_if()))
    group = next(g for g in groups if g.size == 8)
    assert not group.prunable
    assert "If" in (group.reason or ""), group.reason


def test_without_the_if_the_same_group_is_prunable():
    proto = model_with_an_if()
    del proto.graph.node[3]
    del proto.graph.output[1]
    del proto.graph.input[1]
    groups = analyze(from_proto(proto))
    assert next(g for g in groups if g.size == 8).prunable
