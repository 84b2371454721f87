"""Shape values as expressions: what value_expr reads out of Shape -> Gather -> Concat
arithmetic, what dim_expr derives through conv, pool, ConvTranspose and Resize arithmetic
(checked against ONNX Runtime at many sizes), and what complete_shapes fills in."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from halp_graph.graph import capture
from halp_graph.graph.shape_values import (Const, Dim, Op, Unknown, complete_shapes, dim_expr,
                                           reads, substitute, value_expr)
from halp_graph.models import edge_cases as ec
from halp_graph.runtime import session


def node_of(graph, op_type: str, index: int = 0):
    return [n for n in graph.nodes if n.op_type == op_type][index]


def test_value_expr_follows_shape_arithmetic():
    graph = capture(ec.dynamic_reshape())
    reshape = node_of(graph, "Reshape")
    y = reshape.inputs[0]
    assert value_expr(graph, reshape.inputs[1]) == [Dim(y, 0), Const(8), Op("mul", (Dim(y, 2), Dim(y, 3)))]
    back = node_of(graph, "Reshape", 1)
    assert value_expr(graph, back.inputs[1]) == [Dim(y, a) for a in range(4)]


def test_value_expr_marks_what_it_cannot_follow():
    graph = capture(ec.shape_through_computed_index())
    gather = node_of(graph, "Gather")
    y = graph.producer[gather.inputs[0]].inputs[0]
    [entry] = value_expr(graph, gather.outputs[0])
    assert isinstance(entry, Unknown) and reads(entry.deps, y, 1)


def test_values_computed_by_other_ops_read_no_pruned_size():
    """A value past a non-arithmetic op (here Cast to float) is rebuilt at that op's input,
    so downstream it depends on no dimension."""
    graph = capture(ec.dynamic_shape_arithmetic())
    sqrt = node_of(graph, "Sqrt")
    assert value_expr(graph, sqrt.outputs[0]) == [Unknown(f"computed by Sqrt {sqrt.name}")]


def _chain_model() -> onnx.ModelProto:
    """x -> Conv k3 s2 p1 -> MaxPool k3 s2 p1 -> Conv k5 s1 p2 d1 -> ConvTranspose k4 s2 p1
    -> Resize x2 -> Pad (1, 2) -> Conv k3 s1 dilation 2 (valid) -> y, every size symbolic."""
    rng = np.random.default_rng(0)

    def w(*shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32))

    inits = [w(4, 2, 3, 3), w(4, 4, 5, 5), w(4, 3, 4, 4), w(2, 3, 3, 3)]
    for i, t in enumerate(inits):
        t.name = f"w{i}"
    inits += [numpy_helper.from_array(np.array([], np.float32), "roi"),
              numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
              numpy_helper.from_array(np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "pads")]
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["a"], ["b"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["b", "w1"], ["c"], kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
        helper.make_node("ConvTranspose", ["c", "w2"], ["d"], kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Resize", ["d", "roi", "scales"], ["e"], mode="nearest"),
        helper.make_node("Pad", ["e", "pads"], ["f"], mode="constant"),
        helper.make_node("Conv", ["f", "w3"], ["y"], kernel_shape=[3, 3], dilations=[2, 2]),
    ]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, None, None])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_dim_expr_matches_onnxruntime_at_many_sizes():
    model = _chain_model()
    graph = capture(model)

    def resolve(tensor, axis):
        if tensor == "x":
            return Dim("x", axis)
        shape = graph.shape(tensor)
        if shape is not None and isinstance(shape[axis], int):
            return Const(shape[axis])
        return dim_expr(graph, tensor, axis, resolve)

    exprs = [resolve("y", a) for a in range(4)]
    assert all(e is not None for e in exprs)
    sess = session(model)
    for n, h, w in [(1, 7, 11), (2, 8, 8), (1, 13, 5), (3, 32, 17), (1, 9, 30)]:
        dims = {0: n, 1: 2, 2: h, 3: w}
        got = [substitute(e, lambda t, a: dims[a] if t == "x" else None) for e in exprs]
        out = sess.run(None, {"x": np.zeros((n, 2, h, w), np.float32)})[0]
        assert [g.value for g in got] == list(out.shape), (h, w)


@pytest.mark.parametrize("opset", [11, 17])
def test_complete_shapes_fills_static_channels_behind_computed_bounds(opset):
    graph = capture(ec.dynamic_slice(opset=opset))
    sliced = node_of(graph, "Slice").outputs[0]  # channels 2..6, rows 1..H-1
    before = graph.shape(sliced)
    complete_shapes(graph)
    assert before is None or before[1] is None or before[1] == 4
    assert graph.shape(sliced)[1] == 4 and graph.shape(sliced)[3] == "W"


def test_complete_shapes_never_changes_known_dims():
    graph = capture(ec.yolo_head())
    known = {name: t.shape for name, t in graph.tensors.items() if t.shape is not None}
    complete_shapes(graph)
    for name, shape in known.items():
        now = graph.shape(name)
        assert all(a == b for a, b in zip(shape, now) if a is not None and not (isinstance(a, int) and a < 0))


@pytest.mark.parametrize("src, dst, axis, expected", [
    (("N", 82, "H", "W"), ("N", 82, None), 1, (1, 1, 1)),      # [N, C, H*W]: prefix and count equal
    (("h", "w", 2), (None, 2), 2, (1, 1, 1)),                  # [H*W, 2]: suffix and count equal
    (("N", 64, "A"), ("N", 4, 16, "A"), 1, (1, 16, 1)),        # the DFL split into 4 x 16 bins
    (("N", 4, 16, "A"), ("N", 64, "A"), 2, None),              # the bins interleave with the sides
    (("N", 8, None, None), ("N", None), 1, None),              # [N, C*H*W] of unknown H, W: no block
])
def test_reshape_map_with_symbolic_dims(src, dst, axis, expected):
    from halp_graph.graph.rules.movement import reshape_map
    assert reshape_map(src, dst, axis) == expected
