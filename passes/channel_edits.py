"""Per-op edits that keep attributes and shape values in step with pruned channels.

Slicing parameters is generic (every constant member of a group is cut along its axis).
What is left are the ops whose attributes spell out channel counts (depthwise and grouped
conv `group`, Split sizes) and the integer values that describe shapes. Those follow one
rule: every value keeps what it computed in the original model, which is what the
channel-masked model computes, except where it spells out the size or the bounds of an
axis the plan prunes (a Reshape, Expand, ConstantOfShape or Resize target, a Slice bound),
where it takes the pruned size. Values are rebuilt from constants and from dimensions read
at run time, so every dynamic axis of the model stays dynamic; the values computed from the
shape of a pruned tensor (Shape -> Gather -> Mul -> ...) are rebuilt wherever they are
used.
"""

from __future__ import annotations

import numpy as np

from halp_graph.errors import RewriteError
from halp_graph.graph.axes import AxisKey
from halp_graph.graph.ir import Node
from halp_graph.graph.rules import RuleContext
from halp_graph.graph.rules.movement import slice_bounds, split_sizes
from halp_graph.graph.shape_values import (Const, Expr, Unknown, depends, shape_sinks,
                                           substitute, value_expr)

from .editor import ModelEditor

Masks = dict[AxisKey, np.ndarray]
KEEP = object()  # a role's answer: the edit that owns this input changes it


def _mask(masks: Masks, name: str, axis: int) -> np.ndarray | None:
    return masks.get(AxisKey(name, axis))


# ------------------------------------------------------------------ attribute edits

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
    if "starts" not in node.attrs:
        fix_slot(ed, node, 1)
        fix_slot(ed, node, 2)
        return
    ctx = RuleContext(ed.graph)  # opset < 10: the bounds are attributes
    rank = ctx.rank(node.inputs[0])
    starts, ends = list(node.attrs["starts"]), list(node.attrs["ends"])
    axes = [a % rank for a in node.attrs.get("axes", range(len(starts)))]
    changed = False
    for i, a in enumerate(axes):
        new = _sliced_bounds(ctx, node, masks, a)
        if new is not None:
            starts[i], ends[i] = new
            changed = True
    if changed:
        ed.set_attr(node.index, "starts", starts)
        ed.set_attr(node.index, "ends", ends)


def _sliced_bounds(ctx: RuleContext, node: Node, masks: Masks, axis: int) -> tuple[int, int] | None:
    """New (start, stop) of a Slice along a pruned axis: the kept elements before the
    original start, and those inside the original range."""
    m = _mask(masks, node.inputs[0], axis)
    if m is None:
        return None
    start, stop, step = slice_bounds(ctx, node, axis)
    if step != 1:
        raise RewriteError(f"Slice {node.name} steps over a pruned axis")
    first = int(m[:start].sum())
    return first, first + int(m[start:max(start, stop)].sum())


# ------------------------------------------------------------------ shape values

def fix_slot(ed: ModelEditor, node: Node, slot: int) -> None:
    """Make input `slot` of `node` hold what it should in the pruned model (see the module
    docstring), rebuilding it only where what it computes at run time would differ."""
    name = node.input(slot)
    if not name or (node.index, slot) in ed.fixed or ed.is_removed(node.index):
        return
    ed.fixed.add((node.index, slot))
    entries = value_expr(ed.graph, name)
    role = ROLES.get(node.op_type)
    desired = role(ed, node, slot, entries) if role is not None else None
    if desired is KEEP:
        return
    if desired is None:
        desired = [substitute(e, ed.orig_dim) for e in entries]
    runtime = [substitute(e, ed.kept_dim) for e in entries]
    wrong = [i for i, (d, r) in enumerate(zip(desired, runtime)) if d != r or _reads_pruned(ed, d)]
    if not wrong:
        return
    for i in wrong:
        if _reads_pruned(ed, desired[i]):
            raise RewriteError(f"{node.op_type} {node.name}: input {slot} entry {i} depends on a "
                               f"pruned size through {desired[i].reason}; cannot rebuild it")
    ed.set_input(node.index, slot, ed.emit_vector(node.index, desired, f"{node.name}_in{slot}",
                                                  original=name, entries=entries))


def _reads_pruned(ed: ModelEditor, e: Expr) -> bool:
    return isinstance(e, Unknown) and any(ed.is_changed(d.tensor, d.axis) for d in depends(e))


def _rank(ed: ModelEditor, name: str) -> int | None:
    shape = ed.graph.shape(name)
    return None if shape is None else len(shape)


def _output_sizes(ed: ModelEditor, node: Node, entries: list[Expr], axes: list[int]) -> list[Expr] | None:
    """Entry i spells out the size of output axis axes[i]: the pruned size where that axis
    is pruned, the original value elsewhere (None: keep every original value)."""
    y = node.outputs[0]
    if len(entries) != len(axes):
        if any(ed.is_changed(y, a) for a in range(_rank(ed, y))):
            raise RewriteError(f"{node.op_type} {node.name}: cannot follow its shape input "
                               f"({len(entries)} entries for {len(axes)} axes)")
        return None
    return [Const(ed.kept_dim(y, a)) if ed.is_changed(y, a) else substitute(e, ed.orig_dim)
            for e, a in zip(entries, axes)]


def _reshape_role(ed: ModelEditor, node: Node, slot: int, entries: list[Expr]):
    """-1 adapts by itself; 0 copies the (pruned) input dimension at the same position."""
    x, y = node.inputs[0], node.outputs[0]
    if slot != 1 or _rank(ed, y) is None:  # an output of unknown rank has no pruned axis
        return None
    desired = _output_sizes(ed, node, entries, list(range(_rank(ed, y))))
    copies = not node.attr("allowzero", 0)
    for i, e in enumerate(entries if desired is not None else ()):
        if e == Const(-1):
            desired[i] = e
        elif e == Const(0) and copies:
            desired[i] = _zero_entry(ed, x, y, i)
    return desired


def _zero_entry(ed: ModelEditor, x: str, y: str, i: int) -> Expr:
    """A 0 copies input dimension i as pruned: kept where that is the size wanted."""
    x_changed, y_changed = ed.is_changed(x, i), ed.is_changed(y, i)
    if not x_changed and not y_changed:
        return Const(0)
    want = ed.kept_dim(y, i) if y_changed else ed.orig_dim(x, i)
    return Const(0) if x_changed and ed.kept_dim(x, i) == want else Const(want)


def _expand_role(ed: ModelEditor, node: Node, slot: int, entries: list[Expr]):
    """A 1 broadcasts the input's own (pruned) size."""
    x, y = node.inputs[0], node.outputs[0]
    rank, x_rank = _rank(ed, y), _rank(ed, x)
    if slot != 1 or rank is None or x_rank is None:
        return None
    axes = list(range(max(0, rank - len(entries)), rank))
    desired = _output_sizes(ed, node, entries, axes)
    for i, a in enumerate(axes if desired is not None else ()):
        xa = a - (rank - x_rank)
        if ed.is_changed(y, a) and substitute(entries[i], ed.kept_dim) == Const(1) and xa >= 0 \
                and ed.kept_dim(x, xa) == ed.kept_dim(y, a):
            desired[i] = Const(1)
    return desired


def _constant_of_shape_role(ed: ModelEditor, node: Node, slot: int, entries: list[Expr]):
    if _rank(ed, node.outputs[0]) is None:
        return None
    return _output_sizes(ed, node, entries, list(range(len(entries))))


def _resize_role(ed: ModelEditor, node: Node, slot: int, entries: list[Expr]):
    rank = _rank(ed, node.outputs[0])
    if slot != 3 or rank is None:
        return None
    axes = [a % rank for a in node.attr("axes", range(rank))]
    return _output_sizes(ed, node, entries, axes)


def _slice_role(ed: ModelEditor, node: Node, slot: int, entries: list[Expr]):
    rank = _rank(ed, node.inputs[0])
    axes = _const_axes(ed, node, len(entries))
    if slot not in (1, 2) or rank is None or axes is None:
        return None  # the rules froze any pruned axis such a Slice could cut
    ctx = RuleContext(ed.graph)
    desired = [substitute(e, ed.orig_dim) for e in entries]
    for i, a in enumerate(axes):
        new = _sliced_bounds(ctx, node, ed.masks, a % rank)
        if new is not None:
            desired[i] = Const(new[slot - 1])
    return desired


def _const_axes(ed: ModelEditor, node: Node, count: int) -> list[int] | None:
    if not node.input(3):
        return list(range(count))
    value = ed.graph.const(node.inputs[3])
    return None if value is None else [int(a) for a in np.asarray(value).reshape(-1)]


def _split_role(ed: ModelEditor, node: Node, slot: int, entries: list[Expr]):
    x = node.inputs[0]
    if slot != 1 or _rank(ed, x) is None:
        return None
    return KEEP if ed.is_changed(x, node.attr("axis", 0) % _rank(ed, x)) else None  # edit_split owns it


ROLES = {"Reshape": _reshape_role, "Expand": _expand_role, "ConstantOfShape": _constant_of_shape_role,
         "Resize": _resize_role, "Slice": _slice_role, "Split": _split_role}


def edit_shape_read(ed: ModelEditor, node: Node, masks: Masks) -> None:
    """A Shape (or Size) of a pruned tensor: rebuild every value computed from it."""
    x = node.inputs[0]
    rank = len(ed.graph.shape(x) or ())
    axes = list(range(rank))[node.attr("start", 0):node.attr("end", None)] if node.op_type == "Shape" \
        else list(range(rank))
    if not any(ed.is_changed(x, a) for a in axes):
        return
    for user, slot, name in shape_sinks(ed.graph, node):
        if user is None or slot < 0:
            raise RewriteError(f"{node.op_type} {node.name} reads a pruned size into "
                               f"{'graph output' if user is None else user.name} {name!r}")
        fix_slot(ed, user, slot)


def _fix_inputs(*slots: int):
    def edit(ed: ModelEditor, node: Node, masks: Masks) -> None:
        for slot in slots:
            fix_slot(ed, node, slot)
    return edit


EDITS = {
    "Conv": edit_conv, "ConvTranspose": edit_conv, "Split": edit_split, "Slice": edit_slice,
    "Reshape": _fix_inputs(1), "Expand": _fix_inputs(1), "Resize": _fix_inputs(3),
    "ConstantOfShape": _fix_inputs(0), "Shape": edit_shape_read, "Size": edit_shape_read,
}


def edit_node(ed: ModelEditor, node: Node, masks: Masks) -> None:
    fn = EDITS.get(node.op_type)
    if fn is not None and node.domain in ("", "ai.onnx"):
        fn(ed, node, masks)
