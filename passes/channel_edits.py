"""Per-op edits that keep attributes and shape constants in step with pruned channels.

Slicing parameters is generic (every constant member of a group is cut along its axis).
What is left are the ops whose attributes or integer inputs spell out channel counts:
depthwise and grouped conv `group`, Split sizes, Slice bounds, and the shape vectors of
Reshape, Expand and Resize. Each edit reads the element masks of the node's tensors.
"""

from __future__ import annotations

import numpy as np

from halp_graph.errors import RewriteError
from halp_graph.graph.axes import AxisKey
from halp_graph.graph.ir import Node
from halp_graph.graph.rules import RuleContext
from halp_graph.graph.rules.movement import slice_params, split_sizes
from halp_graph.graph.shape_values import ConstEntry, DimEntry, trace_shape_vector

from .editor import ModelEditor

Masks = dict[AxisKey, np.ndarray]


def _mask(masks: Masks, name: str, axis: int) -> np.ndarray | None:
    return masks.get(AxisKey(name, axis))


def edit_conv(ed: ModelEditor, node: Node, masks: Masks) -> None:
    m_in = _mask(masks, node.inputs[0], 1)
    g = node.attr("group", 1)
    if m_in is None or g == 1:
        return
    cin = len(m_in)
    if g == cin:  # depthwise: one group per kept input channel
        ed.set_attr(node.index, "group", int(m_in.sum()))
        return
    if node.op_type != "Conv":
        raise RewriteError(f"grouped {node.op_type} {node.name} cannot be pruned")
    per = cin // g
    kept = [np.nonzero(m_in[j * per:(j + 1) * per])[0] for j in range(g)]
    if len({len(k) for k in kept}) != 1:
        raise RewriteError(f"grouped Conv {node.name}: blocks keep different channel counts")
    w = ed.param(node.index, 1)
    rows = w.shape[0] // g
    ed.set_param(node.index, 1, np.concatenate(
        [w[j * rows:(j + 1) * rows][:, kept[j]] for j in range(g)], axis=0))


def edit_split(ed: ModelEditor, node: Node, masks: Masks) -> None:
    ctx = RuleContext(ed.graph)
    x = node.inputs[0]
    axis = node.attr("axis", 0) % ctx.rank(x)
    m = _mask(masks, x, axis)
    if m is None:
        return
    sizes, offset, new = split_sizes(ctx, node), 0, []
    for size in sizes:
        new.append(int(m[offset:offset + size].sum()))
        offset += size
    if not any(new):
        return  # every output is empty: the node goes with its branch
    proto = ed.node(node.index)
    outputs = [o for o, n in zip(proto.output, new) if n > 0]
    new = [n for n in new if n > 0]
    del proto.output[:]
    proto.output.extend(outputs)
    ed.remove_attr(node.index, "num_outputs")
    if ed.graph.opset >= 13:
        ed.set_input(node.index, 1, ed.add_const(np.array(new, dtype=np.int64), "split"))
    else:
        ed.set_attr(node.index, "split", new)


def edit_slice(ed: ModelEditor, node: Node, masks: Masks) -> None:
    ctx = RuleContext(ed.graph)
    x = node.inputs[0]
    params = slice_params(ctx, node)
    changed = {a: _mask(masks, x, a) for a in params if _mask(masks, x, a) is not None}
    if not changed:
        return
    axes = list(params)
    starts, ends = [], []
    for a in axes:
        start, stop, step = params[a]
        if a in changed:
            m = changed[a]
            start, stop = int(m[:start].sum()), int(m[:start].sum() + m[start:stop].sum())
        starts.append(start)
        ends.append(stop)
    if "starts" in node.attrs:
        ed.set_attr(node.index, "starts", starts)
        ed.set_attr(node.index, "ends", ends)
        ed.set_attr(node.index, "axes", axes)
        return
    ed.set_input(node.index, 1, ed.add_const(np.array(starts, np.int64), "starts"))
    ed.set_input(node.index, 2, ed.add_const(np.array(ends, np.int64), "ends"))
    ed.set_input(node.index, 3, ed.add_const(np.array(axes, np.int64), "axes"))
    steps = [params[a][2] for a in axes]
    ed.set_input(node.index, 4, ed.add_const(np.array(steps, np.int64), "steps"))


def _rewrite_shape_input(ed: ModelEditor, node: Node, masks: Masks, slot: int, keep_ones: bool) -> None:
    """Replace the shape vector at input `slot` so that every changed output axis gets
    its new size (entries -1 and 0 already adapt; with `keep_ones`, 1s are broadcasts)."""
    y = node.outputs[0]
    rank = len(ed.graph.shape(y))
    values = {}
    for axis in range(rank):
        m = _mask(masks, y, axis)
        if m is not None:
            values[axis] = int(m.sum())
    if not values:
        return
    entries = trace_shape_vector(ed.graph, node, slot)
    if entries is None or len(entries) != rank:
        raise RewriteError(f"{node.op_type} {node.name}: cannot follow its shape input")
    for axis in list(values):
        e = entries[axis]
        if isinstance(e, ConstEntry) and (e.value == -1 or e.value == 0 and node.op_type == "Reshape"
                                          or e.value == 1 and keep_ones):
            del values[axis]  # adapts by itself
        elif isinstance(e, DimEntry):
            m = _mask(masks, e.tensor, e.axis)
            if m is not None and int(m.sum()) == values[axis]:
                del values[axis]  # read at run time from a tensor pruned the same way
    if values:
        ed.set_input(node.index, slot, ed.shape_vector(node.index, entries, values, f"{node.name}_shape"))


def edit_reshape(ed: ModelEditor, node: Node, masks: Masks) -> None:
    _rewrite_shape_input(ed, node, masks, 1, keep_ones=False)


def edit_expand(ed: ModelEditor, node: Node, masks: Masks) -> None:
    _rewrite_shape_input(ed, node, masks, 1, keep_ones=True)


def edit_resize(ed: ModelEditor, node: Node, masks: Masks) -> None:
    if node.op_type == "Resize" and node.input(3):
        _rewrite_shape_input(ed, node, masks, 3, keep_ones=False)


EDITS = {
    "Conv": edit_conv, "ConvTranspose": edit_conv, "Split": edit_split, "Slice": edit_slice,
    "Reshape": edit_reshape, "Expand": edit_expand, "Resize": edit_resize,
}


def edit_node(ed: ModelEditor, node: Node, masks: Masks) -> None:
    fn = EDITS.get(node.op_type)
    if fn is not None and node.domain in ("", "ai.onnx"):
        fn(ed, node, masks)
