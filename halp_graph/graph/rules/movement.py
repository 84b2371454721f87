"""Rules for ops that move data without computing on it: concat, split, slice, reshape...

These map channel ranges rather than whole axes: Concat places each input at an offset of
the output axis, Split and Slice take a range of the input, Flatten and Reshape fold a
channel into a block of features. A reshape that interleaves channels with another axis
(channel shuffle, splitting heads the wrong way round) cannot be expressed as a range and
freezes the channels it touches.
"""

from __future__ import annotations

import math

from ..axes import AxisKey, Outcome, Span
from ..ir import Node
from ..shape_values import (Const, Dim, Unknown, reads, shape_sinks, static_value_of,
                            substitute, value_expr)
from .base import NotConstant, RuleContext, rule


def _norm_axis(axis: int, rank: int) -> int:
    return axis % rank if rank else 0


@rule("Shape", "Size")
def shape_read(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    """Reading a tensor's shape ties no channels. The rewrite gives every value computed
    from a pruned channel count its original value again (the masked model's), or the
    pruned size where the value spells out the size of a pruned axis; a use it cannot
    follow that far freezes the channels."""
    x = node.inputs[0]
    if key.tensor != x or key.is_param:
        return Outcome()
    if node.op_type == "Shape":
        axes = list(range(ctx.rank(x)))[node.attr("start", 0):node.attr("end", None)]
        if key.axis not in axes:
            return Outcome()
    reason = untraceable_use(ctx.graph, node, x, key.axis)
    return Outcome().freeze(key, reason) if reason else Outcome()


def untraceable_use(graph, shape_node: Node, tensor: str, axis: int) -> str | None:
    """Why the channel count `tensor[axis]`, read by `shape_node`, reaches a value the
    rewrite cannot rebuild (None when every use can be rebuilt)."""
    for user, slot, name in shape_sinks(graph, shape_node):
        where = f"{shape_node.op_type} {shape_node.name} reads the channel count of {tensor!r}"
        if user is None:
            return f"{where} into graph output {name!r}"
        if slot < 0:
            return f"{where} into the subgraph of {user.op_type} {user.name}"
        for entry in value_expr(graph, name):
            if isinstance(entry, Unknown) and reads(entry.deps, tensor, axis):
                return f"{where} into {user.op_type} {user.name} ({entry.reason})"
    return None


@rule("Concat")
def concat(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    y = node.outputs[0]
    rank = ctx.rank(y)
    cat = _norm_axis(node.attr("axis"), rank)
    out = Outcome()
    live = [(slot, n) for slot, n in enumerate(node.inputs) if n]
    if key.axis != cat:
        anchor = ctx.span(node, y, key.axis)
        for slot, name in live:
            out.tie(anchor, ctx.full(ctx.slot_key(node, slot, key.axis)))
        return out
    offset = 0
    for slot, name in live:
        size = ctx.dim(name, cat)
        if size:
            out.tie(Span(AxisKey(y, cat), offset, size), Span(ctx.slot_key(node, slot, cat), 0, size))
        offset += size
    return out


def split_sizes(ctx: RuleContext, node: Node) -> list[int]:
    x = node.inputs[0]
    rank = ctx.rank(x)
    axis = _norm_axis(node.attr("axis", 0), rank)
    total = ctx.dim(x, axis)
    sizes = ctx.ints(node, "split", 1)
    if sizes:
        return sizes
    n = node.attr("num_outputs", len(node.outputs))
    chunk = math.ceil(total / n)
    return [min(chunk, total - i * chunk) for i in range(n)]


@rule("Split")
def split(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x = node.inputs[0]
    rank = ctx.rank(x)
    axis = _norm_axis(node.attr("axis", 0), rank)
    out = Outcome()
    outputs = [o for o in node.outputs]
    if key.axis != axis:
        anchor = ctx.span(node, x, key.axis)
        for name in outputs:
            if name:
                out.tie(anchor, ctx.span(node, name, key.axis))
        return out
    offset = 0
    for name, size in zip(outputs, split_sizes(ctx, node)):
        if name and size:
            out.tie(Span(ctx.key(node, x, axis), offset, size), Span(AxisKey(name, axis), 0, size))
        offset += size
    return out


def slice_bounds(ctx: RuleContext, node: Node, axis: int) -> tuple[int, int, int] | None:
    """(start, stop, step) of the Slice along `axis`, clamped to its static size, or None
    when the Slice leaves the axis alone. Only this axis's bounds must be constants:
    the others may be computed at run time (a dynamic spatial crop)."""
    x = node.inputs[0]
    rank = ctx.rank(x)
    if "starts" in node.attrs:  # opset < 10
        starts, ends = list(node.attrs["starts"]), list(node.attrs["ends"])
        axes = list(node.attrs.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = value_expr(ctx.graph, node.inputs[1]), value_expr(ctx.graph, node.inputs[2])
        axes = ctx.input_ints(node, 3) if node.input(3) else list(range(len(starts)))
        steps = value_expr(ctx.graph, node.inputs[4]) if node.input(4) else [1] * len(starts)
    axes = [_norm_axis(int(a), rank) for a in axes]
    if axis not in axes:
        return None
    i = axes.index(axis)
    start, stop, step = (_bound(ctx, node, v, slot) for v, slot in
                         ((starts[i], 1), (ends[i], 2), (steps[i], 4)))
    return slice(start, stop, step).indices(ctx.dim(x, axis))


def _bound(ctx: RuleContext, node: Node, entry, slot: int) -> int:
    if isinstance(entry, int):
        return entry
    value = substitute(entry, static_value_of(ctx.graph))
    if not isinstance(value, Const):
        raise NotConstant(node.inputs[slot])
    return value.value


@rule("Slice")
def slice_(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x, y = node.inputs[0], node.outputs[0]
    bounds = slice_bounds(ctx, node, key.axis)
    out = Outcome()
    if bounds is None:
        return out.tie(ctx.span(node, x, key.axis), ctx.span(node, y, key.axis))
    start, stop, step = bounds
    if step != 1:
        return out.freeze(key, f"Slice {node.name} takes every {step}th channel")
    count = max(0, stop - start)
    if count:
        out.tie(Span(ctx.key(node, x, key.axis), start, count), Span(AxisKey(y, key.axis), 0, count))
    return out


def reshape_map(src: tuple, dst: tuple, axis: int, equal=None) -> tuple[int, int, int] | None:
    """Where channel axis `axis` of a tensor shaped `src` lands when reshaped to `dst`.

    Returns (dst_axis, src_block, dst_block): channel k is src elements
    [k*src_block, (k+1)*src_block) of `axis` and dst elements [k*dst_block, ...) of
    dst_axis. None when the reshape interleaves the channels with another axis.
    `equal(i, j)` proves src dim i equal to dst dim j where they are symbolic (a Reshape
    target that copies them); leading and trailing dims proven equal are set aside, so
    [N, C, H, W] -> [N, C, H*W], [H, W, C] -> [H*W, C] and [N, 64, A] -> [N, 4, 16, A]
    map with H, W, A unknown.
    """
    src, dst = tuple(src), tuple(dst)
    equal = equal or (lambda i, j: _same_dim(src[i], dst[j]))
    lead = 0
    while lead < min(axis, len(dst)) and equal(lead, lead):
        lead += 1
    if lead == axis and lead < len(dst) and isinstance(src[axis], int) and src[axis] == dst[lead]:
        return axis, 1, 1  # equal leading part and equal channel count: the rest follows
    tail = 0
    while len(src) - 1 - tail > axis and len(dst) - 1 - tail > lead and \
            equal(len(src) - 1 - tail, len(dst) - 1 - tail):
        tail += 1
    at = len(dst) - 1 - tail
    if len(src) - 1 - tail == axis and at >= lead and isinstance(src[axis], int) and src[axis] == dst[at]:
        return at, 1, 1  # equal trailing part and channel count: so are the leading products
    mapped = _static_reshape_map(src[lead:len(src) - tail], dst[lead:len(dst) - tail], axis - lead)
    return None if mapped is None else (mapped[0] + lead, mapped[1], mapped[2])


def _same_dim(a, b) -> bool:
    return a is not None and a == b


def _static_reshape_map(src: tuple, dst: tuple, axis: int) -> tuple[int, int, int] | None:
    src, dst, lead = _strip_batch(src, dst)
    if src is None or axis < lead:
        return None
    axis -= lead
    if not all(isinstance(d, int) for d in src + dst):
        return None
    before, c, after = math.prod(src[:axis]), src[axis], math.prod(src[axis + 1:])
    for b in range(len(dst)):
        pb = math.prod(dst[:b])
        if pb > before:
            break
        if pb != before or (dst[b] == 1 and c != 1):
            continue
        d, sb = dst[b], math.prod(dst[b + 1:])
        if after % sb == 0 and d == c * (after // sb):
            return b + lead, 1, after // sb
        if sb % after == 0 and c % (sb // after) == 0 and d == c // (sb // after):
            return b + lead, sb // after, 1
        return None
    return None


def _strip_batch(src: tuple, dst: tuple):
    """Drop matching leading dims that are symbolic (the batch), proving them equal."""
    lead = 0
    while lead < min(len(src), len(dst)) and not isinstance(src[lead], int):
        if src[lead] == dst[lead] and src[lead] is not None:
            lead += 1
            continue
        rest_s, rest_d = src[lead + 1:], dst[lead + 1:]
        if (not isinstance(dst[lead], int) and all(isinstance(d, int) for d in rest_s + rest_d)
                and math.prod(rest_s) == math.prod(rest_d)):
            lead += 1  # equal totals force the one unknown leading dim to match
            continue
        return None, None, 0
    return src[lead:], dst[lead:], lead


def _reshape_equal(ctx: RuleContext, node: Node, in_shape: tuple, out_shape: tuple):
    """equal(i, j): input dim i is output dim j, by the shapes or because the target
    copies it (a 0 entry, or Shape(input)[i] read at run time)."""
    x = node.inputs[0]
    has_target = node.op_type == "Reshape" and len(node.inputs) > 1  # fx captures carry none
    target = (value_expr(ctx.graph, node.inputs[1]) or []) if has_target else []
    copies = not node.attr("allowzero", 0)

    def equal(i: int, j: int) -> bool:
        if _same_dim(in_shape[i], out_shape[j]):
            return True
        if len(target) != len(out_shape):
            return False
        entry = target[j]
        return entry == Dim(x, i) or (copies and i == j and entry == Const(0))

    return equal


def _reshape_rule(ctx: RuleContext, node: Node, key: AxisKey, in_shape: tuple, out_shape: tuple) -> Outcome:
    x, y = node.inputs[0], node.outputs[0]
    out = Outcome()
    equal = _reshape_equal(ctx, node, in_shape, out_shape)
    if key.tensor == x and not key.is_param:
        mapped = reshape_map(in_shape, out_shape, key.axis, equal)
        if mapped is None:
            return out.freeze(key, f"{node.op_type} {node.name} mixes the channel axis with another axis")
        dst_axis, src_block, dst_block = mapped
        count = ctx.dim(x, key.axis) // src_block
        return out.tie(Span(ctx.key(node, x, key.axis), 0, count, src_block),
                       Span(AxisKey(y, dst_axis), 0, count, dst_block))
    mapped = reshape_map(out_shape, in_shape, key.axis, lambda i, j: equal(j, i))
    if mapped is None:
        return out.freeze(key, f"{node.op_type} {node.name} mixes the channel axis with another axis")
    src_axis, dst_block, src_block = mapped
    count = ctx.dim(y, key.axis) // dst_block
    return out.tie(Span(ctx.key(node, x, src_axis), 0, count, src_block),
                   Span(AxisKey(y, key.axis), 0, count, dst_block))


@rule("Reshape")
def reshape(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    return _reshape_rule(ctx, node, key, ctx.shape(node.inputs[0]), ctx.shape(node.outputs[0]))


@rule("Flatten")
def flatten(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    shape = ctx.shape(node.inputs[0])
    k = node.attr("axis", 1)
    k = k + len(shape) if k < 0 else k
    head, tail = shape[:k], shape[k:]
    out_shape = (_product(head), _product(tail))
    return _reshape_rule(ctx, node, key, shape, out_shape)


def _product(dims: tuple):
    if len(dims) == 1:
        return dims[0]
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)
    return None


@rule("Transpose")
def transpose(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x, y = node.inputs[0], node.outputs[0]
    rank = ctx.rank(x)
    perm = node.attr("perm") or list(reversed(range(rank)))
    if key.tensor == x and not key.is_param:
        in_axis, out_axis = key.axis, list(perm).index(key.axis)
    else:
        in_axis, out_axis = perm[key.axis], key.axis
    return Outcome().tie(ctx.span(node, x, in_axis), ctx.span(node, y, out_axis))


def _axis_maps(in_rank: int, removed_or_added: list[int], squeeze: bool) -> dict[int, int]:
    """{input axis: output axis} for Squeeze (axes removed) or Unsqueeze (axes inserted)."""
    if squeeze:
        kept = [a for a in range(in_rank) if a not in removed_or_added]
        return {a: i for i, a in enumerate(kept)}
    out_rank = in_rank + len(removed_or_added)
    slots = [a for a in range(out_rank) if a not in removed_or_added]
    return {i: a for i, a in enumerate(slots)}


@rule("Squeeze", "Unsqueeze")
def squeeze(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x, y = node.inputs[0], node.outputs[0]
    in_rank, out_rank = ctx.rank(x), ctx.rank(y)
    sq = node.op_type == "Squeeze"
    axes = ctx.ints(node, "axes", 1)
    if axes is None:  # Squeeze with no axes removes every size-1 axis
        axes = [a for a, d in enumerate(ctx.shape(x)) if d == 1]
    axes = sorted({a % (in_rank if sq else out_rank) for a in axes})
    mapping = _axis_maps(in_rank, axes, sq)
    if key.tensor == x and not key.is_param:
        if key.axis not in mapping:
            return Outcome().freeze(key, f"Squeeze {node.name} removes the channel axis")
        in_axis = key.axis
    else:
        inverse = {v: k for k, v in mapping.items()}
        if key.axis not in inverse:
            return Outcome().freeze(key, f"Unsqueeze {node.name} creates this axis")
        in_axis = inverse[key.axis]
    return Outcome().tie(ctx.span(node, x, in_axis), ctx.span(node, y, mapping[in_axis]))


@rule("Pad")
def pad(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x, y = node.inputs[0], node.outputs[0]
    rank = ctx.rank(x)
    pads = ctx.ints(node, "pads", 1)
    axes = ctx.input_ints(node, 3) if node.input(3) else list(range(rank))
    axes = [a % rank for a in axes]
    n = len(axes)
    axis = key.axis
    if axis in axes:
        i = axes.index(axis)
        if pads[i] != 0 or pads[i + n] != 0:
            return Outcome().freeze(key, f"Pad {node.name} pads the channel axis")
    return Outcome().tie(ctx.span(node, x, axis), ctx.span(node, y, axis))


@rule("Resize", "Upsample")
def resize(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x, y = node.inputs[0], node.outputs[0]
    axis = key.axis
    if ctx.dim(x, axis) != ctx.dim(y, axis):
        return Outcome().freeze(key, f"{node.op_type} {node.name} resizes the channel axis")
    return Outcome().tie(ctx.span(node, x, axis), ctx.span(node, y, axis))


@rule("Gather")
def gather(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    data, idx, y = node.inputs[0], node.inputs[1], node.outputs[0]
    if key.tensor == idx:
        return Outcome().freeze(key, f"Gather {node.name} uses channels as indices")
    rank = ctx.rank(data)
    g = _norm_axis(node.attr("axis", 0), rank)
    idx_rank = ctx.rank(idx)
    if key.tensor == data and not key.is_param:
        if key.axis == g:
            return Outcome().freeze(key, f"Gather {node.name} picks along the channel axis")
        in_axis = key.axis
    else:
        if g <= key.axis < g + idx_rank:
            return Outcome().freeze(key, f"Gather {node.name} creates this axis from indices")
        in_axis = key.axis if key.axis < g else key.axis - idx_rank + 1
    out_axis = in_axis if in_axis < g else in_axis + idx_rank - 1
    return Outcome().tie(ctx.span(node, data, in_axis), ctx.span(node, y, out_axis))


@rule("Expand")
def expand(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x, y = node.inputs[0], node.outputs[0]
    shift = ctx.rank(y) - ctx.rank(x)
    if key.tensor == x and not key.is_param:
        in_axis = key.axis
    else:
        in_axis = key.axis - shift
        if in_axis < 0:
            return Outcome()
    if ctx.dim(x, in_axis) != ctx.dim(y, in_axis + shift):
        if key.tensor == x:
            return Outcome().freeze(key, f"Expand {node.name} repeats the channel axis")
        return Outcome()
    return Outcome().tie(ctx.span(node, x, in_axis), ctx.span(node, y, in_axis + shift))


@rule("Tile")
def tile(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    """Repeats of 1 along the channel axis carry it; other axes may repeat by counts
    computed at run time."""
    x, y = node.inputs[0], node.outputs[0]
    repeats = value_expr(ctx.graph, node.inputs[1])
    if len(repeats) != ctx.rank(x):
        return Outcome().freeze(key, f"Tile {node.name} repeats computed at run time")
    count = substitute(repeats[key.axis], static_value_of(ctx.graph))
    if not isinstance(count, Const):
        return Outcome().freeze(key, f"Tile {node.name} repeats the channel axis a number of "
                                     f"times computed at run time")
    if count.value != 1:
        return Outcome().freeze(key, f"Tile {node.name} repeats the channel axis")
    return Outcome().tie(ctx.span(node, x, key.axis), ctx.span(node, y, key.axis))


@rule("ConstantOfShape")
def constant_of_shape(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    """Every element holds the same value, so fewer channels are the same tensor, smaller:
    the output joins whatever group it is combined with, and the rewrite writes the pruned
    size into the shape input."""
    y = node.outputs[0]
    if key.tensor != y:
        return Outcome().freeze(key, f"ConstantOfShape {node.name} reads channels as a shape")
    if len(value_expr(ctx.graph, node.inputs[0])) != ctx.rank(y):
        return Outcome().freeze(key, f"ConstantOfShape {node.name} has a shape of unknown length")
    return Outcome()
