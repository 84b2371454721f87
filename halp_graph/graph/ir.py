"""The framework-neutral graph that every front end (ONNX, torch.fx) produces.

Ops keep ONNX names and attribute conventions, so one set of channel rules serves both
front ends. Tensors carry inferred shapes; constants keep a handle to their data that is
only turned into an array when a rule or a rewrite needs it, so capture never copies the
weights of a large model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

Dim = int | str | None  # a static size, a symbolic name, or unknown
Shape = tuple[Dim, ...]


@dataclass
class Node:
    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""
    index: int = 0  # position in topological order

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def input(self, slot: int) -> str:
        """The input name at `slot`, or "" when the optional input is absent."""
        return self.inputs[slot] if slot < len(self.inputs) else ""


@dataclass
class Tensor:
    name: str
    shape: Shape | None = None  # None: rank unknown
    dtype: int | None = None  # onnx.TensorProto data type
    loader: Callable[[], np.ndarray] | None = None  # set for constants
    is_initializer: bool = False
    _value: np.ndarray | None = None
    computed: Any = None  # computed_weights.ComputedWeight: a weight given a value of its own

    @property
    def is_constant(self) -> bool:
        return self.loader is not None or self._value is not None

    def value(self) -> np.ndarray | None:
        if self._value is None and self.loader is not None:
            self._value = self.loader()
        return self._value


class Graph:
    """Nodes in topological order plus tensors with shapes, producers and consumers."""

    def __init__(self, nodes: list[Node], tensors: dict[str, Tensor], inputs: list[str],
                 outputs: list[str], opset: int, source: str = "onnx"):
        self.nodes = nodes
        self.tensors = tensors
        self.inputs = inputs
        self.outputs = outputs
        self.opset = opset
        self.source = source
        self.producer: dict[str, Node] = {}
        self.consumers: dict[str, list[tuple[Node, int]]] = {}
        for i, node in enumerate(nodes):
            node.index = i
            for out in node.outputs:
                if out:
                    self.producer[out] = node
            for slot, name in enumerate(node.inputs):
                if name:
                    self.consumers.setdefault(name, []).append((node, slot))
        self.nodes_by_name = {n.name: n for n in nodes}
        self._input_set = set(inputs)
        self._output_set = set(outputs)
        self._constant_derived: set[str] | None = None
        self._subgraph_reads: list | None = None

    def tensor(self, name: str) -> Tensor:
        t = self.tensors.get(name)
        if t is None:
            t = self.tensors[name] = Tensor(name)
        return t

    def shape(self, name: str) -> Shape | None:
        return self.tensor(name).shape

    def is_input(self, name: str) -> bool:
        return name in self._input_set

    def is_output(self, name: str) -> bool:
        return name in self._output_set

    def is_constant(self, name: str) -> bool:
        return bool(name) and self.tensor(name).is_constant

    def is_constant_derived(self, name: str) -> bool:
        """True for constants and for tensors computed from constants alone (a weight that
        is standardised or reshaped at run time): no graph input flows into them."""
        if self._constant_derived is None:
            derived: set[str] = set()
            for node in self.nodes:
                ins = [i for i in node.inputs if i]
                if ins and all(self.is_constant(i) or i in derived for i in ins):
                    derived.update(o for o in node.outputs if o)
            self._constant_derived = derived
        return self.is_constant(name) or name in self._constant_derived

    def subgraph_reads(self) -> list[tuple[Node, set[str]]]:
        """Nodes with subgraphs (If, Loop, Scan) and the outer names their bodies read,
        found once: the analysis of every Shape node asks (vit_h_14's 64 of them scanned
        all 2,771 nodes each, 0.09 s of its capture)."""
        if self._subgraph_reads is None:
            found = []
            for node in self.nodes:
                bodies = [v for v in node.attrs.values() if hasattr(v, "node")]
                if bodies:
                    found.append((node, {i for body in bodies for inner in body.node for i in inner.input}))
            self._subgraph_reads = found
        return self._subgraph_reads

    def const(self, name: str) -> np.ndarray | None:
        """The value of a constant tensor (initializer, Constant node, folded), else None."""
        if not name:
            return None
        return self.tensor(name).value()

    def param_source(self, name: str) -> str | None:
        """The initializer a constant input resolves to through Identity chains, else None.

        Legacy exports route shared initializers through Identity nodes; a rewrite that
        slices a parameter must slice a private copy of that initializer.
        """
        seen = 0
        while name and seen < 64:
            t = self.tensors.get(name)
            if t is not None and t.is_initializer:
                return name
            node = self.producer.get(name)
            if node is None or node.op_type != "Identity":
                return None
            name = node.inputs[0]
            seen += 1
        return None

    def is_param(self, name: str) -> bool:
        """A stored constant (initializer, Constant node, or an Identity chain to one): each
        op reading it gets its own copy when pruned. Values folded from shape arithmetic are
        readable with const() but are ordinary tensors for channel tying."""
        if not name:
            return False
        if self.param_source(name) is not None or self.tensor(name).computed is not None:
            return True
        node = self.producer.get(name)
        return node is not None and node.op_type == "Constant"

    def users(self, name: str) -> list[tuple[Node, int]]:
        return self.consumers.get(name, [])

    def iter_data_tensors(self) -> Iterable[str]:
        """Names of all non-constant tensors (graph inputs and node outputs)."""
        yield from (i for i in self.inputs if not self.is_constant(i))
        for node in self.nodes:
            for out in node.outputs:
                if out and not self.is_constant(out):
                    yield out
