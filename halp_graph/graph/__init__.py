"""Capture models into a neutral graph and find their coupled channel groups."""

from __future__ import annotations

import os

import onnx

from .capture_onnx import LoadedModel, capture, from_proto, load_model
from .grouping import find_groups
from .groups import GROUPS_SCHEMA, Group, GroupSet, Layer, Member, Segment
from .ir import Graph, Node, Tensor


def analyze(model: "str | os.PathLike | onnx.ModelProto | LoadedModel") -> GroupSet:
    """Capture an ONNX model (a path, a ModelProto or a LoadedModel) and group its channels."""
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    return find_groups(capture(model))


__all__ = ["analyze", "capture", "find_groups", "load_model", "from_proto", "LoadedModel",
           "Graph", "Node", "Tensor", "Group", "GroupSet", "Layer", "Member", "Segment",
           "GROUPS_SCHEMA"]
