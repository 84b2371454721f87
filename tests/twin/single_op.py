"""Build a one-node ONNX model in code and prove the twin agrees with ONNX Runtime on it."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from halp_graph.twin import build_twin, check_twin


class Init:
    """An input given as an initializer instead of a graph input."""

    def __init__(self, value):
        self.value = np.asarray(value)


def ints(*values) -> Init:
    return Init(np.array(values, dtype=np.int64))


def randn(*shape, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def one_node_model(op_type: str, inputs: list, attrs: dict | None = None, opset: int = 17,
                   n_out: int = 1, domain: str = "") -> tuple[onnx.ModelProto, dict]:
    """(model, feeds): arrays become graph inputs, Init values initializers, "" absent."""
    names, graph_inputs, inits, feeds = [], [], [], {}
    for i, value in enumerate(inputs):
        if isinstance(value, str) and value == "":
            names.append("")
            continue
        name = f"in{i}"
        names.append(name)
        if isinstance(value, Init):
            inits.append(numpy_helper.from_array(value.value, name))
        else:
            value = np.asarray(value)
            elem = helper.np_dtype_to_tensor_dtype(value.dtype)
            graph_inputs.append(helper.make_tensor_value_info(name, elem, list(value.shape)))
            feeds[name] = value
    outs = [f"out{i}" for i in range(n_out)]
    node = helper.make_node(op_type, names, outs, domain=domain, **(attrs or {}))
    graph = helper.make_graph([node], op_type.lower(), graph_inputs,
                              [onnx.ValueInfoProto(name=o) for o in outs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 10)
    return model, feeds


def assert_agrees(model: onnx.ModelProto, feeds: dict, rtol: float = 1e-4):
    twin = build_twin(model)
    report = check_twin(twin, model, feeds=feeds, rtol=rtol)
    assert report.ok, str(report)
    assert not report.vacuous, "all outputs ~0: the check proves nothing"
    return twin, report


def check_op(op_type: str, inputs: list, attrs: dict | None = None, opset: int = 17, n_out: int = 1,
             rtol: float = 1e-4):
    model, feeds = one_node_model(op_type, inputs, attrs, opset, n_out)
    return assert_agrees(model, feeds, rtol)
