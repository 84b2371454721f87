"""What the student is trained to reproduce: the teacher's outputs, and optionally its
features at the pruned layers.

Per output, by kind (as in saliency.distortion, so training lowers the distortion that
pruning measured):
  * classifier-like ([samples, classes]): KL(teacher || student) of the class
    distributions softened by a temperature T, times T**2 (Hinton et al.: the gradient
    scale then does not depend on T);
  * any other float output: the mean squared error divided by the teacher output's mean
    square on the batch, so 1.0 means "as large as the signal";
  * non-float outputs carry no loss.
Features: for every FeaturePair, the student tensor against the teacher's kept channels
of the same tensor, as relative MSE, averaged over pairs and weighted by
`feature_weight`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..saliency.distortion import KL, MSE, is_distribution, output_kind

TEMPERATURE = 2.0


@dataclass(frozen=True)
class FeaturePair:
    """A tensor both models compute: the student's lacks the teacher's elements `removed`
    (indices along `axis`; none removed when empty)."""

    tensor: str
    axis: int
    removed: tuple[int, ...] = ()

    def teacher_view(self, value: torch.Tensor) -> torch.Tensor:
        if not self.removed:
            return value
        axis = self.axis % value.dim()
        keep = torch.ones(value.shape[axis], dtype=torch.bool)
        keep[list(self.removed)] = False
        return value.index_select(axis, torch.nonzero(keep).flatten())


class DistillObjective:
    """loss(teacher outputs, student outputs, teacher features, student features) ->
    (total, parts) with parts {"outputs": float, "features": float}."""

    def __init__(self, teacher_outputs: list[torch.Tensor], temperature: float = TEMPERATURE,
                 feature_weight: float = 0.0):
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, not {temperature}")
        self.kinds = [output_kind(v) for v in teacher_outputs]
        self.probabilities = [k == KL and is_distribution(v) for k, v in zip(self.kinds, teacher_outputs)]
        if all(k not in (KL, MSE) for k in self.kinds):
            raise ValueError("the model has no float output to distil")
        self.temperature = float(temperature)
        self.feature_weight = float(feature_weight)

    @property
    def classifier(self) -> bool:
        return KL in self.kinds

    def output_loss(self, teacher: list[torch.Tensor], student: list[torch.Tensor]) -> torch.Tensor:
        total = None
        for i, (kind, t, s) in enumerate(zip(self.kinds, teacher, student)):
            if kind == KL:
                term = self._kl(i, t, s)
            elif kind == MSE:
                t = t.detach().float()
                term = (s.float() - t).pow(2).mean() / t.pow(2).mean().clamp_min(1e-12)
            else:
                continue
            total = term if total is None else total + term
        return total

    def _kl(self, i: int, teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
        T = self.temperature
        if self.probabilities[i]:  # outputs that are distributions: soften their logarithms
            t_log = F.log_softmax(torch.log(teacher.detach().clamp_min(1e-12)) / T, dim=1)
            s_log = F.log_softmax(torch.log(student.clamp_min(1e-12)) / T, dim=1)
        else:
            t_log = F.log_softmax(teacher.detach().float() / T, dim=1)
            s_log = F.log_softmax(student.float() / T, dim=1)
        return F.kl_div(s_log, t_log, log_target=True, reduction="batchmean") * T * T

    def feature_loss(self, pairs: list[FeaturePair], teacher: dict, student: dict) -> torch.Tensor | None:
        terms = []
        for pair in pairs:
            s, t = student.get(pair.tensor), teacher.get(pair.tensor)
            if s is None or t is None:
                continue
            t = pair.teacher_view(t.detach()).float()
            if t.shape != s.shape:
                continue
            terms.append((s.float() - t).pow(2).mean() / t.pow(2).mean().clamp_min(1e-12))
        return torch.stack(terms).mean() if terms else None

    def __call__(self, teacher_out, student_out, teacher_feats=None, student_feats=None,
                 pairs: list[FeaturePair] = ()) -> tuple[torch.Tensor, dict]:
        loss = self.output_loss(teacher_out, student_out)
        parts = {"outputs": float(loss.detach())}
        if self.feature_weight and pairs:
            features = self.feature_loss(pairs, teacher_feats or {}, student_feats or {})
            if features is not None:
                parts["features"] = float(features.detach())
                loss = loss + self.feature_weight * features
        return loss, parts
