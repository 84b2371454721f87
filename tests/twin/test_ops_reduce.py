"""Reductions, ArgMax/ArgMin, Softmax family, CumSum and TopK across their opset encodings."""

from __future__ import annotations

import numpy as np
import pytest

from .single_op import Init, check_op, ints, randn

X = randn(2, 3, 4, 5)
POS = np.abs(X) + 0.5
REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare",
          "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"]


def _axes_input_since(op_type):
    return 13 if op_type == "ReduceSum" else 18


@pytest.mark.parametrize("op_type", REDUCE)
@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("axes,keepdims", [([1], 1), ([-1, 1], 0), ([2, 3], 1), (None, 1), (None, 0)])
def test_reduce(op_type, opset, axes, keepdims):
    data = POS if op_type in ("ReduceLogSum", "ReduceProd") else X
    if op_type == "ReduceProd":
        data = 0.8 + 0.4 * np.abs(np.tanh(X))
    attrs = {"keepdims": keepdims}
    inputs = [data]
    if axes is not None:
        if opset < _axes_input_since(op_type):
            attrs["axes"] = axes
        else:
            inputs.append(ints(*axes))
    check_op(op_type, inputs, attrs, opset)


def test_reduce_noop_with_empty_axes():
    check_op("ReduceSum", [X], {"noop_with_empty_axes": 1}, opset=13)
    check_op("ReduceMean", [X, Init(np.zeros(0, np.int64))], {"noop_with_empty_axes": 1}, opset=18)
    check_op("ReduceMax", [X, Init(np.zeros(0, np.int64))], {}, opset=18)


@pytest.mark.parametrize("op_type", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("attrs", [{}, {"axis": 2, "keepdims": 0}, {"axis": -1, "select_last_index": 1}])
def test_arg(op_type, attrs):
    data = np.round(X * 2)  # ties, so select_last_index matters
    check_op(op_type, [data], attrs, opset=13)


@pytest.mark.parametrize("op_type", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, None), (11, 2), (11, -1), (13, None), (13, 1), (13, 2)])
def test_softmax_family(op_type, opset, axis):
    attrs = {} if axis is None else {"axis": axis}
    check_op(op_type, [X * 3], attrs, opset)


@pytest.mark.parametrize("attrs", [{}, {"exclusive": 1}, {"reverse": 1}, {"exclusive": 1, "reverse": 1}])
def test_cumsum(attrs):
    check_op("CumSum", [X, Init(np.array(2, np.int64))], attrs, opset=14)
    check_op("CumSum", [np.arange(12, dtype=np.int64).reshape(3, 4), Init(np.array(-1, np.int64))], attrs, 14)


@pytest.mark.parametrize("attrs", [{}, {"axis": 1, "largest": 0}, {"axis": 2}])
def test_topk(attrs):
    check_op("TopK", [X, ints(3)], attrs, opset=11, n_out=2)
