"""Shape, indexing and padding ops: twin == ORT, across the opset encodings that differ."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from .single_op import Init, assert_agrees, check_op, ints, randn

X = randn(2, 3, 4, 5)


@pytest.mark.parametrize("attrs,opset", [({}, 13), ({"start": 1}, 15), ({"start": -3, "end": -1}, 15)])
def test_shape(attrs, opset):
    check_op("Shape", [X], attrs, opset)


def test_size():
    check_op("Size", [X], opset=13)


@pytest.mark.parametrize("target,attrs,opset", [
    ((6, 20), {}, 13), ((0, -1, 5), {}, 13), ((-1,), {}, 13), ((2, 0, 20), {}, 14),
    ((2, 3, 20), {"allowzero": 1}, 14),
])
def test_reshape(target, attrs, opset):
    check_op("Reshape", [X, ints(*target)], attrs, opset)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_flatten(axis):
    check_op("Flatten", [X], {"axis": axis}, opset=13)


@pytest.mark.parametrize("opset", [11, 13, 21])
def test_squeeze_unsqueeze(opset):
    x = randn(2, 1, 4, 1)
    for op_type, data, axes in [("Squeeze", x, [1]), ("Squeeze", x, [-1, 1]), ("Unsqueeze", X, [0]),
                                ("Unsqueeze", X, [1, -1])]:
        if opset < 13:
            check_op(op_type, [data], {"axes": axes}, opset)
        else:
            check_op(op_type, [data, ints(*axes)], {}, opset)
    check_op("Squeeze", [x], {}, opset)


@pytest.mark.parametrize("axis", [1, -1])
def test_concat(axis):
    check_op("Concat", [X, randn(2, 3, 4, 2, seed=1) if axis == -1 else randn(2, 2, 4, 5, seed=1)],
             {"axis": axis}, opset=13)


@pytest.mark.parametrize("opset,sizes,n_out,num_outputs", [
    (11, [1, 2], 2, None), (13, [1, 2], 2, None), (13, None, 3, None), (18, None, 2, 2),
    (18, [2, 1], 2, None),
])
def test_split(opset, sizes, n_out, num_outputs):
    attrs = {"axis": 1}
    inputs = [randn(2, 3, 4)]
    if sizes and opset < 13:
        attrs["split"] = sizes
    elif sizes:
        inputs.append(ints(*sizes))
    if num_outputs:
        attrs["num_outputs"] = num_outputs
    check_op("Split", inputs, attrs, opset, n_out)


def test_split_uneven_num_outputs():
    check_op("Split", [randn(7, 2)], {"axis": 0, "num_outputs": 3}, opset=18, n_out=3)


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([1], [3], [1], None), ([0, 1], [2, -1], [2, 3], [1, 2]), ([-1], [-1000], [3], [-1]),
    ([3], [0], [2], [-2]), ([0], [2**62], [-1], [3]), ([-100], [100], [0], None),
    ([1, 0], [3, 4], None, None),
])
def test_slice(starts, ends, axes, steps):
    inputs = [X, ints(*starts), ints(*ends)]
    if axes is not None:
        inputs.append(ints(*axes))
    if steps is not None:
        inputs.append(ints(*steps) if axes is not None else "")
    check_op("Slice", inputs, {}, opset=13)


def test_slice_opset9_attributes():
    check_op("Slice", [X], {"starts": [1, 0], "ends": [3, -1], "axes": [1, 3]}, opset=9)


@pytest.mark.parametrize("axis,indices", [(0, [1, 0, 1]), (1, [[0, -1], [2, 1]]), (-1, -2), (2, [3])])
def test_gather(axis, indices):
    check_op("Gather", [X, Init(np.array(indices, np.int64))], {"axis": axis}, opset=13)


def test_gather_elements_and_nd():
    idx = np.random.default_rng(0).integers(-4, 4, (2, 3, 2, 5)).astype(np.int64)
    check_op("GatherElements", [X, Init(idx)], {"axis": 2}, opset=13)
    check_op("GatherND", [X, Init(np.array([[0, 1], [1, -1]], np.int64))], {}, opset=13)
    check_op("GatherND", [X, Init(np.array([[[1, 2]], [[0, 3]]], np.int64))], {"batch_dims": 1}, opset=13)


@pytest.mark.parametrize("reduction,opset", [("none", 13), ("add", 16), ("mul", 16), ("max", 18)])
def test_scatter_nd(reduction, opset):
    idx = Init(np.array([[0, 1], [1, 2]], np.int64))
    attrs = {} if reduction == "none" else {"reduction": reduction}
    check_op("ScatterND", [X, idx, randn(2, 4, 5, seed=1)], attrs, opset)


@pytest.mark.parametrize("reduction", ["none", "add"])
def test_scatter_elements(reduction):
    idx = Init(np.array([[[[0, 1, 2, 3, 0]]]] * 1, np.int64).repeat(2, 0).repeat(3, 1))
    attrs = {"axis": 2} if reduction == "none" else {"axis": 2, "reduction": reduction}
    check_op("ScatterElements", [X, idx, randn(2, 3, 1, 5, seed=2)], attrs, opset=16)


@pytest.mark.parametrize("perm", [None, [0, 2, 3, 1], [3, 1, 0, 2]])
def test_transpose(perm):
    check_op("Transpose", [X], {} if perm is None else {"perm": perm}, opset=13)


@pytest.mark.parametrize("data,shape", [((3, 1), (2, 3, 4)), ((2, 1, 5), (1, 4, 1)), ((1,), (3,))])
def test_expand(data, shape):
    check_op("Expand", [randn(*data), ints(*shape)], opset=13)


def test_tile():
    check_op("Tile", [randn(2, 3), ints(2, 3)], opset=13)


@pytest.mark.parametrize("value", [None, np.array([1.5], np.float32), np.array([3], np.int64)])
def test_constant_of_shape(value):
    attrs = {} if value is None else {"value": onnx.numpy_helper.from_array(value)}
    # a 0 fill would be vacuous: add it to a live tensor
    model, feeds = _constant_of_shape_model(attrs, value)
    assert_agrees(model, feeds)


def _constant_of_shape_model(attrs, value):
    dtype = onnx.TensorProto.FLOAT if value is None or value.dtype == np.float32 else onnx.TensorProto.INT64
    base = randn(2, 3) if dtype == onnx.TensorProto.FLOAT else np.arange(6, dtype=np.int64).reshape(2, 3)
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("ConstantOfShape", ["s"], ["c"], **attrs),
             helper.make_node("Add", ["x", "c"], ["y"])]
    graph = helper.make_graph(nodes, "cos", [helper.make_tensor_value_info("x", dtype, [2, 3])],
                              [onnx.ValueInfoProto(name="y"), onnx.ValueInfoProto(name="c")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), {"x": base}


@pytest.mark.parametrize("start,limit,delta", [(0, 10, 3), (5, -3, -2), (0.5, 3.0, 0.7)])
def test_range(start, limit, delta):
    dtype = np.float32 if isinstance(start, float) else np.int64
    vals = [np.array(v, dtype) for v in (start, limit, delta)]
    check_op("Range", vals, opset=11)


def test_nonzero():
    check_op("NonZero", [(X > 0.5).astype(np.float32) * X], opset=13)


@pytest.mark.parametrize("upper,k", [(1, None), (0, None), (1, 1), (0, -1)])
def test_trilu(upper, k):
    inputs = [randn(2, 4, 5)] + ([Init(np.array(k, np.int64))] if k is not None else [])
    check_op("Trilu", inputs, {"upper": upper}, opset=14)


@pytest.mark.parametrize("mode,pads,opset", [
    ("constant", [0, 0, 1, 2, 0, 0, 2, 1], 13), ("constant", [0, 1, -1, 0, 0, 0, 1, -2], 13),
    ("reflect", [0, 0, 2, 1, 0, 0, 1, 3], 13), ("edge", [0, 0, 2, 1, 0, 0, 1, 3], 13),
    ("wrap", [0, 0, 2, 1, 0, 0, 1, 3], 19), ("reflect", [1, 0, 0, 0, 1, 0, 0, 0], 18),
])
def test_pad(mode, pads, opset):
    inputs = [X, ints(*pads)]
    if mode == "constant":
        inputs.append(Init(np.array(0.5, np.float32)))
    check_op("Pad", inputs, {"mode": mode}, opset)


def test_pad_axes_and_legacy():
    check_op("Pad", [X, ints(1, 2, 0, 1), Init(np.array(-1.0, np.float32)), ints(1, -1)], {}, opset=18)
    check_op("Pad", [X], {"pads": [0, 0, 1, 1, 0, 0, 1, 1], "value": 2.0}, opset=10)


def test_shape_arithmetic_chain():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as exporters write it."""
    c = lambda name, v: helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(np.array(v, np.int64)))
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        c("i0", 0), helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        c("ax", [0]), helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
        c("rest", [-1]), helper.make_node("Concat", ["n1", "rest"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        c("two", 2), helper.make_node("Mul", ["n", "two"], ["n2"]),
        helper.make_node("Cast", ["n2"], ["nf"], to=1),
        helper.make_node("Mul", ["flat", "nf"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", 1, ["N", 3, 4, 5])],
                              [onnx.ValueInfoProto(name="y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert_agrees(model, {"x": X})
    assert_agrees(model, {"x": randn(5, 3, 4, 5)})


@pytest.mark.parametrize("kind", ["value", "value_float", "value_floats", "value_int", "value_ints"])
def test_constant_node_variants(kind):
    values = {"value": onnx.numpy_helper.from_array(randn(5)), "value_float": 1.5,
              "value_floats": [1.0, 2.0, 3.0, 4.0, 5.0], "value_int": 3, "value_ints": [1, 2, 3, 4, 5]}
    nodes = [helper.make_node("Constant", [], ["k"], **{kind: values[kind]}),
             helper.make_node("Cast", ["k"], ["kf"], to=1), helper.make_node("Mul", ["x", "kf"], ["y"])]
    graph = helper.make_graph(nodes, "const", [helper.make_tensor_value_info("x", 1, [2, 5])],
                              [onnx.ValueInfoProto(name="y")])
    assert_agrees(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), {"x": randn(2, 5)})


def test_scatter_before_opset11():
    idx = Init(np.array([[[[0, 1, 2, 3, 0]]]], np.int64).repeat(2, 0).repeat(3, 1))
    check_op("Scatter", [X, idx, randn(2, 3, 1, 5, seed=2)], {"axis": 2}, opset=10)
