"""Distortion of a model's outputs from the dense model's: the one unit loss-aware saliency
and reconstruction are measured in.

Per output, by kind:
  * classifier-like ([samples, classes], classes >= 2): KL(dense || pruned) of the class
    distributions, in nats (softmax of logits; outputs that already are distributions are
    used as they are);
  * any other float output: the mean squared error divided by the dense output's mean
    square over the calibration data (so 1.0 means "as large as the signal");
  * non-float outputs (indices, masks) carry no distortion.
A sample's distortion is the sum over outputs.

`probe` is the label-free loss whose gradient's square estimates the curvature of the
distortion (its Fisher information): for a classifier, -log q(y) with y drawn from the
dense model's own distribution, scaled by sqrt(1/2) (KL ~ 1/2 dm' F dm); for the rest,
v . f with v ~ N(0, 1) scaled by the output's normaliser (E[(v . J dm)^2] = |J dm|^2). Its
expected gradient at the dense model is 0, and E[grad^2] is the second-order distortion
of removing the channel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

KL, MSE, NONE = "kl", "mse", "none"


def output_kind(value: torch.Tensor) -> str:
    if not value.is_floating_point():
        return NONE
    if value.dim() == 2 and value.shape[1] >= 2:
        return KL
    return MSE


def is_distribution(value: torch.Tensor) -> bool:
    return bool((value >= 0).all()) and bool(torch.allclose(value.sum(dim=1), torch.ones(()), atol=1e-4))


class OutputDistortion:
    """Built from the dense model's outputs on calibration batches (lists of tensors, one
    list per batch, outputs in graph order)."""

    def __init__(self, names: list[str], dense_batches: list[list[torch.Tensor]]):
        first = dense_batches[0]
        self.names = names
        self.kinds = [output_kind(v) for v in first]
        self.probabilities = [k == KL and is_distribution(v) for k, v in zip(self.kinds, first)]
        self.scales = []
        for i, kind in enumerate(self.kinds):
            if kind != MSE:
                self.scales.append(1.0)
                continue
            total = sum(float(b[i].double().pow(2).sum()) for b in dense_batches)
            count = sum(b[i].numel() for b in dense_batches)
            self.scales.append(max(total / max(count, 1), 1e-30))
        if all(k == NONE for k in self.kinds):
            raise ValueError("the model has no float output to measure distortion on")

    def unit(self) -> str:
        used = {k for k in self.kinds if k != NONE}
        if used == {KL}:
            return "nats of KL divergence from the dense model's class distribution"
        if used == {MSE}:
            return "output MSE relative to the dense output's mean square"
        return "KL (nats) plus relative output MSE, summed over outputs"

    def _log_q(self, i: int, value: torch.Tensor) -> torch.Tensor:
        if self.probabilities[i]:
            return torch.log(value.clamp_min(1e-12))
        return F.log_softmax(value.double(), dim=1)

    def per_sample(self, dense: list[torch.Tensor], outputs: list[torch.Tensor]) -> torch.Tensor:
        """Distortion of each sample of the batch (1-D tensor), or of the whole batch as one
        value when an output is not laid out per sample."""
        total = None
        for i, (kind, d, o) in enumerate(zip(self.kinds, dense, outputs)):
            if kind == NONE:
                continue
            if kind == KL:
                p_log = self._log_q(i, d)
                value = (p_log.exp() * (p_log - self._log_q(i, o))).sum(dim=1)
            else:
                diff = (o.double() - d.double()).pow(2)
                value = diff.reshape(diff.shape[0], -1).mean(dim=1) / self.scales[i] if diff.dim() else diff / self.scales[i]
            total = value if total is None else _add(total, value)
        return total

    def probe(self, dense: list[torch.Tensor], outputs: list[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
        """The scalar whose gradient, squared, estimates the distortion's curvature."""
        total = torch.zeros((), dtype=torch.float64)
        for i, (kind, d, o) in enumerate(zip(self.kinds, dense, outputs)):
            if kind == NONE:
                continue
            if kind == KL:
                probs = self._log_q(i, d).exp()
                y = torch.multinomial(probs.float(), 1, generator=generator).squeeze(1)
                log_q = self._log_q(i, o)
                total = total - math.sqrt(0.5) * log_q.gather(1, y[:, None]).sum()
            else:
                v = torch.randn(o.shape, generator=generator, dtype=torch.float64)
                per = max(o[0].numel() if o.dim() else 1, 1)
                total = total + (v * o.double()).sum() / math.sqrt(per * self.scales[i])
        return total


def _add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.shape == b.shape:
        return a + b
    return a.sum() + b.sum()
