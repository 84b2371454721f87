"""Resize (opset 11+) and the older Upsample, computed one axis at a time.

Each resized axis becomes a small table of source indices and weights per output
position (1 tap for nearest, 2 for linear, 4 for cubic), built with the coordinate
transformation the model names; the tensor is then gathered and blended along that
axis. Gathering keeps gradients, so the twin can train through upsampling.
"""

from __future__ import annotations

import math

import torch

from .errors import OpVariantUnsupported
from .registry import op
from .values import axis_of, int_list

_COORD = {
    "half_pixel": lambda i, s, n_in, n_out: (i + 0.5) / s - 0.5,
    "pytorch_half_pixel": lambda i, s, n_in, n_out: (i + 0.5) / s - 0.5 if n_out > 1 else i * 0.0,
    "align_corners": lambda i, s, n_in, n_out: i * ((n_in - 1) / (n_out - 1)) if n_out > 1 else i * 0.0,
    "asymmetric": lambda i, s, n_in, n_out: i / s,
    "half_pixel_symmetric": lambda i, s, n_in, n_out: (
        (n_in / 2) * (1 - n_out / (n_in * s)) + (i + 0.5) / s - 0.5),
}

_NEAREST = {
    "round_prefer_floor": lambda x: torch.ceil(x - 0.5),
    "round_prefer_ceil": lambda x: torch.floor(x + 0.5),
    "floor": torch.floor,
    "ceil": torch.ceil,
}


def _taps(mode, coord, nearest_mode, cubic_a, exclude_outside, n_in):
    """(indices [out, taps] int64, weights [out, taps] float32 or None)."""
    if mode == "nearest":
        idx = _NEAREST[nearest_mode](coord).to(torch.int64).clamp(0, n_in - 1)
        return idx[:, None], None
    if mode == "linear":
        x = coord.clamp(0, n_in - 1)
        x0 = torch.floor(x)
        t = x - x0
        x0 = x0.to(torch.int64)
        idx = torch.stack([x0, (x0 + 1).clamp(max=n_in - 1)], 1)
        return idx, torch.stack([1 - t, t], 1)
    x0 = torch.floor(coord)
    t = coord - x0
    a = cubic_a
    d = torch.stack([t + 1, t, 1 - t, 2 - t], 1)  # distances to the four taps
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    w = torch.where(d <= 1, near, far)
    idx = x0.to(torch.int64)[:, None] + torch.arange(-1, 3)[None, :]
    if exclude_outside:
        w = torch.where((idx >= 0) & (idx < n_in), w, torch.zeros_like(w))
        w = w / w.sum(1, keepdim=True)
    return idx.clamp(0, n_in - 1), w


def _resize_axis(x, axis, n_out, scale, mode, coord_mode, nearest_mode, cubic_a, exclude_outside):
    n_in = x.shape[axis]
    i = torch.arange(n_out, dtype=torch.float32)
    coord = _COORD[coord_mode](i, torch.tensor(scale, dtype=torch.float32), n_in, n_out).to(torch.float32)
    idx, w = _taps(mode, coord, nearest_mode, cubic_a, exclude_outside, n_in)
    idx = idx.to(x.device)
    if w is None:
        return x.index_select(axis, idx[:, 0])
    view = [1] * x.dim()
    view[axis] = n_out
    w = w.to(device=x.device, dtype=x.dtype)
    out = None
    for j in range(idx.shape[1]):
        term = x.index_select(axis, idx[:, j]) * w[:, j].reshape(view)
        out = term if out is None else out + term
    return out


def _resize(x, scales, sizes, axes, mode, coord_mode, nearest_mode, cubic_a=-0.75,
            exclude_outside=False, policy="stretch"):
    rank = x.dim()
    axes = [axis_of(a, rank) for a in axes] if axes else list(range(rank))
    in_sizes = [x.shape[a] for a in axes]
    if sizes:
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            s = pick(o / n for o, n in zip(sizes, in_sizes))
            sizes = [int(math.floor(s * n + 0.5)) for n in in_sizes]
            factors = [s] * len(axes)
        else:
            factors = [o / n for o, n in zip(sizes, in_sizes)]
        outs = list(sizes)
    else:
        factors = list(scales)
        outs = [int(math.floor(n * s)) for n, s in zip(in_sizes, factors)]
    for a, n_in, n_out, f in zip(axes, in_sizes, outs, factors):
        if n_out == n_in and f == 1.0:
            continue
        x = _resize_axis(x, a, n_out, f, mode, coord_mode, nearest_mode, cubic_a, exclude_outside)
    return x


@op("Resize")
def _resize_op(ctx):
    mode = ctx.get("mode", "nearest")
    coord_mode = ctx.get("coordinate_transformation_mode", "half_pixel")
    nearest_mode = ctx.get("nearest_mode", "round_prefer_floor")
    if ctx.opset < 11:
        coord_mode, nearest_mode = "asymmetric", "floor"
    if ctx.get("antialias", 0):
        raise OpVariantUnsupported("antialias=1")
    if coord_mode not in _COORD:
        raise OpVariantUnsupported(f"coordinate_transformation_mode={coord_mode}")
    if mode not in ("nearest", "linear", "cubic") or nearest_mode not in _NEAREST:
        raise OpVariantUnsupported(f"mode={mode}, nearest_mode={nearest_mode}")
    axes, policy = ctx.get("axes"), ctx.get("keep_aspect_ratio_policy", "stretch")
    cubic_a, exclude = ctx.get("cubic_coeff_a", -0.75), bool(ctx.get("exclude_outside", 0))

    def run(x, roi=None, scales=None, sizes=None):
        if ctx.opset < 11:
            scales, sizes = roi, None
        scale_list = [float(v) for v in scales.reshape(-1).tolist()] if scales is not None and scales.numel() else None
        size_list = int_list(sizes) if sizes is not None and sizes.numel() else None
        return _resize(x, scale_list, size_list, axes, mode, coord_mode, nearest_mode, cubic_a, exclude, policy)

    return run


@op("Upsample")
def _upsample(ctx):
    mode = ctx.get("mode", "nearest")
    static = ctx.get("scales")

    def run(x, scales=None):
        factors = list(static) if static is not None else [float(v) for v in scales.reshape(-1).tolist()]
        return _resize(x, factors, None, None, mode, "asymmetric", "floor")

    return run
