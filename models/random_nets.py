"""Random conv networks assembled from the pieces pruning must get right.

A network is a stem conv, a sequence of pieces, and a head. Pieces: a residual block, a
concat of two branches, a split into two paths joined again, a depthwise conv, a grouped
conv, a squeeze-excite scale, a slice of channels. The head is global pooling into a Gemm
or a flatten of the whole map into a Gemm. Used by the property-based test and the
rewrite benchmark.
"""

from __future__ import annotations

import onnx

from .builder import GraphBuilder

PIECES = ("residual", "concat", "split", "depthwise", "grouped", "se", "slice", "bn")
HEADS = ("pool", "flatten")


def build_random_net(pieces: list[str], widths: list[int], head: str = "pool", opset: int = 17,
                     batch="N", seed: int = 0) -> onnx.ModelProto:
    """`widths[i]` (even, >= 4) sets the channel count used by piece i."""
    b = GraphBuilder("random_net", opset, batch, seed)
    x = b.relu(b.conv(b.input("x", 3, (6, 6)), widths[0] if widths else 8, hint="stem"))
    for piece, width in zip(pieces, widths + [8] * (len(pieces) - len(widths))):
        x = _PIECE_BUILDERS[piece](b, x, width)
    if head == "flatten":
        b.output(b.gemm(b.flatten(x), 3))
    else:
        b.output(b.gemm(b.flatten(b.gap(x)), 3))
    return b.build(check=False)


def _residual(b: GraphBuilder, x: str, width: int) -> str:
    c = b.shapes[x][1]
    inner = b.relu(b.conv(x, width, hint="res_a"))
    return b.relu(b.add(b.conv(inner, c, hint="res_b"), x))


def _concat(b: GraphBuilder, x: str, width: int) -> str:
    left = b.relu(b.conv(x, width // 2, k=1, hint="cat_l"))
    right = b.relu(b.conv(x, width - width // 2, hint="cat_r"))
    return b.concat([left, right])


def _split(b: GraphBuilder, x: str, width: int) -> str:
    y = b.relu(b.conv(x, width, k=1, hint="split_in"))
    first = max(1, width // 3)
    p, q = b.split(y, [first, width - first])
    return b.relu(b.add(b.conv(p, width, hint="split_p"), b.conv(q, width, hint="split_q")))


def _depthwise(b: GraphBuilder, x: str, width: int) -> str:
    c = b.shapes[x][1]
    return b.relu(b.conv(b.relu(b.conv(x, c, group=c, hint="dw")), width, k=1, hint="pw"))


def _grouped(b: GraphBuilder, x: str, width: int) -> str:
    y = b.relu(b.conv(x, width, k=1, hint="pre_g"))
    return b.relu(b.conv(y, width, group=2, hint="grouped"))


def _se(b: GraphBuilder, x: str, width: int) -> str:
    c = b.shapes[x][1]
    hidden = b.relu(b.conv(b.gap(x), max(1, width // 4), k=1, hint="se_r"))
    return b.mul(x, b.act("Sigmoid", b.conv(hidden, c, k=1, hint="se_e")))


def _slice(b: GraphBuilder, x: str, width: int) -> str:
    y = b.relu(b.conv(x, width, k=1, hint="pre_s"))
    return b.relu(b.conv(b.slice(y, 1, width - 1), width, hint="post_s"))


def _bn(b: GraphBuilder, x: str, width: int) -> str:
    return b.relu(b.bn(b.conv(x, width, bias=False, hint="bn_conv")))


_PIECE_BUILDERS = {"residual": _residual, "concat": _concat, "split": _split, "depthwise": _depthwise,
                   "grouped": _grouped, "se": _se, "slice": _slice, "bn": _bn}
