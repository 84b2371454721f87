"""Reading an ONNX graph for the twin: nodes with parsed attributes, the constants, and
which float constants are trainable weights.

A float constant becomes a trainable parameter when every node that reads it reads it
as data (a weight, a bias, a BN statistic, an elementwise operand); one read as a
shape, an index, a Resize scale, a Clip bound or a Pad value stays a plain tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Input slots that are never trainable data, per op type (others are data).
_NON_DATA_SLOTS = {
    "Resize": {1, 2, 3}, "Upsample": {1}, "Clip": {1, 2}, "Pad": {1, 2, 3}, "Pow": {1},
    "Reshape": {1}, "Expand": {1}, "Tile": {1}, "Slice": {1, 2, 3, 4}, "Range": {0, 1, 2},
    "ConstantOfShape": {0}, "Squeeze": {1}, "Unsqueeze": {1}, "Split": {1}, "TopK": {1},
    "CumSum": {1}, "Trilu": {1}, "Gather": {1}, "GatherElements": {1}, "GatherND": {1},
    "ScatterND": {1}, "ScatterElements": {1}, "Dropout": {1, 2}, "ReduceSum": {1},
    "ReduceMean": {1}, "ReduceMax": {1}, "ReduceMin": {1}, "ReduceProd": {1},
    "ReduceSumSquare": {1}, "ReduceL1": {1}, "ReduceL2": {1}, "ReduceLogSum": {1},
    "ReduceLogSumExp": {1}, "Shape": {0}, "Size": {0}, "MaxRoiPool": {1},
}
# Ops whose Constant-node operands (ndim >= 1) are weights worth training.
_WEIGHT_CONSUMERS = {
    "Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "PRelu", "Mul", "Add",
    "Sub", "Div", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
}
_FLOAT_TYPES = (np.float32, np.float64, np.float16)


@dataclass
class TwinNode:
    """One ONNX node as the twin runs it (Constant nodes are folded into constants)."""

    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    fn: Callable | None = field(default=None, repr=False, compare=False)


def parse_attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        if a.type == onnx.AttributeProto.TENSOR:
            out[a.name] = numpy_helper.to_array(a.t)
        elif a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            out[a.name] = a  # subgraph ops are unsupported; keep the proto for the message
        else:
            v = helper.get_attribute_value(a)
            if isinstance(v, bytes):
                v = v.decode()
            elif isinstance(v, list) and v and isinstance(v[0], bytes):
                v = [s.decode() for s in v]
            out[a.name] = v
    return out


def constant_node_value(node: onnx.NodeProto) -> np.ndarray:
    attrs = parse_attrs(node)
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return np.array(attrs[key], dtype=dtype)
    if "value" in attrs:
        return attrs["value"]
    raise ValueError(f"Constant node {node.name!r}: unsupported value attribute {sorted(attrs)}")


def consumers(graph: onnx.GraphProto) -> dict[str, list[tuple[str, int]]]:
    """tensor name -> [(consumer op type, input slot)]."""
    out: dict[str, list[tuple[str, int]]] = {}
    for node in graph.node:
        for slot, name in enumerate(node.input):
            if name:
                out.setdefault(name, []).append((node.op_type, slot))
    return out


def is_trainable(array: np.ndarray, uses: list[tuple[str, int]], from_constant_node: bool,
                 graph_outputs: set[str], name: str) -> bool:
    if array.dtype.type not in _FLOAT_TYPES or not uses or name in graph_outputs:
        return False
    if from_constant_node and array.ndim < 1:
        return False
    for op_type, slot in uses:
        if slot in _NON_DATA_SLOTS.get(op_type, ()):
            return False
        if from_constant_node and op_type not in _WEIGHT_CONSUMERS:
            return False
    return True
