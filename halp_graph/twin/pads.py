"""Padding arithmetic shared by conv and pooling: auto_pad, explicit pads, ceil_mode."""

from __future__ import annotations

import math


def window(kernel: int, dilation: int) -> int:
    return (kernel - 1) * dilation + 1


def resolve_pads(auto_pad: str, pads: list[int] | None, sizes, kernels, strides, dilations):
    """(begins, ends) per spatial axis, per the ONNX auto_pad rules."""
    nd = len(sizes)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for n, k, s, d in zip(sizes, kernels, strides, dilations):
            out = math.ceil(n / s)
            total = max(0, (out - 1) * s + window(k, d) - n)
            small = total // 2
            begin = small if auto_pad == "SAME_UPPER" else total - small
            begins.append(begin)
            ends.append(total - begin)
        return begins, ends
    if auto_pad == "VALID" or not pads:
        return [0] * nd, [0] * nd
    return list(pads[:nd]), list(pads[nd:])


def torch_pad_arg(begins, ends) -> list[int]:
    """F.pad's argument: last axis first, (begin, end) pairs."""
    out = []
    for b, e in zip(reversed(begins), reversed(ends)):
        out += [b, e]
    return out


def pool_output_size(n: int, begin: int, end: int, k: int, s: int, d: int, ceil_mode: bool) -> int:
    span = n + begin + end - window(k, d)
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= n + begin:  # the last window would start in the end padding
        out -= 1
    return out
