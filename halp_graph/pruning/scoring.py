"""Choosing and computing the saliency a prune run uses.

"auto" means loss-aware scores when there is calibration data (the only ones in one unit
across groups, with emptied branches priced by their measured distortion), weight
magnitude without data. When loss-aware scores cannot be had (torch is missing, or the
model has no torch twin that reproduces it) the run falls back to activation saliency
and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BackendUnavailable, DataError, TargetError
from ..saliency import check_scores, score

METHODS = ("auto", "loss-aware", "activation", "magnitude")


@dataclass
class Scoring:
    method: str
    scores: dict
    empty: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"method": self.method, **self.info}


def score_channels(groups, loaded, method: str, calib, given=None, log=lambda m: None) -> Scoring:
    if given is not None:
        return Scoring("given", check_scores(groups, given))
    if method not in METHODS:
        raise TargetError(f"unknown saliency {method!r}; choose one of {', '.join(METHODS)}")
    if method == "auto":
        method = "loss-aware" if calib is not None else "magnitude"
    if method in ("loss-aware", "activation") and calib is None:
        raise DataError(f"{method} saliency needs calibration data (--calib FILE.npz or an image directory)")
    if method == "loss-aware":
        try:
            return _loss_aware(groups, loaded, calib)
        except BackendUnavailable as exc:
            log(f"loss-aware saliency unavailable ({exc}); falling back to activation saliency")
            scoring = Scoring("activation", score(groups, loaded, method="activation", calib=calib))
            scoring.info["fallback_from"] = {"method": "loss-aware", "reason": str(exc)}
            return scoring
    return Scoring(method, score(groups, loaded, method=method, calib=calib))


def _loss_aware(groups, loaded, calib) -> Scoring:
    try:
        import torch  # noqa: F401  # lazy: torch is optional; the twin needs it
    except ImportError:
        raise BackendUnavailable("torch is not installed (pip install 'halp-graph[torch]')") from None
    from ..saliency.loss_aware import LossAwareUnavailable, loss_aware_scores  # lazy: torch is optional

    try:
        result = loss_aware_scores(groups, loaded, calib)
    except LossAwareUnavailable as exc:
        raise BackendUnavailable(str(exc)) from None
    return Scoring("loss-aware", check_scores(groups, result.scores), result.empty, result.tables,
                   result.to_json())
