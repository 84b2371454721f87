"""Shape and indexing ops: Shape, Reshape, Flatten, Squeeze/Unsqueeze, Concat, Split, Slice,
Gather*, Scatter*, Transpose, Expand, Tile, Pad, ConstantOfShape, Range, NonZero, Trilu.

Shape values are int64 tensors; they are turned into Python ints where torch wants a
size, which is safe because they never carry gradients.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import OpVariantUnsupported
from .registry import op
from .values import axis_of, int_list, scalar, to_tensor


def _i64(values, device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64, device=device)


@op("Shape")
def _shape(ctx):
    start, end = ctx.get("start", 0), ctx.get("end")
    return lambda x: _i64(list(x.shape)[start:end], x.device)


@op("Size")
def _size(ctx):
    return lambda x: torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


@op("Reshape")
def _reshape(ctx):
    allowzero = bool(ctx.get("allowzero", 0))
    static = ctx.get("shape") if ctx.opset < 5 else None

    def run(x, shape=None):
        target = int_list(shape) if static is None else list(static)
        if not allowzero:
            target = [x.shape[i] if v == 0 else v for i, v in enumerate(target)]
        return x.reshape(target)

    return run


@op("Flatten")
def _flatten(ctx):
    axis = ctx.get("axis", 1)

    def run(x):
        a = axis_of(axis, x.dim())
        return x.reshape(math.prod(x.shape[:a]), math.prod(x.shape[a:]))

    return run


@op("Squeeze")
def _squeeze(ctx):
    static = ctx.get("axes") if ctx.opset < 13 else None

    def run(x, axes=None):
        dims = static if ctx.opset < 13 else int_list(axes)
        if not dims:
            return x.reshape([d for d in x.shape if d != 1])
        dims = {axis_of(a, x.dim()) for a in dims}
        return x.reshape([d for i, d in enumerate(x.shape) if i not in dims])

    return run


@op("Unsqueeze")
def _unsqueeze(ctx):
    static = ctx.get("axes") if ctx.opset < 13 else None

    def run(x, axes=None):
        dims = static if ctx.opset < 13 else int_list(axes)
        rank = x.dim() + len(dims)
        dims = sorted(axis_of(a, rank) for a in dims)
        shape = list(x.shape)
        for d in dims:
            shape.insert(d, 1)
        return x.reshape(shape)

    return run


@op("Concat")
def _concat(ctx):
    axis = ctx.get("axis")

    def run(*xs):
        xs = [x for x in xs if x is not None]
        return torch.cat(xs, dim=axis_of(axis, xs[0].dim()))

    return run


@op("Split")
def _split(ctx):
    axis = ctx.get("axis", 0)
    static = ctx.get("split") if ctx.opset < 13 else None
    num_outputs = ctx.get("num_outputs")
    n = ctx.n_outputs

    def run(x, split=None):
        a = axis_of(axis, x.dim())
        sizes = static if ctx.opset < 13 else int_list(split)
        if not sizes:
            length = x.shape[a]
            if num_outputs is not None:  # opset 18: ceil-sized chunks, the last one smaller
                chunk = -(-length // num_outputs)
                sizes = [chunk] * (length // chunk) + ([length % chunk] if length % chunk else [])
            else:
                sizes = [length // n] * n
        return tuple(torch.split(x, list(sizes), dim=a))

    return run


@op("Slice")
def _slice(ctx):
    legacy = ctx.opset < 10
    attr_starts, attr_ends, attr_axes = ctx.get("starts"), ctx.get("ends"), ctx.get("axes")

    def run(x, starts=None, ends=None, axes=None, steps=None):
        if legacy:
            starts, ends, axes, steps = attr_starts, attr_ends, attr_axes, None
        starts, ends = int_list(starts), int_list(ends)
        axes = int_list(axes) if axes is not None else list(range(len(starts)))
        steps = int_list(steps) if steps is not None else [1] * len(starts)
        index = [slice(None)] * x.dim()
        backwards = []
        for s, e, a, t in zip(starts, ends, axes, steps):
            a = axis_of(a, x.dim())
            n = x.shape[a]
            s = s + n if s < 0 else s
            e = e + n if e < 0 else e
            if t > 0:
                index[a] = slice(min(max(s, 0), n), min(max(e, 0), n), t)
            else:
                s, e = min(max(s, 0), n - 1), min(max(e, -1), n - 1)
                backwards.append((a, torch.arange(s, e, t, device=x.device)))
        y = x[tuple(index)]
        for a, positions in backwards:
            y = y.index_select(a, positions)
        return y

    return run


def _fix_indices(idx: torch.Tensor, size: int) -> torch.Tensor:
    return torch.where(idx < 0, idx + size, idx).to(torch.int64)


@op("Gather")
def _gather(ctx):
    axis = ctx.get("axis", 0)

    def run(x, idx):
        a = axis_of(axis, x.dim())
        flat = _fix_indices(idx, x.shape[a]).reshape(-1)
        y = x.index_select(a, flat)
        return y.reshape(list(x.shape[:a]) + list(idx.shape) + list(x.shape[a + 1:]))

    return run


@op("GatherElements")
def _gather_elements(ctx):
    axis = ctx.get("axis", 0)

    def run(x, idx):
        a = axis_of(axis, x.dim())
        return torch.gather(x, a, _fix_indices(idx, x.shape[a]))

    return run


@op("GatherND")
def _gather_nd(ctx):
    batch_dims = ctx.get("batch_dims", 0)

    def run(x, idx):
        b = batch_dims
        batch_shape = list(x.shape[:b])
        nb = math.prod(batch_shape)
        k = idx.shape[-1]
        xs = x.reshape([nb] + list(x.shape[b:]))
        ids = idx.reshape(nb, -1, k).to(torch.int64)
        ids = torch.where(ids < 0, ids + _i64(list(x.shape[b:b + k]), x.device), ids)
        rows = torch.arange(nb, device=x.device).reshape(nb, 1).expand(nb, ids.shape[1])
        picked = xs[(rows,) + tuple(ids[..., j] for j in range(k))]
        return picked.reshape(list(idx.shape[:-1]) + list(x.shape[b + k:]))

    return run


_REDUCTIONS = {"add": "sum", "mul": "prod", "max": "amax", "min": "amin"}


@op("ScatterElements", "Scatter")
def _scatter_elements(ctx):
    axis, reduction = ctx.get("axis", 0), ctx.get("reduction", "none")

    def run(x, idx, updates):
        a = axis_of(axis, x.dim())
        idx = _fix_indices(idx, x.shape[a])
        if reduction == "none":
            return torch.scatter(x, a, idx, updates)
        return torch.scatter_reduce(x, a, idx, updates, _REDUCTIONS[reduction], include_self=True)

    return run


@op("ScatterND")
def _scatter_nd(ctx):
    reduction = ctx.get("reduction", "none")

    def run(x, idx, updates):
        k = idx.shape[-1]
        ids = idx.reshape(-1, k).to(torch.int64)
        ids = torch.where(ids < 0, ids + _i64(list(x.shape[:k]), x.device), ids)
        key = tuple(ids[:, j] for j in range(k))
        upd = updates.reshape([ids.shape[0]] + list(x.shape[k:]))
        if reduction == "none":
            return x.index_put(key, upd)
        if reduction == "add":
            return x.index_put(key, upd, accumulate=True)
        y = x.clone()
        for row in range(ids.shape[0]):  # mul/max/min: rare, sequential as the spec reads
            at = tuple(int(v) for v in ids[row])
            cur = y[at]
            y[at] = cur * upd[row] if reduction == "mul" else (
                torch.maximum(cur, upd[row]) if reduction == "max" else torch.minimum(cur, upd[row]))
        return y

    return run


@op("Transpose")
def _transpose(ctx):
    perm = ctx.get("perm")
    return lambda x: x.permute(perm if perm is not None else list(reversed(range(x.dim()))))


@op("Expand")
def _expand(ctx):
    def run(x, shape):
        target = torch.broadcast_shapes(tuple(x.shape), tuple(int_list(shape)))
        return x.expand(target)

    return run


@op("Tile")
def _tile(ctx):
    return lambda x, repeats: x.repeat(int_list(repeats))


@op("ConstantOfShape")
def _constant_of_shape(ctx):
    value = ctx.get("value")
    fill = to_tensor(value).reshape(-1) if value is not None else torch.zeros(1, dtype=torch.float32)

    def run(shape):
        return fill.to(shape.device).expand(int_list(shape)).clone()

    return run


@op("Range")
def _range(ctx):
    def run(start, limit, delta):
        return torch.arange(scalar(start), scalar(limit), scalar(delta), dtype=start.dtype, device=start.device)

    return run


@op("NonZero")
def _nonzero(ctx):
    return lambda x: torch.nonzero(x).t().contiguous() if x.dim() else torch.nonzero(x.reshape(1)).t()[:0]


@op("Trilu")
def _trilu(ctx):
    upper = bool(ctx.get("upper", 1))

    def run(x, k=None):
        diag = int(scalar(k)) if k is not None else 0
        return torch.triu(x, diag) if upper else torch.tril(x, diag)

    return run


@op("Pad")
def _pad(ctx):
    mode = ctx.get("mode", "constant")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise OpVariantUnsupported(f"mode={mode}")
    legacy = ctx.opset < 11
    attr_pads, attr_value = ctx.get("pads"), ctx.get("value", 0.0)

    def run(x, pads=None, value=None, axes=None):
        if legacy:
            pads, value = attr_pads, attr_value
        pads = int_list(pads)
        rank = x.dim()
        dims = [axis_of(a, rank) for a in int_list(axes)] if axes is not None else list(range(rank))
        begins, ends = [0] * rank, [0] * rank
        for i, d in enumerate(dims):
            begins[d], ends[d] = pads[i], pads[i + len(dims)]
        if mode == "constant":
            fill = scalar(value) if value is not None else 0
            arg = []
            for d in reversed(range(rank)):
                arg += [begins[d], ends[d]]
            return F.pad(x, arg, value=fill or 0) if any(arg) else x
        for d in range(rank):
            if begins[d] or ends[d]:
                x = x.index_select(d, _pad_index(mode, x.shape[d], begins[d], ends[d], x.device))
        return x

    return run


def _pad_index(mode: str, n: int, begin: int, end: int, device) -> torch.Tensor:
    pos = torch.arange(-begin, n + end, device=device)
    if mode == "edge":
        return pos.clamp(0, n - 1)
    if mode == "wrap":
        return pos % n
    period = 2 * (n - 1) if n > 1 else 1  # reflect without repeating the edge
    pos = pos.abs() % period
    return torch.where(pos >= n, period - pos, pos)
