"""Layers: Conv, ConvTranspose, Gemm, MatMul, Einsum and the pooling family."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import OpVariantUnsupported
from .pads import pool_output_size, resolve_pads, torch_pad_arg, window
from .registry import op

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def _nd(x: torch.Tensor, table: dict) -> int:
    nd = x.dim() - 2
    if nd not in table:
        raise ValueError(f"{nd}-d spatial input is not supported")
    return nd


@op("Conv")
def _conv(ctx):
    auto_pad = ctx.get("auto_pad", "NOTSET")
    group = ctx.get("group", 1)
    pads, strides, dilations = ctx.get("pads"), ctx.get("strides"), ctx.get("dilations")

    def run(x, w, b=None):
        nd = _nd(x, _CONV)
        s, d = strides or [1] * nd, dilations or [1] * nd
        begins, ends = resolve_pads(auto_pad, pads, x.shape[2:], w.shape[2:], s, d)
        if begins == ends:
            return _CONV[nd](x, w, b, s, begins, d, group)
        x = F.pad(x, torch_pad_arg(begins, ends))
        return _CONV[nd](x, w, b, s, 0, d, group)

    return run


@op("ConvTranspose")
def _conv_transpose(ctx):
    auto_pad = ctx.get("auto_pad", "NOTSET")
    group = ctx.get("group", 1)
    pads, strides, dilations = ctx.get("pads"), ctx.get("strides"), ctx.get("dilations")
    out_pad, out_shape = ctx.get("output_padding"), ctx.get("output_shape")

    def run(x, w, b=None):
        nd = _nd(x, _CONV_T)
        s, d = strides or [1] * nd, dilations or [1] * nd
        op_ = out_pad or [0] * nd
        sizes, kernels = list(x.shape[2:]), list(w.shape[2:])
        full = [(n - 1) * st + window(k, dl) + o for n, k, st, dl, o in zip(sizes, kernels, s, d, op_)]
        if out_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            target = list(out_shape[-nd:]) if out_shape is not None else [n * st for n, st in zip(sizes, s)]
            begins, ends = [], []
            for f, t in zip(full, target):
                total = f - t
                if auto_pad == "SAME_UPPER":
                    begins.append(total // 2)
                else:
                    begins.append(total - total // 2)
                ends.append(total - begins[-1])
        elif pads:
            begins, ends = list(pads[:nd]), list(pads[nd:])
        else:
            begins, ends = [0] * nd, [0] * nd
        y = _CONV_T[nd](x, w, None, s, 0, 0, group, d)
        # output_padding adds zeros at the end (before the bias), pads crop: one F.pad.
        y = F.pad(y, torch_pad_arg([-b_ for b_ in begins], [o - e for o, e in zip(op_, ends)]))
        if b is not None:
            y = y + b.reshape([1, -1] + [1] * nd)
        return y

    return run


@op("Gemm")
def _gemm(ctx):
    ta, tb = ctx.get("transA", 0), ctx.get("transB", 0)
    alpha, beta = ctx.get("alpha", 1.0), ctx.get("beta", 1.0)

    def run(a, b, c=None):
        if ta:
            a = a.t()
        if tb:
            b = b.t()
        y = a @ b
        if alpha != 1.0:
            y = y * alpha
        if c is not None:
            y = y + (c * beta if beta != 1.0 else c)
        return y

    return run


@op("MatMul")
def _matmul(ctx):
    return torch.matmul


@op("Einsum")
def _einsum(ctx):
    equation = ctx.get("equation").replace(" ", "")
    return lambda *xs: torch.einsum(equation, *xs)


def _pool_geometry(ctx, x, kernels):
    nd = x.dim() - 2
    strides = ctx.get("strides") or [1] * nd
    dilations = ctx.get("dilations") or [1] * nd
    begins, ends = resolve_pads(ctx.get("auto_pad", "NOTSET"), ctx.get("pads"), x.shape[2:], kernels,
                                strides, dilations)
    ceil_mode = bool(ctx.get("ceil_mode", 0))
    extra = []
    for n, b, e, k, s, d in zip(x.shape[2:], begins, ends, kernels, strides, dilations):
        out = pool_output_size(n, b, e, k, s, d, ceil_mode)
        extra.append(max(0, (out - 1) * s + window(k, d) - (n + b + e)))
    return strides, dilations, begins, ends, extra


@op("MaxPool")
def _max_pool(ctx):
    kernels = ctx.get("kernel_shape")
    if ctx.get("storage_order", 0) and ctx.n_outputs > 1:
        raise OpVariantUnsupported("Indices with storage_order=1")
    want_indices = ctx.n_outputs > 1

    def run(x):
        nd = _nd(x, _MAXPOOL)
        s, d, begins, ends, extra = _pool_geometry(ctx, x, kernels)
        ends_all = [e + x_ for e, x_ in zip(ends, extra)]
        xp = F.pad(x, torch_pad_arg(begins, ends_all), value=float("-inf")) if any(begins + ends_all) else x
        if not want_indices:
            return _MAXPOOL[nd](xp, kernels, s, 0, d)
        y, idx = _MAXPOOL[nd](xp, kernels, s, 0, d, return_indices=True)
        return y, _unpadded_indices(idx, x.shape, xp.shape, begins)

    return run


def _unpadded_indices(idx, shape, padded_shape, begins):
    """Flat indices into the padded plane -> ONNX's flat indices into the whole input."""
    spatial, padded = list(shape[2:]), list(padded_shape[2:])
    coords, rest = [], idx
    for size in reversed(padded):
        coords.append(rest % size)
        rest = torch.div(rest, size, rounding_mode="floor")
    coords.reverse()
    flat = torch.zeros_like(idx)
    for c, b, n in zip(coords, begins, spatial):
        flat = flat * n + (c - b)
    plane = 1
    for n in spatial:
        plane *= n
    nc = torch.arange(shape[0] * shape[1], device=idx.device).reshape(shape[0], shape[1], *[1] * len(spatial))
    return flat + nc * plane


def _window_sum(x, kernels, strides, dilations):
    """Sum over each pooling window (no padding), any dilation, 1-3 spatial dims."""
    nd = x.dim() - 2
    if all(d == 1 for d in dilations) and nd in (2, 3):
        pool = F.avg_pool2d if nd == 2 else F.avg_pool3d
        return pool(x, kernels, strides, 0, divisor_override=1)
    n, c = x.shape[:2]
    ones = torch.ones([1, 1, *kernels], dtype=x.dtype, device=x.device)
    y = _CONV[nd](x.reshape(n * c, 1, *x.shape[2:]), ones, None, strides, 0, dilations)
    return y.reshape(n, c, *y.shape[2:])


@op("AveragePool")
def _avg_pool(ctx):
    kernels = ctx.get("kernel_shape")
    include_pad = bool(ctx.get("count_include_pad", 0))

    def run(x):
        s, d, begins, ends, extra = _pool_geometry(ctx, x, kernels)
        ends_all = [e + x_ for e, x_ in zip(ends, extra)]
        arg = torch_pad_arg(begins, ends_all)
        total = _window_sum(F.pad(x, arg) if any(arg) else x, kernels, s, d)
        if not any(arg):
            count = 1
            for k in kernels:
                count *= k
            return total / count
        if include_pad:
            mask = F.pad(torch.ones([1, 1, *x.shape[2:]], dtype=x.dtype, device=x.device),
                         torch_pad_arg(begins, ends), value=1.0)
            mask = F.pad(mask, torch_pad_arg([0] * len(extra), extra))
        else:
            mask = F.pad(torch.ones([1, 1, *x.shape[2:]], dtype=x.dtype, device=x.device), arg)
        return total / _window_sum(mask, kernels, s, d)

    return run


@op("LpPool")
def _lp_pool(ctx):
    kernels, p = ctx.get("kernel_shape"), ctx.get("p", 2)

    def run(x):
        s, d, begins, ends, extra = _pool_geometry(ctx, x, kernels)
        arg = torch_pad_arg(begins, [e + x_ for e, x_ in zip(ends, extra)])
        xp = F.pad(x, arg) if any(arg) else x
        return _window_sum(xp.abs() ** p, kernels, s, d) ** (1.0 / p)

    return run


@op("GlobalAveragePool")
def _gap(ctx):
    return lambda x: x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


@op("GlobalMaxPool")
def _gmp(ctx):
    return lambda x: x.amax(dim=tuple(range(2, x.dim())), keepdim=True)


@op("GlobalLpPool")
def _glp(ctx):
    p = ctx.get("p", 2)
    return lambda x: (x.abs() ** p).sum(dim=tuple(range(2, x.dim())), keepdim=True) ** (1.0 / p)


@op("MaxRoiPool")
def _max_roi_pool(ctx):
    ph, pw = ctx.get("pooled_shape")
    scale = ctx.get("spatial_scale", 1.0)

    def run(x, rois):
        h, w = x.shape[2:]
        out = []
        for roi in rois.tolist():  # region bounds are indices: plain numbers, as in ORT
            b = int(roi[0])
            x1, y1, x2, y2 = (_round_half_away(v * scale) for v in roi[1:])
            bin_h, bin_w = max(y2 - y1 + 1, 1) / ph, max(x2 - x1 + 1, 1) / pw
            cells = []
            for i in range(ph):
                hs = min(max(math.floor(i * bin_h) + y1, 0), h)
                he = min(max(math.ceil((i + 1) * bin_h) + y1, 0), h)
                row = []
                for j in range(pw):
                    ws = min(max(math.floor(j * bin_w) + x1, 0), w)
                    we = min(max(math.ceil((j + 1) * bin_w) + x1, 0), w)
                    if he <= hs or we <= ws:
                        row.append(x.new_zeros(x.shape[1]))
                    else:
                        row.append(x[b, :, hs:he, ws:we].amax(dim=(1, 2)))
                cells.append(torch.stack(row, -1))
            out.append(torch.stack(cells, -2))
        return torch.stack(out, 0)

    return run


def _round_half_away(v: float) -> int:
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)
