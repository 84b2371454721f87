"""Scores from elsewhere (Taylor saliency from a training loop, a user's own measure).

Saliency is a plain `dict[group_id, np.ndarray]`: one non-negative, finite score per
channel of every prunable group. Groups left out count as equally important channels
(all ones), frozen groups are ignored. `check_scores` is the gate every score dict passes
before the solver uses it (bad scores raise DataError: exit 8 on the command line);
`load_scores` reads one from an .npz file (arrays keyed by
group id) or a JSON object ({"g3": [0.1, ...]}).
"""

from __future__ import annotations

import json
import os
from typing import Mapping

import numpy as np

from ..errors import DataError
from ..graph.groups import GroupSet

Scores = dict[str, np.ndarray]


def check_scores(groups: GroupSet, scores: Mapping[str, object]) -> Scores:
    """Validated float64 scores for every prunable group (missing groups: all ones)."""
    if not isinstance(scores, Mapping):
        raise DataError(f"saliency must map group ids to arrays, got {type(scores).__name__}")
    known = {g.id for g in groups}
    unknown = sorted(set(scores) - known)
    if unknown:
        raise DataError(f"saliency names unknown group {unknown[0]!r} "
                            f"(the model has groups g0..g{len(groups) - 1})")
    out: Scores = {}
    for group in groups.prunable():
        if group.id not in scores:
            out[group.id] = np.ones(group.size)
            continue
        try:
            arr = np.asarray(scores[group.id], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise DataError(f"saliency for group {group.id} is not an array of numbers") from None
        if arr.size != group.size:
            raise DataError(f"saliency for group {group.id} has {arr.size} scores, "
                                f"the group has {group.size} channels")
        if not np.all(np.isfinite(arr)):
            raise DataError(f"saliency for group {group.id} has a NaN or infinite score")
        if np.any(arr < 0):
            raise DataError(f"saliency for group {group.id} has a negative score "
                                f"({arr.min():.3g}); scores must be importances >= 0")
        out[group.id] = arr
    return out


def load_scores(path: str | os.PathLike) -> Scores:
    """Scores from an .npz (one array per group id) or a JSON object of lists."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such saliency file")
    if path.endswith(".npz"):
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: np.asarray(data[k]) for k in data.files}
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a JSON saliency file ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object mapping group ids to score lists")
    return {str(k): np.asarray(v, dtype=np.float64) for k, v in data.items()}
