"""Data-free saliency: the magnitude of every weight that multiplies a channel.

For each prunable group, every constant member that multiplies the channel (a Conv or
ConvTranspose kernel on its output or input axis, a Gemm/MatMul weight, a BatchNorm or
InstanceNorm scale, a constant Mul) contributes the L1 or L2 norm of the channel's slice
along the member's axis (`Member.elements`: one row of a conv, a block of a Gemm after a
Flatten). Additive parameters (biases, BatchNorm shift, mean and variance) say nothing
about how much a channel matters and are left out.

Normalisation: members differ in size (a 3x3 conv row holds thousands of weights, a BN
scale one) and in scale (initialisation, weight decay), so each member's per-channel norms
are divided by their mean over the group's channels before they are summed. Every member
thus ranks the channels with the same weight, a channel zeroed everywhere still scores 0,
and a group's channels average the number of weight members it has: a channel that many
layers read (a residual stream) is worth more than one a single pair of convs shares. A
group with no weight members scores all ones (nothing is known about it).
"""

from __future__ import annotations

import numpy as np

from ..errors import TargetError
from ..graph.groups import Group, GroupSet, Member
from .external import Scores

MULTIPLICATIVE_SLOTS = {"Conv": (1,), "ConvTranspose": (1,), "Gemm": (0, 1), "MatMul": (0, 1),
                        "BatchNormalization": (1,), "InstanceNormalization": (1,), "Mul": (0, 1)}
NORMS = ("l1", "l2")


def magnitude_scores(groups: GroupSet, norm: str = "l1") -> Scores:
    """Per-channel weight magnitude of every prunable group (see the module docstring)."""
    if norm not in NORMS:
        raise TargetError(f"unknown magnitude norm {norm!r}; choose one of {', '.join(NORMS)}")
    return {g.id: _group_scores(groups, g, norm) for g in groups.prunable()}


def weight_members(groups: GroupSet, group: Group) -> list[Member]:
    """The group's constant members that multiply its channels."""
    out = []
    for member in group.members:
        if not member.is_param:
            continue
        node = groups.graph.nodes_by_name.get(member.node)
        if node is not None and member.slot in MULTIPLICATIVE_SLOTS.get(node.op_type, ()):
            out.append(member)
    return out


def channel_norms(weight: np.ndarray, member: Member, size: int, norm: str) -> np.ndarray:
    """The norm of each group channel's slice of `weight` along the member's axis."""
    moved = np.moveaxis(np.asarray(weight, dtype=np.float64), member.axis, 0)
    rows = moved[member.elements(np.arange(size))].reshape(size, -1)
    if norm == "l1":
        return np.abs(rows).sum(axis=1)
    return np.sqrt(np.square(rows).sum(axis=1))


def _group_scores(groups: GroupSet, group: Group, norm: str) -> np.ndarray:
    members = weight_members(groups, group)
    if not members:
        return np.ones(group.size)
    total = np.zeros(group.size)
    for member in members:
        weight = groups.graph.const(member.tensor)
        if weight is None:
            continue
        norms = channel_norms(weight, member, group.size, norm)
        mean = norms.mean()
        if mean > 0:
            total += norms / mean
    return total
