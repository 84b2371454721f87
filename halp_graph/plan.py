"""Pruning plans: which channels of which groups to keep, and the checks that guard them.

A plan names groups by id and lists the group channel indices to keep; groups it does not
name keep everything. Validation happens before any rewrite touches the model, and every
refusal is one line that names the group and the rule it breaks.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from .errors import PlanError
from .graph.groups import GroupSet

PLAN_SCHEMA = "halp_graph.plan/1"


@dataclass
class PruningPlan:
    keep: dict[str, list[int]] = field(default_factory=dict)

    # ------------------------------------------------------------------ io
    @classmethod
    def from_json(cls, data: object) -> "PruningPlan":
        if not isinstance(data, dict):
            raise PlanError("plan must be a JSON object")
        schema = data.get("schema")
        if schema != PLAN_SCHEMA:
            raise PlanError(f"plan schema is {schema!r}, expected {PLAN_SCHEMA!r}")
        keep = data.get("keep")
        if not isinstance(keep, dict):
            raise PlanError("plan field 'keep' must be an object mapping group ids to index lists")
        out = {}
        for gid, idx in keep.items():
            if not isinstance(idx, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                                    for i in idx):
                raise PlanError(f"plan entry for group {gid!r} must be a list of integers")
            out[str(gid)] = list(idx)
        return cls(out)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PruningPlan":
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise PlanError(f"{path}: no such plan file") from None
        except json.JSONDecodeError as exc:
            raise PlanError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_json(data)

    def to_json(self) -> dict:
        return {"schema": PLAN_SCHEMA,
                "keep": {g: sorted(int(i) for i in idx) for g, idx in self.keep.items()}}

    # --------------------------------------------------------- validation
    def validate(self, groups: GroupSet) -> None:
        """Refuse a plan that does not fit the groups, before anything is rewritten."""
        for gid, idx in self.keep.items():
            group = groups[gid]
            if not group.prunable:
                raise PlanError(f"group {gid} is frozen and cannot be pruned: {group.reason}")
            arr = np.asarray(idx, dtype=np.int64)
            if arr.size and (arr.min() < 0 or arr.max() >= group.size):
                bad = int(arr[(arr < 0) | (arr >= group.size)][0])
                raise PlanError(f"group {gid}: index {bad} is out of range (size {group.size})")
            if len(np.unique(arr)) != arr.size:
                raise PlanError(f"group {gid}: index {_first_duplicate(arr)} is listed twice")
            if arr.size == 0 and group.cut:
                raise PlanError(f"group {gid} is a graph cut (every path from input to output "
                                f"runs through it) and cannot be emptied")
            if group.blocks > 1:
                per = group.size // group.blocks
                counts = np.bincount(arr // per, minlength=group.blocks)
                if len(set(counts.tolist())) > 1:
                    raise PlanError(f"group {gid} feeds a grouped conv with {group.blocks} groups: "
                                    f"each block of {per} channels must keep the same number "
                                    f"(got {counts.tolist()})")
            if arr.size % group.divisor:
                raise PlanError(f"group {gid}: keeps {arr.size} channels, which is not a "
                                f"multiple of {group.divisor}")

    def kept_counts(self, groups: GroupSet) -> dict[str, int]:
        return {g.id: len(self.keep[g.id]) if g.id in self.keep else g.size for g in groups}

    def removed(self, groups: GroupSet) -> dict[str, np.ndarray]:
        """The channels the plan removes, per group it names (sorted indices)."""
        return {gid: np.setdiff1d(np.arange(groups[gid].size), np.asarray(keep, dtype=np.int64))
                for gid, keep in self.keep.items()}

    def removes_anything(self, groups: GroupSet) -> bool:
        return any(len(idx) < groups[g].size for g, idx in self.keep.items())


def _first_duplicate(arr: np.ndarray) -> int:
    seen = set()
    for v in arr.tolist():
        if v in seen:
            return v
        seen.add(v)
    return int(arr[0])


def element_masks(plan: PruningPlan, groups: GroupSet) -> dict:
    """{AxisKey: bool array over the axis's elements, False where the plan removes}, for
    every axis the plan changes (activations and per-use parameters alike)."""
    masks: dict = {}
    for gid, drop in plan.removed(groups).items():
        group = groups[gid]
        if drop.size == 0:
            continue
        for member in group.members:
            key = member.key
            if key not in masks:
                size = groups.graph.shape(member.tensor)[member.axis]
                masks[key] = np.ones(size, dtype=bool)
            masks[key][member.elements(drop)] = False
    return masks
