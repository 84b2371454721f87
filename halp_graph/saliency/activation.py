"""Data-driven saliency: how strongly each channel is active on calibration data.

The tensors that matter are the ones the group's consuming layers read (a conv's input,
a Gemm's flattened input): a channel that is zero there contributes nothing downstream,
however large its weights. Those tensors are exposed as extra outputs of the model, the
calibration batches (see halp_graph.samples) run through ONNX Runtime, and each channel scores
its mean absolute value over samples and positions (over its whole block of features
after a Flatten). A group no layer reads (its channels only scale or join others) uses
all of its activation tensors instead.

Members are combined as magnitude saliency combines them: each tensor's channel means are
divided by their mean over the group, then summed, so a dead channel scores exactly 0 and
a channel that many layers read counts more.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import DataError, TargetError
from ..graph import LoadedModel, from_proto, load_model
from ..graph.groups import Group, GroupSet, Member
from ..samples import DEFAULT_BATCH, calibration_batches
from ..runtime import session
from .external import Scores


def activation_members(groups: GroupSet, group: Group) -> list[Member]:
    """The activation members whose tensors the group's consuming layers read."""
    read = {(layer.in_key.tensor, layer.in_key.axis) for layer in groups.layers
            if group.id in layer.input_groups()}
    members = group.activation_members()
    chosen = [m for m in members if (m.tensor, m.axis) in read]
    return chosen or members


def activation_scores(groups: GroupSet, model, calib, batch_size: int = DEFAULT_BATCH,
                      limit: int | None = None, threads: int = 1) -> Scores:
    """Mean |activation| per channel of every prunable group over the calibration data.

    model: the model `groups` was found in (path, ModelProto or LoadedModel). calib: an .npz
    path, an image directory, or {input name: array} (see halp_graph.samples); `limit` caps
    the samples used.
    """
    loaded = _loaded(model)
    chosen = {g.id: activation_members(groups, g) for g in groups.prunable()}
    tensors = sorted({m.tensor for members in chosen.values() for m in members})
    probe = _with_outputs(loaded, groups, tensors)
    batches = calibration_batches(calib, loaded.proto, batch_size=batch_size, limit=limit)
    sess = session(probe, threads=threads)
    sums: dict[tuple[str, int], np.ndarray] = {}
    samples = 0
    for feeds in batches:
        outputs = dict(zip(tensors, sess.run(tensors, feeds)))
        for members in chosen.values():
            for m in members:
                key = (m.tensor, m.axis)
                if key not in sums:
                    sums[key] = _abs_sum(outputs[m.tensor], m.axis)
                    continue
                sums[key] += _abs_sum(outputs[m.tensor], m.axis)
        samples += len(next(iter(feeds.values())))
    if samples == 0:
        raise DataError("calibration data holds no samples")
    scores = {}
    for group in groups.prunable():
        total = np.zeros(group.size)
        for m in chosen[group.id]:
            per_element = sums[(m.tensor, m.axis)]
            channel = per_element[m.elements(np.arange(group.size))].reshape(group.size, -1).mean(axis=1)
            mean = channel.mean()
            if mean > 0:
                total += channel / mean
        scores[group.id] = total
    return scores


def _abs_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """Mean |x| over every axis but `axis` and the batch, summed over the batch."""
    moved = np.moveaxis(np.abs(np.asarray(x, dtype=np.float64)), axis, -1)
    if moved.ndim == 1:
        return moved
    return moved.reshape(moved.shape[0], -1, moved.shape[-1]).mean(axis=1).sum(axis=0)


def _loaded(model) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, onnx.ModelProto):
        return from_proto(model)
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    raise TargetError(f"activation saliency needs the model (a path or ModelProto), got {type(model).__name__}")


def _with_outputs(model: LoadedModel, groups: GroupSet, tensors: list[str]) -> LoadedModel:
    """A copy of the model that also returns `tensors`."""
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    present = {o.name for o in proto.graph.output}
    for name in tensors:
        if name in present:
            continue
        dtype = groups.graph.tensor(name).dtype or TensorProto.FLOAT
        proto.graph.output.append(helper.make_tensor_value_info(name, dtype, None))
    return LoadedModel(proto, model.base_dir, model.path)
