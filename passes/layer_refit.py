"""Refitting one linear layer so its output matches a target: the arithmetic of reconstruction.

A layer (Conv 2-D with any groups, Gemm, MatMul with a constant weight) reads inputs X
and should produce targets Y (the dense layer's outputs at the kept output channels). It
is linear in its weight and bias, so fitting is least squares on rows of (patch, target):

  * `NormalEquations` accumulates X'X and X'Y per conv group over sampled positions of
    each calibration chunk (a conv row is one output position's input patch, im2col);
  * `solve` returns the ridge solution pulled towards the current weights
    (X'X + lam I) W = X'Y + lam W0, lam = ridge * mean diagonal of X'X, with a bias column
    when the layer has a bias;
  * `bias_shift` and `stats_fold` are the cheap corrections: the mean residual added to
    the bias, and a per-channel affine map (mean and standard deviation of the dense
    output) folded into weight and bias; `PairMoments` prices both from one run.
Weights are in ONNX layouts: Conv [out, in/groups, kh, kw]; Gemm [out, in] with transB,
else [in, out]; MatMul [in, out].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LayerGeometry:
    """What a layer needs to turn its input into regression rows."""

    op_type: str
    groups: int = 1
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    dilations: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    trans_b: bool = False

    def rows(self, x: torch.Tensor, y: torch.Tensor, take: int, generator: torch.Generator):
        """(inputs [rows, groups, features], targets [rows, groups, outputs/groups]) at up
        to `take` sampled positions of this chunk."""
        if self.op_type == "Conv":
            # the patches at sampled output positions only (im2col of every position of a
            # large map would not fit in memory)
            top, left, bottom, right = self.pads
            padded = F.pad(x, (left, right, top, bottom)) if any(self.pads) else x
            n, channels = x.shape[:2]
            oh, ow = y.shape[2], y.shape[3]
            index = torch.randperm(n * oh * ow, generator=generator)[:take]
            b, pos = index // (oh * ow), index % (oh * ow)
            oy, ox = pos // ow, pos % ow
            (kh, kw), (sy, sx), (dy, dx) = self.kernel, self.strides, self.dilations
            ky = torch.arange(kh).repeat_interleave(kw) * dy
            kx = torch.arange(kw).repeat(kh) * dx
            rows_y = (oy * sy)[:, None] + ky[None, :]  # [rows, kh*kw]
            rows_x = (ox * sx)[:, None] + kx[None, :]
            patches = padded[b[:, None], :, rows_y, rows_x]  # [rows, kh*kw, channels]
            cols = patches.permute(0, 2, 1).reshape(len(index), channels * kh * kw)
            tgt = y[b, :, oy, ox]
            return (cols.reshape(len(index), self.groups, -1), tgt.reshape(len(index), self.groups, -1))
        flat_x = x.reshape(-1, x.shape[-1])
        flat_y = y.reshape(-1, y.shape[-1])
        index = torch.randperm(len(flat_x), generator=generator)[:take]
        return flat_x[index][:, None, :], flat_y[index][:, None, :]


class NormalEquations:
    def __init__(self, geometry: LayerGeometry, bias: bool):
        self.geometry, self.bias = geometry, bias
        self.xtx = self.xty = None
        self.rows = 0

    def add(self, x: torch.Tensor, y: torch.Tensor, take: int, generator: torch.Generator) -> None:
        xs, ys = self.geometry.rows(x, y, take, generator)
        xs, ys = xs.double(), ys.double()
        if self.bias:
            xs = torch.cat([xs, torch.ones(*xs.shape[:2], 1, dtype=xs.dtype)], dim=2)
        xtx = torch.einsum("rgi,rgj->gij", xs, xs)
        xty = torch.einsum("rgi,rgo->gio", xs, ys)
        self.xtx = xtx if self.xtx is None else self.xtx + xtx
        self.xty = xty if self.xty is None else self.xty + xty
        self.rows += len(xs)

    def solve(self, weight: torch.Tensor, bias: torch.Tensor | None, ridge: float):
        """(weight, bias) in the layer's layouts, the ridge solution pulled towards the given
        ones."""
        start = self._stacked(weight, bias)  # [groups, features(+1), outputs per group]
        eye = torch.eye(self.xtx.shape[1], dtype=self.xtx.dtype)
        lam = ridge * torch.diagonal(self.xtx, dim1=1, dim2=2).mean(dim=1).clamp_min(1e-12)
        lhs = self.xtx + lam[:, None, None] * eye
        rhs = self.xty + lam[:, None, None] * start
        solution = torch.linalg.solve(lhs, rhs)
        return self._unstacked(solution, weight, bias)

    def _stacked(self, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        g = self.geometry
        if g.op_type == "Conv":
            out = weight.shape[0]
            w = weight.double().reshape(g.groups, out // g.groups, -1).transpose(1, 2)
        elif g.op_type == "Gemm" and g.trans_b:
            w = weight.double().t()[None]
        else:
            w = weight.double()[None]
        if self.bias:
            b = bias.double().reshape(g.groups, 1, -1)
            w = torch.cat([w, b], dim=1)
        return w

    def _unstacked(self, solution: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
        g = self.geometry
        w, b = (solution[:, :-1], solution[:, -1]) if self.bias else (solution, None)
        if g.op_type == "Conv":
            new_w = w.transpose(1, 2).reshape(weight.shape)
        elif g.op_type == "Gemm" and g.trans_b:
            new_w = w[0].t()
        else:
            new_w = w[0]
        new_b = b.reshape(-1).to(bias.dtype) if b is not None else None
        return new_w.to(weight.dtype).contiguous(), new_b


@dataclass
class PairMoments:
    """Per-output-channel sums of a layer's outputs y against its targets t over the
    calibration data: enough to price y + m and a * y + c (the bias and statistics
    corrections) without running the layer again."""

    n: int
    sy: torch.Tensor
    syy: torch.Tensor
    syt: torch.Tensor
    st: torch.Tensor
    stt: torch.Tensor

    @classmethod
    def of(cls, outputs, targets, axis: int) -> "PairMoments":
        sums = None
        n = 0
        for y, t in zip(outputs, targets):
            y = y.double().movedim(axis, -1).reshape(-1, y.shape[axis])
            t = t.double().movedim(axis, -1).reshape(-1, t.shape[axis])
            part = [y.sum(0), (y * y).sum(0), (y * t).sum(0), t.sum(0), (t * t).sum(0)]
            sums = part if sums is None else [a + b for a, b in zip(sums, part)]
            n += y.shape[0]
        return cls(n, *sums)

    def error(self) -> float:
        """Summed squared difference |y - t|^2."""
        return max(float((self.syy - 2 * self.syt + self.stt).sum()), 0.0)

    def shifted(self, m: torch.Tensor) -> "PairMoments":
        """The moments of y + m."""
        return PairMoments(self.n, self.sy + self.n * m, self.syy + 2 * m * self.sy + self.n * m * m,
                           self.syt + m * self.st, self.st, self.stt)

    def affine(self, a: torch.Tensor, c: torch.Tensor) -> "PairMoments":
        """The moments of a * y + c."""
        return PairMoments(self.n, a * self.sy + self.n * c,
                           a * a * self.syy + 2 * a * c * self.sy + self.n * c * c,
                           a * self.syt + c * self.st, self.st, self.stt)

    def matching_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, c) per channel giving a * y + c the mean and standard deviation of t."""
        y_mean, t_mean = self.sy / self.n, self.st / self.n
        y_std = (self.syy / self.n - y_mean ** 2).clamp_min(0).sqrt()
        t_std = (self.stt / self.n - t_mean ** 2).clamp_min(0).sqrt()
        a = torch.where(y_std > 1e-12, t_std / y_std.clamp_min(1e-12), torch.ones_like(y_std))
        return a, t_mean - a * y_mean


def channel_axis(op_type: str, y: torch.Tensor) -> int:
    return 1 if op_type == "Conv" else y.dim() - 1


def bias_shift(bias: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    return (bias.double() + shift).to(bias.dtype)


def stats_fold(op_type: str, weight: torch.Tensor, bias: torch.Tensor, scale: torch.Tensor,
               shift: torch.Tensor, trans_b: bool = False):
    """(weight, bias) of the layer followed by y -> scale * y + shift per output channel."""
    s = scale.to(weight.dtype)
    if op_type == "Conv":
        new_w = weight * s.reshape(-1, *([1] * (weight.dim() - 1)))
    elif op_type == "Gemm" and trans_b:
        new_w = weight * s[:, None]
    else:
        new_w = weight * s[None, :]
    new_b = (bias.double() * scale + shift).to(bias.dtype)
    return new_w, new_b
