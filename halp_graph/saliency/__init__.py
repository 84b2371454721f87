"""Per-channel saliency for every prunable group: which channels matter.

    from halp_graph.saliency import score
    scores = score(groups, "model.onnx", method="magnitude")               # data-free
    scores = score(groups, "model.onnx", method="activation", calib="calib.npz")

Every measure returns `dict[group_id, np.ndarray]` with one non-negative score per channel
of each prunable group; the solver keeps the highest-scoring channels. Loss-aware saliency
(in one unit across groups, with measured per-group tables; needs torch) is
`halp_graph.saliency.loss_aware.loss_aware_scores(groups, model, samples)`, imported on
its own so that this package does not need torch. Scores from
elsewhere (Taylor saliency from training) use the same form and pass `check_scores`.
"""

from __future__ import annotations

from ..errors import DataError, TargetError
from ..graph.groups import GroupSet
from .activation import activation_scores
from ..samples import DEFAULT_BATCH, calibration_batches, load_image
from .external import Scores, check_scores, load_scores
from .magnitude import NORMS, magnitude_scores

METHODS = ("magnitude", "activation")


def score(groups: GroupSet, model=None, method: str = "magnitude", calib=None, norm: str = "l1",
          batch_size: int = DEFAULT_BATCH, limit: int | None = None) -> Scores:
    """Saliency of every prunable group's channels by `method`.

    magnitude: `norm` "l1" or "l2" over every weight multiplying the channel (no data).
    activation: mean |activation| on `calib` (.npz path, image directory, or
    {input name: array}) through ONNX Runtime; `model` is the model `groups` came from.
    """
    if method == "magnitude":
        return check_scores(groups, magnitude_scores(groups, norm=norm))
    if method == "activation":
        if calib is None:
            raise DataError("activation saliency needs calibration data (--calib FILE.npz or an image directory)")
        if model is None:
            raise TargetError("activation saliency needs the model to run")
        return check_scores(groups, activation_scores(groups, model, calib, batch_size, limit))
    raise TargetError(f"unknown saliency method {method!r}; choose one of {', '.join(METHODS)}")


__all__ = ["score", "METHODS", "NORMS", "Scores", "check_scores", "load_scores", "magnitude_scores",
           "activation_scores", "calibration_batches", "load_image"]
