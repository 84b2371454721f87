"""Shapes ONNX shape inference cannot tell are read off one run, when the inputs are static."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from halp_graph.graph import analyze, from_proto
from halp_graph.latency import build_lut, get_target
from halp_graph.latency.run_shapes import fill_shapes_from_a_run
from halp_graph.latency.sampler import QUICK_SAMPLING


def _reshaped_by_arithmetic(batch=1):
    """x reshaped to its own shape, the batch computed through floats (Sqrt, Mul, Round):
    ONNX data propagation gives up on it, so the conv reading it has no known batch; the
    conv's six output channels are a prunable group, so the table must time it."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((6, 8, 3, 3)).astype(np.float32), "w")
    w2 = numpy_helper.from_array(rng.standard_normal((4, 6, 1, 1)).astype(np.float32), "w2")
    rest = numpy_helper.from_array(np.array([8, 4, 4], np.int64), "rest")
    start, end = (numpy_helper.from_array(np.array([v], np.int64), n) for v, n in ((0, "start"), (1, "end")))
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "start", "end"], ["n"]),
             helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
             helper.make_node("Sqrt", ["nf"], ["sq"]),
             helper.make_node("Mul", ["sq", "sq"], ["sm"]),
             helper.make_node("Round", ["sm"], ["sr"]),
             helper.make_node("Cast", ["sr"], ["ni"], to=TensorProto.INT64),
             helper.make_node("Concat", ["ni", "rest"], ["si"], axis=0),
             helper.make_node("Reshape", ["x", "si"], ["y"]),
             helper.make_node("Conv", ["y", "w"], ["h"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["z"], kernel_shape=[1, 1])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 8, 4, 4])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [batch, 4, 4, 4])],
                              [w, w2, rest, start, end])
    return from_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def test_unknown_shapes_are_read_off_a_run_and_the_table_builds():
    model = _reshaped_by_arithmetic()
    groups = analyze(model)
    assert groups.graph.shape("y") == (None, 8, 4, 4)
    assert fill_shapes_from_a_run(groups.graph, model) == ["y", "h", "r"]
    assert groups.graph.shape("y") == (1, 8, 4, 4)
    assert len(groups.prunable()) == 1
    lut = build_lut(model, get_target("cpu"), sampling=QUICK_SAMPLING)  # needs the conv's input shape
    assert len(lut.entries) == 2


def test_a_model_with_symbolic_inputs_is_left_alone():
    model = _reshaped_by_arithmetic(batch="N")
    groups = analyze(model)
    assert fill_shapes_from_a_run(groups.graph, model) == []
    assert groups.graph.shape("y") == (None, 8, 4, 4)
