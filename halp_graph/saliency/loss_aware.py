"""Loss-aware saliency: what removing each channel costs the model's outputs, in one unit
across the whole model (see distortion.py), label-free, measured on calibration data.

1. A torch twin of the ONNX model (halp_graph.twin) is built and checked against ONNX
   Runtime on a calibration batch; a model it cannot reproduce gets no loss-aware scores
   (LossAwareUnavailable, which names the op or the error, and the caller falls back).
2. Channel scores are the diagonal Fisher information of channel masks: a mask of ones
   multiplies every activation member of every prunable group, `distortion.probe` is
   back-propagated, and a channel scores the mean over samples of its mask gradient
   squared, which is the second-order distortion of removing it alone (Kwon et al. 2022).
   Per-sample masks give each sample's gradient in one backward pass.
3. Measured tables (SPDY-style): for every group, the distortion is measured with its
   lowest-scoring quarter, half and three quarters of channels masked, and, for a group
   that is not a cut (a whole branch), with all of it masked. The diagonal Fisher is a
   local estimate: on EfficientNet-lite0 it overstates the cost of pruning expansion
   channels about ten times more than that of residual-stream channels, so the knapsack
   trusted alone would prune the fragile streams.

The result's `scores` order channels within a group; `tables` give the measured loss of
removing the lowest-scoring r channels, which `build_problem` interpolates (along the
Fisher curve between measured points) to value every option, emptying included, in one
unit across groups. `empty` is the measured distortion of emptying each non-cut group.

`removed` scores a partly pruned model (the iterative schedule's later steps): those
channels are held at zero throughout, score zero, come first in every group's order, and
the tables are measured at shares of the channels that remain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import HalpError
from ..graph.capture_onnx import LoadedModel
from ..graph.groups import GroupSet
from ..runtime import torch_threads
from ..samples import Samples
from ..twin import TwinMismatch, TwinUnsupported, build_twin, check_twin
from .channel_masks import ChannelMasks
from .distortion import MSE, OutputDistortion, output_kind

FISHER_BATCH = 32
TABLE_SAMPLES = (16, 64)  # fewest and most samples each measured table point is taken on
TABLE_FORWARDS = 3000  # the tables' sample count shrinks so they cost at most this many forwards
FRACTIONS = (0.25, 0.5, 0.75)  # removed shares of a group at which its distortion is measured


class LossAwareUnavailable(HalpError):
    """The model has no torch twin that reproduces it: loss-aware scores cannot be had."""

    exit_code = 5


@dataclass
class LossAwareScores:
    scores: dict[str, np.ndarray]
    empty: dict[str, float]
    unit: str
    samples: int
    seconds: dict = field(default_factory=dict)
    twin_max_rel: float | None = None
    tables: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    table_samples: int = 0

    def to_json(self) -> dict:
        return {"unit": self.unit, "samples": self.samples, "table_samples": self.table_samples,
                "seconds": self.seconds,
                "twin_max_rel_error": self.twin_max_rel,
                "empty_distortion": {g: float(v) for g, v in self.empty.items()},
                "measured_tables": {g: [[r, float(d)] for r, d in pts] for g, pts in self.tables.items()}}


def build_checked_twin(model: LoadedModel, feeds: dict):
    """The model's torch twin, checked against ONNX Runtime on `feeds`, or
    LossAwareUnavailable naming what stopped it."""
    try:
        twin = build_twin(model)
        report = check_twin(twin, model, feeds=feeds, raise_on_fail=True)
    except (TwinUnsupported, TwinMismatch) as exc:
        raise LossAwareUnavailable(f"no torch twin of the model: {exc}") from None
    twin.eval()
    return twin, report


def loss_aware_scores(groups: GroupSet, model: LoadedModel, samples: Samples,
                      batch_size: int = FISHER_BATCH, table_samples: int | None = None,
                      fractions=FRACTIONS, seed: int = 0, twin=None, threads: int = 1,
                      removed: dict | None = None) -> LossAwareScores:
    """Fisher scores and measured tables on `samples`, torch on `threads` threads.
    table_samples: samples per measured point (default: as many as TABLE_FORWARDS allows
    over all the points, within TABLE_SAMPLES). removed: channels (group id -> indices)
    already pruned, held at zero."""
    with torch_threads(threads):
        return _scores(groups, model, samples, batch_size, table_samples, fractions, seed, twin,
                       {g: np.asarray(i, dtype=np.int64) for g, i in (removed or {}).items()})


def _scores(groups, model, samples, batch_size, table_samples, fractions, seed, twin, removed) -> LossAwareScores:
    clock = time.perf_counter()
    seconds = {}
    batches = [_tensors(b) for b in samples.batches(batch_size)]
    max_rel = None
    if twin is None:
        twin, report = build_checked_twin(model, {k: v.numpy() for k, v in batches[0].items()})
        max_rel = report.max_rel
    seconds["twin"] = round(time.perf_counter() - clock, 3)
    names = list(twin.output_names)
    prunable = groups.prunable()
    masks = ChannelMasks(groups, prunable)
    masks.set_removed(removed)
    with torch.no_grad():
        first = list(twin(batches[0], hook=masks.hook).values())
    dense = None  # the Fisher pass's own outputs, at masks of one, are the dense outputs
    if any(output_kind(v) == MSE for v in first):  # MSE scales need every batch first
        with torch.no_grad():
            dense = [list(twin(b, hook=masks.hook).values()) for b in batches]
    distortion = OutputDistortion(names, dense or [first])
    generator = torch.Generator().manual_seed(seed)

    clock = time.perf_counter()
    fisher = {g.id: np.zeros(g.size) for g in prunable}
    shared, dense = _fisher_pass(twin, masks, prunable, batches, dense, distortion, generator, fisher,
                                 per_sample=True)
    if shared:  # groups whose tensors do not carry the batch first: shared masks for them
        _fisher_pass(twin, masks, [g for g in prunable if g.id in shared], batches, dense,
                     distortion, generator, fisher, per_sample=False)
    total = sum(len(next(iter(b.values()))) for b in batches)
    scores = {gid: f / total for gid, f in fisher.items()}
    for gid, index in removed.items():
        if gid in scores and len(index):
            kept = np.ones(len(scores[gid]), dtype=bool)
            kept[index] = False
            floor = max(float(scores[gid].max()), 1.0) * 1e-30
            scores[gid] = np.where(kept, np.maximum(scores[gid], floor), 0.0)  # removed stay first
    seconds["fisher"] = round(time.perf_counter() - clock, 3)

    clock = time.perf_counter()
    if table_samples is None:
        points = sum(len(_removed_counts(g, fractions, len(removed.get(g.id, ())))) for g in prunable)
        table_samples = min(max(TABLE_FORWARDS // max(points, 1), TABLE_SAMPLES[0]), TABLE_SAMPLES[1])
    measured = _measured(twin, masks, prunable, scores, batches, dense, distortion, table_samples,
                         fractions, removed)

    seconds["tables"] = round(time.perf_counter() - clock, 3)
    empty = {g: pts[-1][1] for g, pts in measured.items() if not groups[g].cut and pts}
    return LossAwareScores(scores, empty, distortion.unit(), total, seconds, max_rel, measured, table_samples)


def _fisher_pass(twin, masks: ChannelMasks, chosen, batches, dense, distortion, generator,
                 fisher: dict, per_sample: bool):
    """Accumulate squared mask gradients into `fisher`. Returns the groups that could not
    take per-sample masks (their accumulations are discarded and must be redone shared),
    and the dense outputs per batch (`dense`, or, when None, this pass's own outputs)."""
    flags = [(p, p.requires_grad) for p in twin.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)  # only the masks need gradients
    references = []
    for i, batch in enumerate(batches):
        n = len(next(iter(batch.values())))
        masks.masks = {g.id: torch.ones((n, g.size) if per_sample else (g.size,), requires_grad=True)
                       for g in chosen}
        masks.per_sample_ok = {g.id: True for g in chosen}
        outputs = list(twin(batch, hook=masks.hook).values())
        reference = dense[i] if dense is not None else [o.detach() for o in outputs]
        references.append(reference)
        loss = distortion.probe(reference, outputs, generator)
        leaves = [masks.masks[g.id] for g in chosen]
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        for g, grad in zip(chosen, grads):
            if grad is None:
                continue
            square = grad.double().pow(2)
            fisher[g.id] += (square.sum(dim=0) if per_sample else square).numpy()
    masks.masks = {}
    bad = {gid for gid, ok in masks.per_sample_ok.items() if not ok} if per_sample else set()
    for gid in bad:
        fisher[gid][:] = 0.0
    for p, flag in flags:
        p.requires_grad_(flag)
    return bad, references


def _measured(twin, masks: ChannelMasks, chosen, scores, batches, dense, distortion, limit: int,
              fractions, removed: dict) -> dict[str, list[tuple[int, float]]]:
    """Per group: (channels removed, measured distortion) at each removed fraction, the
    lowest-scoring channels removed first, and for a group that is not a cut, emptied.
    Each measurement reruns the graph only from the first node that produces one of the
    group's tensors, over a recorded dense run of the first `limit` samples."""
    used, count = [], 0
    for batch, reference in zip(batches, dense):
        if count >= limit:
            break
        n = len(next(iter(batch.values())))
        take = min(limit - count, n)
        if any(r.dim() == 0 or r.shape[0] != n for r in reference):
            take = n  # outputs not laid out per sample: whole batches only
        used.append(({k: v[:take] for k, v in batch.items()}, [r[:take] for r in reference]))
        count += take
    producer = {o: i for i, node in enumerate(twin.nodes) for o in node.outputs}
    out = {}
    with torch.no_grad():
        bases = [twin.record(batch, hook=masks.hook) for batch, _ in used]
        for g in chosen:
            start = min((producer[m.tensor] for m in g.activation_members() if m.tensor in producer), default=0)
            gone = np.zeros(g.size, dtype=bool)
            gone[removed.get(g.id, np.zeros(0, dtype=np.int64))] = True
            order = np.lexsort((np.arange(g.size), scores[g.id], ~gone))  # removed, then lowest score
            already = int(gone.sum())
            points = [(already, 0.0)] if already else []
            for r in _removed_counts(g, fractions, already):
                mask = torch.ones(g.size)
                mask[torch.from_numpy(order[:r].copy())] = 0
                masks.masks = {g.id: mask}
                total = 0.0
                for base, (_, reference) in zip(bases, used):
                    outputs = list(twin.run_from(start, base, hook=masks.hook).values())
                    total += float(distortion.per_sample(reference, outputs).sum())
                points.append((r, total / count))
            out[g.id] = points
    masks.masks = {}
    return out


def _removed_counts(group, fractions, already: int = 0) -> list[int]:
    """Channels removed at each measured point: `already` plus the fractions of the rest,
    then all of a non-cut group."""
    rest = group.size - already
    removed = sorted({already + int(round(f * rest)) for f in fractions} - {already, group.size})
    return removed + ([] if group.cut or already == group.size else [group.size])


def _tensors(feeds: dict) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in feeds.items()}
