"""ReconstructPass: refit the layers of a pruned model to the dense model, without training.

Given the dense model, the plan that pruned it and calibration data, every linear layer
(2-D Conv of any group count, Gemm, MatMul with a constant weight) whose inputs changed
is refitted, layer by layer from the inputs to the outputs, so that on the pruned
network's own inputs it reproduces the dense layer's outputs at its kept channels:

  1. bias compensation: the mean of what the layer now misses (the removed channels'
     mean contribution, and upstream drift) is added to its bias;
  2. a ridge-regularised least-squares refit of weight and bias (He et al. 2017; OBC's
     layer-wise reconstruction), on sampled output positions;
  3. a per-channel mean and variance correction folded into weight and bias.

Each layer keeps whichever of {as pruned, 1, 2, 3} has the smallest output error on the
calibration data (1 and 3 priced from the per-channel moments of one run), so no layer's
error rises; the pass records every layer's error before and after and refuses a result
where one rose. Both models run as torch twins (halp_graph.twin)
in lock step over the calibration data; tensors are freed after their last use.

    ReconstructPass(dense, plan, calib)(pruned_ir_model).model     # onnx-ir
    model, info = reconstruct(dense, pruned, plan, calib)           # LoadedModel, per-layer errors

The dense model (an ir.Model, ModelProto or LoadedModel) and the plan are configuration;
the groups, when given, are checked against the dense model on every call.

This pass changes weights on purpose: the masked-equivalence invariant is the channel
rewrite's (PruneChannelsPass), not this pass's. Its result passes onnx.checker.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir
import torch

from halp_graph.errors import RewriteError
from halp_graph.graph import GroupSet
from halp_graph.graph.capture_onnx import LoadedModel, as_loaded
from halp_graph.graph.groups import AxisKey
from halp_graph.onnx_io import check_full
from halp_graph.plan import PruningPlan, element_masks
from halp_graph.runtime import torch_threads
from halp_graph.samples import Samples
from halp_graph.twin import build_twin

from .adapter import to_loaded
from .base import RewritePass
from .bound_groups import groups_for
from .layer_refit import LayerGeometry, NormalEquations, PairMoments, bias_shift, channel_axis, stats_fold
from .lockstep import Stepper

ROWS_PER_LAYER = 24_576  # regression rows sampled per layer
RIDGE = 1e-3
CHUNK = 32
STEPS = ("bias", "lstsq", "stats")


@dataclass
class LayerRefit:
    name: str
    op_type: str
    error_before: float  # relative: |y - target|^2 / |target|^2 on the calibration data
    error_after: float
    chosen: str

    def to_json(self) -> dict:
        return {"layer": self.name, "op": self.op_type, "error_before": self.error_before,
                "error_after": self.error_after, "chosen": self.chosen}


class ReconstructPass(RewritePass):
    """Refit a pruned model's layers to the dense model on calibration data (functional)."""

    def __init__(self, dense, plan: PruningPlan, samples: Samples, groups: GroupSet | None = None,
                 steps=STEPS, ridge: float = RIDGE, rows: int = ROWS_PER_LAYER, seed: int = 0,
                 threads: int = 1):
        unknown = set(steps) - set(STEPS)
        if unknown:
            raise ValueError(f"unknown reconstruction steps {sorted(unknown)}; choose from {STEPS}")
        self.dense = to_loaded(dense) if isinstance(dense, ir.Model) else as_loaded(dense)
        self.plan, self.samples, self.groups = plan, samples, groups
        self.steps, self.ridge, self.rows, self.seed = tuple(steps), ridge, rows, seed
        self.threads = threads

    def rewrite(self, model: LoadedModel) -> tuple[LoadedModel | None, dict]:
        start = time.perf_counter()
        groups = groups_for(self.dense, self.groups)
        masks = element_masks(self.plan, groups)
        dense_twin, pruned_twin = build_twin(self.dense), build_twin(model)
        batches = [{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in b.items()}
                   for b in self.samples.batches(CHUNK)]
        with torch_threads(self.threads):
            layers = self._refit_all(dense_twin, pruned_twin, masks, batches)
        worse = [r for r in layers if r.error_after > r.error_before * (1 + 1e-9)]
        if worse:
            raise RewriteError(f"reconstruction raised the output error of layer {worse[0].name}")
        changed = any(r.chosen != "pruned" for r in layers)
        info = {"layers": [r.to_json() for r in layers], "samples": len(self.samples),
                "seconds": round(time.perf_counter() - start, 3), "steps": list(self.steps)}
        if not changed:
            return None, info
        result = LoadedModel(pruned_twin.to_onnx(), model.base_dir, None)
        check_full(result)
        return result, info

    # ----------------------------------------------------------------------------------
    def _refit_all(self, dense_twin, pruned_twin, masks, batches) -> list[LayerRefit]:
        dense = Stepper(dense_twin, batches)
        pruned = Stepper(pruned_twin, batches)
        affected = _affected(pruned_twin, dense_twin)
        uses = Counter(i for n in pruned_twin.nodes for i in n.inputs if i)
        trainable = set(pruned_twin.parameter_names())
        candidates = {n.outputs[0] for n in pruned_twin.nodes
                      if n.name in affected and _refittable(n, pruned_twin, uses, trainable)} & dense.produced
        dense.pin(candidates)
        generator = torch.Generator().manual_seed(self.seed)
        layers = []
        for node in pruned_twin.nodes:
            out = node.outputs[0]
            if out in candidates:
                target = dense.value(out)
                dense.release(out)
                report = self._refit(node, pruned, pruned_twin, target, masks, generator)
                if report is not None:
                    layers.append(report)
            pruned.run(node)
        return layers

    def _refit(self, node, pruned: "Stepper", twin, target_full, masks, generator) -> LayerRefit | None:
        geometry = _geometry(node, twin)
        if geometry is None:
            return None
        x = pruned.value(node.inputs[0])
        weight = twin.constant(node.inputs[1]).detach()
        has_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        bias = twin.constant(node.inputs[2]).detach() if has_bias else None
        axis = channel_axis(node.op_type, target_full[0])
        keep = masks.get(AxisKey(node.outputs[0], axis, None))
        target = [t.index_select(axis, torch.from_numpy(np.flatnonzero(keep))) if keep is not None else t
                  for t in target_full]
        run = lambda w, b: [twin.run_node(node, _slots(node, xc, w, b))[0] for xc in x]  # noqa: E731
        current = run(weight, bias)
        if current[0].shape != target[0].shape:
            return None
        moments = PairMoments.of(current, target, axis)
        ref = float(moments.stt.sum()) or 1.0
        options = [("pruned", weight, bias, moments)]
        if "bias" in self.steps and has_bias:
            shift = (moments.st - moments.sy) / moments.n
            options.append(("bias", weight, bias_shift(bias, shift), moments.shifted(shift)))
        if "lstsq" in self.steps:
            eq = NormalEquations(geometry, has_bias)
            take = max(1, self.rows // len(x))
            for xc, tc in zip(x, target):
                eq.add(xc, tc, take, generator)
            try:
                w2, b2 = eq.solve(weight, bias, self.ridge)
                options.append(("lstsq", w2, b2, PairMoments.of(run(w2, b2), target, axis)))
            except RuntimeError:  # a singular system: keep the other options
                pass
        if "stats" in self.steps and has_bias:
            _, w, b, m = min(options, key=lambda o: o[3].error())
            scale, offset = m.matching_statistics()
            w3, b3 = stats_fold(node.op_type, w, b, scale, offset, geometry.trans_b)
            options.append(("stats", w3, b3, m.affine(scale, offset)))
        best = min(options, key=lambda o: o[3].error())
        if best[0] != "pruned":
            twin.set_constant(node.inputs[1], best[1])
            if has_bias:
                twin.set_constant(node.inputs[2], best[2])
        return LayerRefit(node.name, node.op_type, options[0][3].error() / ref, best[3].error() / ref, best[0])


def _slots(node, x, weight, bias):
    values = [x, weight]
    if len(node.inputs) > 2:
        values.append(bias if node.inputs[2] else None)
    return values


def _refittable(node, twin, uses: Counter, trainable: set[str]) -> bool:
    """A linear layer whose weight (and bias) are trainable constants only it reads."""
    if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.inputs) < 2:
        return False
    params = [i for i in node.inputs[1:3] if i]
    if any(p not in trainable or uses[p] != 1 for p in params):
        return False
    return _geometry(node, twin) is not None


def _geometry(node, twin) -> LayerGeometry | None:
    a = node.attrs
    if node.op_type == "Conv":
        weight = twin.constant(node.inputs[1])
        if weight is None or weight.dim() != 4 or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            return None
        # ONNX pads for 2-D are (top, left, bottom, right), LayerGeometry's order
        pads = tuple(a.get("pads", [0, 0, 0, 0])) if a.get("auto_pad", "NOTSET") == "NOTSET" else (0, 0, 0, 0)
        return LayerGeometry("Conv", int(a.get("group", 1)), tuple(weight.shape[2:]),
                             tuple(a.get("strides", [1, 1])), tuple(a.get("dilations", [1, 1])), pads)
    if node.op_type == "Gemm":
        if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            return None
        return LayerGeometry("Gemm", trans_b=bool(a.get("transB", 0)))
    weight = twin.constant(node.inputs[1])
    if weight is None or weight.dim() != 2:
        return None
    return LayerGeometry("MatMul")


def _affected(pruned_twin, dense_twin) -> set[str]:
    """Names of the pruned model's nodes that may compute something else than the dense
    model's node of the same output: a sliced constant, or an input that is affected."""
    changed_tensors: set[str] = set()
    dense_producer = {o for n in dense_twin.nodes for o in n.outputs}
    out = set()
    for node in pruned_twin.nodes:
        hit = any(i in changed_tensors for i in node.inputs if i)
        for i in node.inputs:
            if not i or i in changed_tensors:
                continue
            mine, theirs = pruned_twin.constant(i), dense_twin.constant(i)
            if mine is not None and (theirs is None or tuple(mine.shape) != tuple(theirs.shape)):
                hit = True
            if mine is None and i not in dense_producer and i not in pruned_twin.input_names:
                hit = True
        if hit or any(o not in dense_producer for o in node.outputs):
            out.add(node.name)
            changed_tensors.update(node.outputs)
    return out


def reconstruct(dense, pruned, plan: PruningPlan, samples: Samples, groups: GroupSet | None = None,
                **kwargs) -> tuple[LoadedModel, dict]:
    """Refit `pruned` (the rewrite of `dense` by `plan`) on `samples`: (the refitted model,
    or `pruned` itself when no layer improved; {"layers": per-layer errors, ...})."""
    pruned = as_loaded(pruned)
    out, info = ReconstructPass(dense, plan, samples, groups, **kwargs).rewrite(pruned)
    return (pruned if out is None else out), info
