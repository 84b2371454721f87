"""Layer weights that the graph computes from constants with statistics over a copy.

A weight computed from constants is normally followed back to its initializers: a
pruned channel is sliced out of every constant it was computed from, which stays exact
as long as every statistic reads a stored constant itself (that use keeps its copy
whole). timm's NF-ResNet standardises each conv weight by reshaping it to
[1, out, in*k*k] and normalising that copy (BatchNormalization in training mode under
the legacy exporter, ReduceMean/Sub/Div under dynamo): the input channels then feed
statistics over a derived tensor, which no slice of the initializer reproduces.

Such a weight is made a parameter in its own right: its value is computed once from the
constants (onnx's reference evaluator, on the few nodes that produce it) and read like
an initializer's. The rewrite then slices the computed weight, so the pruned layer
reads exactly what the channel-masked original computes, and the standardisation
subgraph, no longer read, is removed with it. Weights behind quantization ops are left
as they are.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from .ir import Graph

# the layers whose weight and bias a rewrite slices, by input slot
LAYER_SLOTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "MatMul": (1,)}
STATISTICS = {"BatchNormalization", "InstanceNormalization", "LayerNormalization",
              "GroupNormalization", "LpNormalization", "MeanVarianceNormalization",
              "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceMax",
              "ReduceMin", "ReduceProd", "ReduceLogSum", "ReduceLogSumExp"}
QUANTIZATION = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}


@dataclass(frozen=True)
class ComputedWeight:
    """The nodes that compute one weight from constants, and what they read."""

    output: str
    nodes: tuple[onnx.NodeProto, ...]  # in topological order
    leaves: tuple[str, ...]  # the constants they read
    opsets: tuple[onnx.OperatorSetIdProto, ...]

    def evaluate(self, tensors: dict) -> np.ndarray:
        """The weight's value, its constants read from `tensors` (name -> ir.Tensor)."""
        inits = [numpy_helper.from_array(np.asarray(tensors[name].value()), name) for name in self.leaves]
        graph = helper.make_graph(list(self.nodes), "computed_weight", [],
                                  [helper.make_empty_tensor_value_info(self.output)], inits)
        model = helper.make_model(graph, opset_imports=list(self.opsets))
        return np.asarray(ReferenceEvaluator(model).run([self.output], {})[0])


def mark_computed_weights(graph: Graph, protos: list[onnx.NodeProto],
                          opsets: list[onnx.OperatorSetIdProto]) -> list[str]:
    """Give each layer weight that constants compute with statistics over a derived copy
    a value of its own (computed on first read) and make it a parameter; `protos` are the
    graph's nodes as ONNX, in the same order. Returns the weights marked."""
    marked = []
    for node in graph.nodes:
        for slot in LAYER_SLOTS.get(node.op_type, ()) if node.domain in ("", "ai.onnx") else ():
            name = node.input(slot)
            if not name or graph.is_param(name) or not graph.is_constant_derived(name):
                continue
            if graph.tensor(name).loader is not None:
                continue
            cone = _cone(graph, name)
            if cone is None or not _needs_its_own_value(graph, cone):
                continue
            weight = ComputedWeight(name, tuple(protos[n.index] for n in cone),
                                    tuple(_leaves(cone)), tuple(opsets))
            t = graph.tensor(name)
            t.computed = weight
            t.loader = partial(weight.evaluate, graph.tensors)
            marked.append(name)
    return marked


def rebind(tensors: dict) -> None:
    """Point every computed weight in `tensors` at the constants in `tensors` (after the
    dict was copied to read another model's initializers)."""
    for name, t in list(tensors.items()):
        if t.computed is not None:
            tensors[name] = dataclasses.replace(t, loader=partial(t.computed.evaluate, tensors), _value=None)


def _cone(graph: Graph, name: str):
    """The nodes between `name` and the constants it is computed from, in order; None
    when a node has a subgraph or a non-standard domain."""
    seen, stack, nodes = set(), [name], []
    while stack:
        t = stack.pop()
        if t in seen or not t or graph.is_param(t):
            continue
        seen.add(t)
        node = graph.producer.get(t)
        if node is None:
            if not graph.is_constant(t):
                return None
            continue
        if node.domain not in ("", "ai.onnx") or any(isinstance(v, onnx.GraphProto) for v in node.attrs.values()):
            return None
        if node not in nodes:
            nodes.append(node)
            stack += [i for i in node.inputs if i]
    return sorted(nodes, key=lambda n: n.index)


def _needs_its_own_value(graph: Graph, cone) -> bool:
    """Statistics over a tensor that is not a stored constant, and no quantization. Before
    opset 14 a BatchNormalization in training mode is spelled by its extra outputs, and
    runtimes differ on what it then computes (ONNX Runtime matches neither mode): such a
    weight is left to the rules, which freeze the axes it takes statistics over."""
    if any(n.op_type in QUANTIZATION for n in cone):
        return False
    if graph.opset < 14 and any(n.op_type == "BatchNormalization" for n in cone):
        return False
    return any(n.op_type in STATISTICS and not graph.is_param(n.inputs[0]) for n in cone)


def _leaves(cone) -> list[str]:
    produced = {o for n in cone for o in n.outputs}
    return list(dict.fromkeys(i for n in cone for i in n.inputs if i and i not in produced))
