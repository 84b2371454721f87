"""The rule registry and the context rules read shapes and constants through.

A rule is `rule(ctx, node, key) -> Outcome`: given that axis `key` (an input or output of
`node`) carries channels, say how the op ties it to its other tensors. Rules are looked up
by op type; an op without a rule freezes whatever channel axis reaches it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..axes import AxisKey, Outcome, ShapeUnknown, Span
from ..ir import Graph, Node

Rule = Callable[["RuleContext", Node, AxisKey], Outcome]
_RULES: dict[str, Rule] = {}
_SEEDS: dict[str, Callable[["RuleContext", Node], list[AxisKey]]] = {}


def rule(*op_types: str):
    """Register a channel rule for ONNX op types of the default domain."""

    def register(fn: Rule) -> Rule:
        for op in op_types:
            _RULES[op] = fn
        return fn

    return register


def seeds(*op_types: str):
    """Register the axes an op declares as channel axes on its own (layers with weights)."""

    def register(fn):
        for op in op_types:
            _SEEDS[op] = fn
        return fn

    return register


def lookup(node: Node) -> Rule | None:
    if node.domain not in ("", "ai.onnx"):
        return None
    return _RULES.get(node.op_type)


def supported_ops() -> list[str]:
    return sorted(_RULES)


def node_seeds(ctx: "RuleContext", node: Node) -> list[AxisKey]:
    fn = _SEEDS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if fn is None:
        return []
    try:
        return fn(ctx, node)
    except ShapeUnknown:
        return []


def apply_rule(ctx: "RuleContext", node: Node, key: AxisKey) -> Outcome:
    fn = lookup(node)
    if fn is None:
        where = f"{node.domain}::{node.op_type}" if node.domain else node.op_type
        return Outcome().freeze(key, f"no channel rule for {where} (node {node.name})")
    try:
        return fn(ctx, node, key)
    except NotConstant as exc:
        return Outcome().freeze(key, f"{node.op_type} {node.name} takes {exc.args[0]!r} "
                                     f"computed at run time")
    except ShapeUnknown as exc:
        return Outcome().freeze(key, f"shape of {exc} is not known at {node.op_type} {node.name}")


class RuleContext:
    """Shapes, constants and axis keys, as rules need them."""

    def __init__(self, graph: Graph):
        self.graph = graph

    # shapes -------------------------------------------------------------
    def shape(self, name: str) -> tuple:
        """The inferred shape; dimensions written as -1 (some exporters' "unknown") are None."""
        shape = self.graph.shape(name)
        if shape is None:
            raise ShapeUnknown(repr(name))
        return tuple(None if isinstance(d, int) and d < 0 else d for d in shape)

    def rank(self, name: str) -> int:
        return len(self.shape(name))

    def dim(self, name: str, axis: int) -> int:
        shape = self.shape(name)
        d = shape[axis]
        if not isinstance(d, int):
            raise ShapeUnknown(f"{name!r} axis {axis}")
        return d

    # constants ----------------------------------------------------------
    def is_const(self, name: str) -> bool:
        return self.graph.is_constant(name)

    def const(self, name: str) -> np.ndarray | None:
        return self.graph.const(name)

    def ints(self, node: Node, attr: str, slot: int) -> list[int] | None:
        """An int list that is an attribute in old opsets and an input in new ones."""
        if attr in node.attrs:
            return [int(v) for v in node.attrs[attr]]
        name = node.input(slot)
        if not name:
            return None
        value = self.const(name)
        if value is None:
            raise NotConstant(name)
        return [int(v) for v in np.asarray(value).reshape(-1)]

    def input_ints(self, node: Node, slot: int) -> list[int]:
        """The constant int list given as input `slot` (Slice bounds, Pad axes...)."""
        value = self.const(node.inputs[slot])
        if value is None:
            raise NotConstant(node.inputs[slot])
        return [int(v) for v in np.asarray(value).reshape(-1)]

    # keys ---------------------------------------------------------------
    def key(self, node: Node, name: str, axis: int) -> AxisKey:
        """The key of `name` as seen by `node`: constants get a per-use key."""
        rank = self.rank(name)
        axis = axis % rank if rank else 0
        if self.graph.is_param(name) and name not in node.outputs:
            slot = node.inputs.index(name)
            return AxisKey(name, axis, f"{node.name}#{slot}")
        return AxisKey(name, axis)

    def param_key(self, node: Node, slot: int, axis: int) -> AxisKey:
        name = node.inputs[slot]
        axis = axis % self.rank(name)
        return AxisKey(name, axis, f"{node.name}#{slot}")

    def full(self, key: AxisKey) -> Span:
        return Span(key, 0, self.dim(key.tensor, key.axis))

    def span(self, node: Node, name: str, axis: int) -> Span:
        return self.full(self.key(node, name, axis))

    def slot_key(self, node: Node, slot: int, axis: int) -> AxisKey:
        """Key of the input at `slot` (per-use for constants, even if repeated)."""
        name = node.inputs[slot]
        if self.graph.is_param(name):
            return self.param_key(node, slot, axis)
        return AxisKey(name, axis % self.rank(name))


class NotConstant(ShapeUnknown):
    """An op parameter (pads, axes, sizes) that is computed at run time."""


def freeze_all(node: Node, key: AxisKey, reason: str) -> Outcome:
    return Outcome().freeze(key, f"{reason} ({node.op_type} {node.name})")
