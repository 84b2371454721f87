"""What happens to a branch whose channels are all removed.

Emptying a group that is not a graph cut removes the branch it feeds (a bottleneck's inner
convs, a squeeze-excite's hidden units, one inception branch). Ops whose outputs are all
empty go. A layer whose input is empty computes a constant, its bias, so it is replaced by
that constant broadcast to its output shape (the next layer's bias through BN, as HALP
folds it). A Concat drops the empty input. Any other op reading an empty tensor reads zeros
instead, which is exactly what the channel-masked model computes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from onnx import helper

from halp_graph.graph.axes import AxisKey
from halp_graph.graph.ir import Node
from halp_graph.graph.rules import RuleContext, layer_axes
from halp_graph.graph.rules.elementwise import BROADCAST, UNARY

if TYPE_CHECKING:  # the editor calls into this module; the type is only for annotations
    from .editor import ModelEditor


def empty_tensors(masks: dict) -> set[str]:
    return {k.tensor for k, m in masks.items() if not k.use and not m.any()}


def unavailable_tensors(ed: ModelEditor) -> set[str]:
    """Tensors whose original shape the rewritten model no longer computes: the emptied
    ones, and those computed only from folded layers (which may become broadcast-shaped
    constants)."""
    empty = empty_tensors(ed.masks)
    if not empty:
        return set()
    folded = _folded_layers(ed, RuleContext(ed.graph), empty)
    return empty | _constant_closure(ed, {ed.graph.nodes[i].outputs[0] for i in folded})


def remove_empty_branches(ed: ModelEditor, masks: dict) -> dict:
    """Apply the rules above; returns counts of what was removed or folded."""
    empty = empty_tensors(masks)
    stats = {"removed_nodes": 0, "folded_layers": 0}
    if not empty:
        return stats
    ctx = RuleContext(ed.graph)
    folded = _folded_layers(ed, ctx, empty)
    volatile = _constant_closure(ed, {ed.graph.nodes[i].outputs[0] for i in folded})
    for node in ed.graph.nodes:
        if ed.is_removed(node.index):
            continue
        outs = [o for o in node.outputs if o]
        if outs and all(o in empty for o in outs):
            ed.remove(node.index)
            stats["removed_nodes"] += 1
            continue
        slots = [s for s, name in enumerate(node.inputs) if name in empty]
        if not slots:
            continue
        if node.index in folded:
            _fold_layer(ed, node, masks, volatile)
            stats["folded_layers"] += 1
        elif node.op_type == "Concat":
            proto = ed.node(node.index)
            live = [n for n in proto.input if n not in empty]
            del proto.input[:]
            proto.input.extend(live)
        else:
            for slot in slots:
                ed.set_input(node.index, slot, _zeros_like_original(ed, node, node.inputs[slot]))
    return stats


def _folded_layers(ed: ModelEditor, ctx: RuleContext, empty: set[str]) -> set[int]:
    """Layers whose input is empty but output is not: each computes a constant."""
    out = set()
    for node in ed.graph.nodes:
        info = layer_axes(ctx, node)
        if info is not None and node.inputs[0] in empty and node.outputs[0] not in empty:
            out.add(node.index)
    return out


def _constant_closure(ed: ModelEditor, seeds: set[str]) -> set[str]:
    """Tensors computed only from `seeds` and constants: after folding they may be
    broadcast-shaped, so they cannot vouch for a join's full output shape."""
    graph = ed.graph
    closed = set(seeds)
    for node in graph.nodes:
        live = [i for i in node.inputs if i and not graph.is_constant(i)]
        if live and all(i in closed for i in live):
            closed.update(o for o in node.outputs if o)
    return closed


def _fold_layer(ed: ModelEditor, node: Node, masks: dict, volatile: set[str]) -> None:
    y = node.outputs[0]
    shape = list(ed.graph.shape(y))
    axis = 1 if node.op_type in ("Conv", "ConvTranspose", "Gemm") else len(shape) - 1
    out_mask = masks.get(AxisKey(y, axis))
    n_out = int(out_mask.sum()) if out_mask is not None else shape[axis]
    weight = ed.param(node.index, 1)
    dtype = weight.dtype
    bias_shape = [1] * len(shape)
    bias_shape[axis] = n_out
    if node.op_type in ("Conv", "ConvTranspose") and node.input(2):
        const = ed.param(node.index, 2).astype(dtype).reshape(bias_shape)
    elif node.op_type == "Gemm" and node.input(2):
        c = ed.param(node.index, 2).astype(dtype) * np.asarray(node.attr("beta", 1.0), dtype)
        const = c if c.ndim == 2 else np.broadcast_to(c, bias_shape).copy()
    else:
        const = np.zeros(bias_shape, dtype)
    const_name = ed.add_const(const, f"{y}_const")
    if _broadcast_suffices(ed, y, volatile):
        ed.insert_before(node.index, "Identity", [const_name], [y])
    else:
        ed.insert_before(node.index, "Expand", [const_name, _output_shape(ed, node, axis, n_out)], [y])
    ed.remove(node.index)


def _output_shape(ed: ModelEditor, node: Node, axis: int, n_out: int) -> str:
    """The folded layer's output shape, computed at run time where it is symbolic."""
    y = node.outputs[0]
    return ed.tensor_shape(node.index, y, {axis: n_out}, f"{y}_shape")


PER_ELEMENT = set(UNARY) | {"BatchNormalization"}


def _broadcast_suffices(ed: ModelEditor, name: str, volatile: set[str], depth: int = 0) -> bool:
    """True when a constant broadcastable to `name`'s shape can stand in for the full
    tensor: every path from it runs through per-element ops (or ops with a constant other
    operand) into a broadcasting op whose other operand is a live tensor of the full
    output shape, as in a residual add or a squeeze-excite scale."""
    graph = ed.graph
    users = graph.users(name)
    if not users or depth > 32 or graph.is_output(name):
        return False
    for node, slot in users:
        if node.op_type in PER_ELEMENT and slot == 0:
            if not _broadcast_suffices(ed, node.outputs[0], volatile, depth + 1):
                return False
            continue
        if node.op_type in BROADCAST and len(node.inputs) == 2:
            other = node.inputs[1 - slot]
            out_shape = graph.shape(node.outputs[0])
            if graph.is_constant(other):
                if not _broadcast_suffices(ed, node.outputs[0], volatile, depth + 1):
                    return False
                continue
            if (other not in volatile and out_shape is not None and graph.shape(other) == out_shape
                    and None not in out_shape):
                continue
        return False
    return True


def _zeros_like_original(ed: ModelEditor, node: Node, name: str) -> str:
    dtype = helper.tensor_dtype_to_np_dtype(ed.graph.tensor(name).dtype or 1)
    shape_name = ed.tensor_shape(node.index, name, {}, f"{name}_shape")
    out = ed.fresh(f"{name}_zeros")
    ed.insert_before(node.index, "Expand", [ed.add_const(np.zeros((), dtype), "zero"), shape_name], [out])
    return out
