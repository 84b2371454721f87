"""Reductions and axis-wise ops: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax,
CumSum, TopK.

Axes moved from an attribute to an input in opset 13 for ReduceSum and in opset 18 for
the others; Softmax before opset 13 flattens the input to 2-D around `axis`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .registry import op
from .values import axis_of, int_list, scalar


def _reduce(name, fn, axes_input_since):
    @op(name)
    def build(ctx):
        keep = bool(ctx.get("keepdims", 1))
        noop = bool(ctx.get("noop_with_empty_axes", 0))
        static = ctx.get("axes") if ctx.opset < axes_input_since else None

        def run(x, axes=None):
            dims = static if ctx.opset < axes_input_since else int_list(axes)
            if not dims:
                if noop:
                    return x
                dims = list(range(x.dim()))
            dims = sorted(axis_of(a, x.dim()) for a in dims)
            if x.dim() == 0:
                return fn(x, [], keep)
            return fn(x, dims, keep)

        return run

    return build


def _amax(x, dims, keep):
    return x if not dims else torch.amax(x, dim=dims, keepdim=keep)


def _amin(x, dims, keep):
    return x if not dims else torch.amin(x, dim=dims, keepdim=keep)


def _prod(x, dims, keep):
    for d in sorted(dims, reverse=True):
        x = torch.prod(x, dim=d, keepdim=keep)
    return x


def _sum(x, dims, keep):
    return x if not dims else torch.sum(x, dim=dims, keepdim=keep)


def _mean(x, dims, keep):
    return x if not dims else torch.mean(x, dim=dims, keepdim=keep)


_reduce("ReduceSum", _sum, 13)
_reduce("ReduceMean", _mean, 18)
_reduce("ReduceMax", _amax, 18)
_reduce("ReduceMin", _amin, 18)
_reduce("ReduceProd", _prod, 18)
_reduce("ReduceSumSquare", lambda x, d, k: _sum(x * x, d, k), 18)
_reduce("ReduceL1", lambda x, d, k: _sum(x.abs(), d, k), 18)
_reduce("ReduceL2", lambda x, d, k: torch.sqrt(_sum(x * x, d, k)), 18)
_reduce("ReduceLogSum", lambda x, d, k: torch.log(_sum(x, d, k)), 18)
_reduce("ReduceLogSumExp", lambda x, d, k: torch.logsumexp(x, dim=d, keepdim=k) if d else x, 18)


def _arg(name, fn):
    @op(name)
    def build(ctx):
        axis, keep = ctx.get("axis", 0), bool(ctx.get("keepdims", 1))
        last = bool(ctx.get("select_last_index", 0))

        def run(x):
            a = axis_of(axis, x.dim())
            if last:
                flipped = x.flip(a)
                return x.shape[a] - 1 - fn(flipped, dim=a, keepdim=keep)
            return fn(x, dim=a, keepdim=keep)

        return run

    return build


_arg("ArgMax", torch.argmax)
_arg("ArgMin", torch.argmin)


def _softmax_like(name, fn):
    @op(name)
    def build(ctx):
        legacy = ctx.opset < 13
        axis = ctx.get("axis", 1 if legacy else -1)

        def run(x):
            a = axis_of(axis, x.dim())
            if not legacy:
                return fn(x, a)
            flat = x.reshape(math.prod(x.shape[:a]), -1)
            return fn(flat, 1).reshape(x.shape)

        return run

    return build


def _hardmax(x, dim):
    idx = torch.argmax(x, dim=dim, keepdim=True)
    return torch.zeros_like(x).scatter_(dim, idx, 1.0)


_softmax_like("Softmax", lambda x, d: F.softmax(x, dim=d))
_softmax_like("LogSoftmax", lambda x, d: F.log_softmax(x, dim=d))
_softmax_like("Hardmax", _hardmax)


@op("CumSum")
def _cumsum(ctx):
    exclusive, reverse = bool(ctx.get("exclusive", 0)), bool(ctx.get("reverse", 0))

    def run(x, axis):
        a = axis_of(int(scalar(axis)), x.dim())
        if reverse:
            x = x.flip(a)
        y = torch.cumsum(x, dim=a).to(x.dtype)
        if exclusive:
            y = y - x
        return y.flip(a) if reverse else y

    return run


@op("TopK")
def _topk(ctx):
    axis, largest = ctx.get("axis", -1), bool(ctx.get("largest", 1))
    sorted_ = bool(ctx.get("sorted", 1))

    def run(x, k):
        values, indices = torch.topk(x, int(scalar(k)), dim=axis_of(axis, x.dim()), largest=largest,
                                     sorted=sorted_)
        return values, indices

    return run
