"""Elementwise ops: arithmetic with broadcasting, activations, comparisons, logic, Cast."""

from __future__ import annotations

import math
from functools import reduce

import torch
import torch.nn.functional as F

from .registry import op, simple
from .values import scalar, torch_dtype


def _div(a, b):
    if a.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")  # C integer division, as ORT does


simple("Add", torch.add)
simple("Sub", torch.sub)
simple("Mul", torch.mul)
simple("Div", _div)
simple("Sum", lambda *xs: reduce(torch.add, xs))
simple("Max", lambda *xs: reduce(torch.maximum, xs))
simple("Min", lambda *xs: reduce(torch.minimum, xs))
simple("Mean", lambda *xs: reduce(torch.add, xs) / len(xs))


@op("Pow")
def _pow(ctx):
    def run(x, y):
        out = torch.pow(x, y)
        return out.to(x.dtype)  # ONNX Pow keeps the base's type

    return run


@op("Mod")
def _mod(ctx):
    fmod = ctx.get("fmod", 0)
    return (lambda a, b: torch.fmod(a, b)) if fmod else (lambda a, b: torch.remainder(a, b))


for _name, _fn in {
    "Abs": torch.abs, "Neg": torch.neg, "Exp": torch.exp, "Log": torch.log, "Sqrt": torch.sqrt,
    "Reciprocal": torch.reciprocal, "Floor": torch.floor, "Ceil": torch.ceil, "Round": torch.round,
    "Sign": torch.sign, "Sin": torch.sin, "Cos": torch.cos, "Tan": torch.tan, "Asin": torch.asin,
    "Acos": torch.acos, "Atan": torch.atan, "Sinh": torch.sinh, "Cosh": torch.cosh,
    "Asinh": torch.asinh, "Acosh": torch.acosh, "Atanh": torch.atanh, "Erf": torch.erf,
    "Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh,
    "Softsign": F.softsign, "Mish": lambda x: x * torch.tanh(F.softplus(x)),
    "Softplus": lambda x: torch.where(x > 0, x + torch.log1p(torch.exp(-x)), torch.log1p(torch.exp(x))),
    "Identity": lambda x: x, "Not": torch.logical_not, "BitwiseNot": torch.bitwise_not,
    "IsNaN": torch.isnan,
}.items():
    simple(_name, _fn)

for _name, _fn in {
    "Equal": torch.eq, "Greater": torch.gt, "Less": torch.lt, "GreaterOrEqual": torch.ge,
    "LessOrEqual": torch.le, "And": torch.logical_and, "Or": torch.logical_or,
    "Xor": torch.logical_xor, "BitwiseAnd": torch.bitwise_and, "BitwiseOr": torch.bitwise_or,
    "BitwiseXor": torch.bitwise_xor,
}.items():
    simple(_name, _fn)

simple("Where", torch.where)


@op("IsInf")
def _isinf(ctx):
    neg, pos = ctx.get("detect_negative", 1), ctx.get("detect_positive", 1)

    def run(x):
        out = torch.zeros_like(x, dtype=torch.bool)
        if pos:
            out = out | (x == math.inf)
        if neg:
            out = out | (x == -math.inf)
        return out

    return run


@op("LeakyRelu")
def _leaky(ctx):
    alpha = ctx.get("alpha", 0.01)
    return lambda x: F.leaky_relu(x, alpha)


@op("Elu")
def _elu(ctx):
    alpha = ctx.get("alpha", 1.0)
    return lambda x: torch.where(x > 0, x, alpha * torch.expm1(x))


@op("Celu")
def _celu(ctx):
    alpha = ctx.get("alpha", 1.0)
    return lambda x: F.celu(x, alpha)


@op("Selu")
def _selu(ctx):
    alpha = ctx.get("alpha", 1.67326319217681884765625)
    gamma = ctx.get("gamma", 1.05070102214813232421875)
    return lambda x: gamma * torch.where(x > 0, x, alpha * torch.expm1(x))


@op("ThresholdedRelu")
def _thresholded(ctx):
    alpha = ctx.get("alpha", 1.0)
    return lambda x: torch.where(x > alpha, x, torch.zeros_like(x))


@op("Shrink")
def _shrink(ctx):
    bias, lambd = ctx.get("bias", 0.0), ctx.get("lambd", 0.5)
    return lambda x: torch.where(x < -lambd, x + bias, torch.where(x > lambd, x - bias, torch.zeros_like(x)))


@op("HardSigmoid")
def _hard_sigmoid(ctx):
    alpha, beta = ctx.get("alpha", 0.2), ctx.get("beta", 0.5)
    return lambda x: torch.clamp(alpha * x + beta, 0.0, 1.0)


@op("HardSwish")
def _hard_swish(ctx):
    return lambda x: x * torch.clamp(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)


@op("Swish")
def _swish(ctx):
    alpha = ctx.get("alpha", 1.0)
    return lambda x: x * torch.sigmoid(alpha * x)


@op("Gelu")
def _gelu(ctx):
    approximate = ctx.get("approximate", "none")
    return lambda x: F.gelu(x, approximate=approximate)


@op("PRelu")
def _prelu(ctx):
    return lambda x, slope: torch.where(x < 0, x * slope, x)


@op("Clip")
def _clip(ctx):
    if ctx.opset < 11:
        lo, hi = ctx.get("min"), ctx.get("max")
        return lambda x: x if lo is None and hi is None else torch.clamp(x, lo, hi)

    def run(x, lo=None, hi=None):
        # Scalars, not tensors: clamp with tensor bounds would make them part of the graph.
        lo, hi = scalar(lo), scalar(hi)
        return x if lo is None and hi is None else torch.clamp(x, lo, hi)

    return run


@op("Cast")
def _cast(ctx):
    dtype = torch_dtype(ctx.get("to"))
    return lambda x: x.to(dtype)


simple("CastLike", lambda x, like: x.to(like.dtype))


@op("Dropout")
def _dropout(ctx):
    # Inference semantics: the exported model never drops.
    if ctx.n_outputs > 1:
        return lambda x, ratio=None, training=None: (x, torch.ones_like(x, dtype=torch.bool))
    return lambda x, ratio=None, training=None: x

