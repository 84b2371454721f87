"""Saliency without training, for one-shot pruning of an nn.Module.

* `magnitude_saliency`: per channel, the L1 norm of its slice of every trainable
  parameter member (producer rows, consumer columns, BatchNorm scale and shift), each
  member divided by its mean channel norm so that members of different scale weigh the
  same, summed over members. Data-free.
* `activation_saliency`: per channel, the mean absolute value of the group's activations
  over calibration batches, run through the traced module with an fx Interpreter. Only
  the tensors an activation function produces are read when the group has any (else the
  BatchNorm outputs, else every activation member), so a channel is judged by what the
  next layer actually receives.

The training-time pruner uses Taylor saliency instead (taylor.py).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import numpy as np
import torch
import torch.fx

from .module_groups import ModuleGroups
from .taylor import trainable_parameter

ACTIVATION_OPS = {"Relu", "Clip", "Sigmoid", "Tanh", "Gelu", "HardSwish", "HardSigmoid", "Mish",
                  "Softplus", "Elu", "Selu", "Celu", "LeakyRelu", "PRelu", "Mul"}


def _per_channel(values: np.ndarray, elem_start: int, size: int, block: int) -> np.ndarray:
    return values[elem_start:elem_start + size * block].reshape(size, block).sum(1)


def magnitude_saliency(groups: ModuleGroups) -> dict[str, np.ndarray]:
    out = {}
    for group in groups.prunable():
        total = np.zeros(group.size)
        for pm in groups.param_members(group):
            p = trainable_parameter(groups, (pm.ref.module, pm.ref.name))
            if p is None:
                continue
            w = p.detach().abs().float()
            dims = [d for d in range(w.dim()) if d != pm.axis]
            norms = (w.sum(dim=dims) if dims else w).cpu().numpy().astype(np.float64)
            per = _per_channel(norms, pm.member.elem_start, group.size, pm.member.block)
            mean = per.mean()
            if mean > 0:
                total += per / mean
        out[group.id] = total
    return out


class _Recorder(torch.fx.Interpreter):
    """Runs the traced module and sums |activation| per channel for chosen fx nodes."""

    def __init__(self, gm, wanted: dict[str, set[int]]):
        super().__init__(gm)
        self.wanted = wanted
        self.sums: dict[tuple[str, int], torch.Tensor] = {}
        self.counts: dict[tuple[str, int], int] = defaultdict(int)

    def run_node(self, n):
        result = super().run_node(n)
        if n.name in self.wanted and isinstance(result, torch.Tensor):
            a = result.detach().abs().float()
            for axis in self.wanted[n.name]:
                dims = [d for d in range(a.dim()) if d != axis]
                v = a.mean(dim=dims) if dims else a
                key = (n.name, axis)
                self.sums[key] = self.sums[key] + v if key in self.sums else v
                self.counts[key] += 1
        return result


def _activation_members(groups: ModuleGroups, group) -> list:
    graph = groups.groups.graph
    members = [m for m in group.activation_members() if m.tensor in graph.producer]
    for ops in (ACTIVATION_OPS, {"BatchNormalization"}):
        chosen = [m for m in members if graph.producer[m.tensor].op_type in ops]
        if chosen:
            return chosen
    return members


def activation_saliency(groups: ModuleGroups, batches: Iterable) -> dict[str, np.ndarray]:
    """Mean |activation| per group channel over `batches` (tensors or tuples of tensors)."""
    fx_node_of = {tensor: node for node, tensor in groups.capture.tensor_of.items()}
    chosen = {}
    wanted: dict[str, set[int]] = defaultdict(set)
    for group in groups.prunable():
        members = [m for m in _activation_members(groups, group) if m.tensor in fx_node_of]
        chosen[group.id] = members
        for m in members:
            wanted[fx_node_of[m.tensor]].add(m.axis)
    gm = groups.capture.graph_module
    recorder = _Recorder(gm, wanted)
    modes = {m: m.training for m in gm.modules()}
    gm.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                recorder.run(*(batch if isinstance(batch, (tuple, list)) else (batch,)))
    finally:
        for m, mode in modes.items():
            m.training = mode
    out = {}
    for group in groups.prunable():
        total = np.zeros(group.size)
        for m in chosen[group.id]:
            key = (fx_node_of[m.tensor], m.axis)
            if key in recorder.sums:
                mean = (recorder.sums[key] / recorder.counts[key]).cpu().numpy().astype(np.float64)
                total += _per_channel(mean, m.elem_start, group.size, m.block)
        out[group.id] = total
    return out
