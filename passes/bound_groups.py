"""The channel groups a rewrite works from: found afresh, or the caller's, checked first.

A rewrite reads weights, shapes and constants through `groups.graph`, so a GroupSet found
on another model would silently write that model's weights into this one. A GroupSet the
caller passes (to save a second analysis) is therefore checked against the model: same
nodes, attributes, inputs, initializer names, types and dims, and the same values of the
initializers that capture folded constants from (shape arithmetic). It is then rebound,
so that its initializers load from this model (lazily, as capture does): models that
differ only in their weights get their own weights.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import onnx

from halp_graph.errors import PlanError
from halp_graph.graph import GroupSet, analyze
from halp_graph.graph.capture_onnx import LoadedModel, _attrs, _implicit_inputs, _shape_of, node_names, tensor_loader
from halp_graph.graph.computed_weights import rebind
from halp_graph.graph.ir import Graph


def groups_for(model: LoadedModel, groups: GroupSet | None = None) -> GroupSet:
    """`analyze(model)`, or `groups` checked against `model` and bound to its weights."""
    if groups is None:
        return analyze(model)
    problem = mismatch(groups.graph, model.proto, model.base_dir)
    if problem:
        raise PlanError(f"the groups given were not found on this model: {problem}")
    bound = copy.copy(groups)
    bound.graph = _rebound(groups.graph, model)
    return bound


def mismatch(graph: Graph, proto: onnx.ModelProto, base_dir: str = ".") -> str | None:
    """Why `graph` is not the capture of `proto` (None when it is)."""
    g = proto.graph
    if len(g.node) != len(graph.nodes):
        return f"{len(g.node)} nodes against {len(graph.nodes)}"
    for name, pn, node in zip(node_names(proto), g.node, graph.nodes):
        if (name, pn.op_type, pn.domain, list(pn.input) + _implicit_inputs(pn), list(pn.output)) != \
                (node.name, node.op_type, node.domain, node.inputs, node.outputs):
            return f"node {name!r} ({pn.op_type}) differs"
        theirs = node.attrs
        mine = _attrs(pn)
        if mine.keys() != theirs.keys() or not all(_same(mine[k], theirs[k]) for k in mine):
            return f"the attributes of node {name!r} differ"
    folded_from = _folded_from(graph)
    for init in g.initializer:
        t = graph.tensors.get(init.name)
        if t is None or not t.is_initializer or t.shape != tuple(init.dims) or t.dtype != init.data_type:
            return f"initializer {init.name!r} differs"
        if init.name in folded_from and not _same(tensor_loader(init, base_dir)(), t.value()):
            return f"the value of initializer {init.name!r} differs"
    inits = {t.name for t in g.initializer}
    inputs = [vi for vi in g.input if vi.name not in inits]
    if [vi.name for vi in inputs] != list(graph.inputs) or [o.name for o in g.output] != list(graph.outputs):
        return "the graph inputs or outputs differ"
    for vi in inputs:
        if _shape_of(vi.type)[0] != graph.shape(vi.name):
            return f"the shape of input {vi.name!r} differs"
    return None


def _folded_from(graph: Graph) -> set[str]:
    """Inputs of the nodes whose outputs capture computed (values no loader re-reads);
    values read only inside a computed weight's subgraph are left out: that weight is
    computed afresh from the model's own constants when rebound."""
    in_cones = {o for t in graph.tensors.values() if t.computed is not None
                for n in t.computed.nodes for o in n.output}

    def folded(name: str) -> bool:
        t = graph.tensors.get(name)
        if t is None or t._value is None or t.loader is not None or t.is_initializer:
            return False
        return not (name in in_cones and all(o in in_cones for n, _ in graph.users(name) for o in n.outputs))
    return {i for n in graph.nodes if any(folded(o) for o in n.outputs if o) for i in n.inputs if i}


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return a == b


def _rebound(graph: Graph, model: LoadedModel) -> Graph:
    """A shallow copy of `graph` whose initializers (and the Identity outputs that share
    their loaders, and the weights computed from them) load from `model`; nodes and
    folded values are shared."""
    tensors = dict(graph.tensors)
    loaders = {}
    for init in model.proto.graph.initializer:
        old = tensors[init.name]
        new = tensor_loader(init, model.base_dir)
        loaders[id(old.loader)] = new
        tensors[init.name] = dataclasses.replace(old, loader=new, _value=None)
    for name, t in tensors.items():
        if not t.is_initializer and t.loader is not None and id(t.loader) in loaders:
            tensors[name] = dataclasses.replace(t, loader=loaders[id(t.loader)], _value=None)
    rebind(tensors)
    out = copy.copy(graph)
    out.tensors = tensors
    return out
