"""Capture models into a neutral graph and find their coupled channel groups."""

from __future__ import annotations

import os

import onnx

from .capture_onnx import LoadedModel, as_loaded, capture, from_proto, load_model
from .grouping import find_groups
from .groups import GROUPS_SCHEMA, Group, GroupSet, Layer, Member, Segment
from .ir import Graph, Node, Tensor


def analyze(model: "str | os.PathLike | onnx.ModelProto | LoadedModel") -> GroupSet:
    """Capture an ONNX model (a path, a ModelProto or a LoadedModel) and group its channels."""
    return find_groups(capture(as_loaded(model)))


__all__ = ["analyze", "as_loaded", "capture", "find_groups", "load_model", "from_proto", "LoadedModel",
           "Graph", "Node", "Tensor", "Group", "GroupSet", "Layer", "Member", "Segment",
           "GROUPS_SCHEMA"]
