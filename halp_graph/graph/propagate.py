"""Walk the graph from the layers outward, asking each op's rule how channels flow.

Starting from the channel axes that layers declare (a conv's input and output channels),
every op that touches a channel-carrying axis is asked once per axis; the ties it reports
reveal further channel axes, until nothing new appears. Graph inputs and outputs freeze the
axes that reach them: their channel count is part of the model's interface. Dimensions
ONNX shape inference could not derive are completed first where the ops' arithmetic gives
them exactly (`shape_values.complete_shapes`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .axes import AxisKey, Tie
from .ir import Graph
from .rules import RuleContext, apply_rule, node_seeds
from .shape_values import complete_shapes, static_dim


@dataclass
class Propagation:
    keys: set[AxisKey] = field(default_factory=set)
    ties: list[Tie] = field(default_factory=list)
    freezes: list[tuple[AxisKey, str]] = field(default_factory=list)
    blocks: list[tuple[AxisKey, int, str]] = field(default_factory=list)


def propagate(graph: Graph, ctx: RuleContext | None = None) -> Propagation:
    # ONNX shape inference gives up on dims behind computed shape inputs (a Slice with a
    # computed spatial bound loses its static channel count too); the rules need them.
    complete_shapes(graph)
    ctx = ctx or RuleContext(graph)
    result = Propagation()
    seen_ties: set[Tie] = set()
    queue: deque[AxisKey] = deque()

    def enqueue(key: AxisKey) -> None:
        if key not in result.keys:
            result.keys.add(key)
            queue.append(key)

    for node in graph.nodes:
        for key in node_seeds(ctx, node):
            enqueue(key)

    asked: set[tuple[str, AxisKey]] = set()
    while queue:
        key = queue.popleft()
        if key.is_param:
            continue
        name = key.tensor
        if graph.is_input(name):
            result.freezes.append((key, f"graph input {name!r}"))
        if graph.is_output(name):
            result.freezes.append((key, f"graph output {name!r}"))
        neighbours = []
        if name in graph.producer:
            neighbours.append(graph.producer[name])
        neighbours += [n for n, _ in graph.users(name)]
        for node in neighbours:
            if (node.name, key) in asked:
                continue
            asked.add((node.name, key))
            outcome = apply_rule(ctx, node, key)
            for tie in outcome.ties:
                if tie in seen_ties:
                    continue
                seen_ties.add(tie)
                unsized = [s.key for s in (tie.a, tie.b) if _size(graph, s.key) is None]
                if unsized and all(_unread(graph, k.tensor) for k in unsized):
                    continue  # an output nobody reads (BN's running statistics, say)
                if unsized:  # grouping cannot place channels on such an axis: never drop the tie
                    for span in (tie.a, tie.b):
                        result.freezes.append((span.key, f"the size of {unsized[0]} is not known "
                                                         f"(at {node.op_type} {node.name})"))
                else:
                    result.ties.append(tie)
                enqueue(tie.a.key)
                enqueue(tie.b.key)
            for fkey, reason in outcome.freezes:
                result.freezes.append((fkey, reason))
                enqueue(fkey)
            for bkey, g in outcome.blocks:
                result.blocks.append((bkey, g, node.name))
                enqueue(bkey)
    return result


def _size(graph: Graph, key: AxisKey) -> int | None:
    shape = graph.shape(key.tensor)
    return static_dim(shape[key.axis]) if shape is not None and key.axis < len(shape) else None


def _unread(graph: Graph, name: str) -> bool:
    return not graph.users(name) and not graph.is_output(name)
