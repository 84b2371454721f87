"""Normalizations: BatchNormalization (running statistics unless the node itself is in
training mode), Layer/Instance/Group normalization, LRN, LpNormalization,
MeanVarianceNormalization.

BatchNormalization is written out by hand rather than with F.batch_norm so that the
running mean and variance get gradients too: the twin trains them as ordinary weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .registry import op
from .values import axis_of


def _channel_view(t: torch.Tensor, rank: int) -> torch.Tensor:
    return t.reshape([1, -1] + [1] * (rank - 2))


@op("BatchNormalization")
def _batch_norm(ctx):
    eps, momentum = ctx.get("epsilon", 1e-5), ctx.get("momentum", 0.9)
    # A node in training mode (training_mode=1, or the statistics outputs before opset 14)
    # normalizes with batch statistics: that is what the exported graph computes (timm's
    # weight standardization does it on purpose). Otherwise the running statistics.
    batch_stats = bool(ctx.get("training_mode", 0)) if ctx.opset >= 14 else ctx.n_outputs > 1

    def run(x, scale, bias, mean, var):
        r = x.dim()
        if batch_stats:
            dims = [0] + list(range(2, r))
            cur_mean = x.mean(dim=dims)
            cur_var = ((x - _channel_view(cur_mean, r)) ** 2).mean(dim=dims)
            inv = torch.rsqrt(cur_var + eps) * scale
            y = x * _channel_view(inv, r) + _channel_view(bias - cur_mean * inv, r)
            running = (mean * momentum + cur_mean * (1 - momentum), var * momentum + cur_var * (1 - momentum))
            # ORT's saved statistics (opset < 14 only) are the mean and the inverse std.
            return (y, *running, cur_mean, torch.rsqrt(cur_var + eps))[:ctx.n_outputs]
        inv = torch.rsqrt(var + eps) * scale
        y = x * _channel_view(inv, r) + _channel_view(bias - mean * inv, r)
        return y if ctx.n_outputs == 1 else (y, mean, var)[:ctx.n_outputs]

    return run


def _normalize(x, dims, eps):
    mean = x.mean(dim=dims, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(dim=dims, keepdim=True)
    inv = torch.rsqrt(var + eps)
    return centered * inv, mean, inv


@op("LayerNormalization")
def _layer_norm(ctx):
    axis, eps = ctx.get("axis", -1), ctx.get("epsilon", 1e-5)

    def run(x, scale, bias=None):
        a = axis_of(axis, x.dim())
        dims = tuple(range(a, x.dim()))
        if scale.shape == x.shape[a:] and (bias is None or bias.shape == scale.shape):
            y = F.layer_norm(x, x.shape[a:], scale, bias, eps)
            if ctx.n_outputs == 1:
                return y
        y, mean, inv = _normalize(x, dims, eps)
        y = y * scale
        if bias is not None:
            y = y + bias
        return (y, mean, inv)[:ctx.n_outputs] if ctx.n_outputs > 1 else y

    return run


@op("InstanceNormalization")
def _instance_norm(ctx):
    eps = ctx.get("epsilon", 1e-5)

    def run(x, scale, bias):
        y, _, _ = _normalize(x, tuple(range(2, x.dim())), eps)
        return y * _channel_view(scale, x.dim()) + _channel_view(bias, x.dim())

    return run


@op("GroupNormalization")
def _group_norm(ctx):
    eps, groups = ctx.get("epsilon", 1e-5), ctx.get("num_groups")
    per_channel = ctx.opset >= 21  # opset 18 had one scale/bias per group

    def run(x, scale, bias):
        n, c = x.shape[:2]
        g = x.reshape(n, groups, -1)
        y, _, _ = _normalize(g, (2,), eps)
        if per_channel:
            y = y.reshape(x.shape)
            return y * _channel_view(scale, x.dim()) + _channel_view(bias, x.dim())
        y = y * scale.reshape(1, -1, 1) + bias.reshape(1, -1, 1)
        return y.reshape(x.shape)

    return run


@op("LRN")
def _lrn(ctx):
    size = ctx.get("size")
    alpha, beta, bias = ctx.get("alpha", 1e-4), ctx.get("beta", 0.75), ctx.get("bias", 1.0)
    front, back = (size - 1) // 2, size - 1 - (size - 1) // 2

    def run(x):
        sq = (x * x).movedim(1, -1)
        sq = F.pad(sq, [front, back])
        total = sq.unfold(-1, size, 1).sum(-1).movedim(-1, 1)
        return x / (bias + (alpha / size) * total) ** beta

    return run


@op("LpNormalization")
def _lp_norm(ctx):
    axis, p = ctx.get("axis", -1), ctx.get("p", 2)

    def run(x):
        norm = x.abs().sum(axis, keepdim=True) if p == 1 else torch.sqrt((x * x).sum(axis, keepdim=True))
        return x / norm

    return run


@op("MeanVarianceNormalization")
def _mvn(ctx):
    axes = tuple(ctx.get("axes", [0, 2, 3]))

    def run(x):
        mean = x.mean(dim=axes, keepdim=True)
        var = (x * x).mean(dim=axes, keepdim=True) - mean * mean
        return (x - mean) / (torch.sqrt(var) + 1e-9)

    return run
