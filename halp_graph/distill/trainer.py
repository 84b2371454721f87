"""Train a student twin to reproduce a teacher twin on unlabelled samples.

The student is the pruned model's twin (or, during the iterative schedule, the dense twin
with channel masks in `student_hook`); the teacher is the dense model's twin, frozen. Adam
with a cosine-decayed learning rate runs over shuffled batches for the given epochs. The
held-out samples are scored every epoch (and when training stops early): the state with
the lowest held-out distortion (KL for classifiers, relative error otherwise) is the one
kept, so a run that is stopped by its time limit or by Ctrl-C returns its best model so
far, never a half-updated one.

Under torch.distributed every rank trains the same student through DistributedDataParallel
on its own shard of each epoch's permutation (the same seed everywhere), with the same
number of steps; decisions (stop, best state) are taken on rank 0 and broadcast, so every
rank ends with the same weights.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..fidelity.metrics import FidelityMeter
from ..samples import Samples
from ..torch.distributed import broadcast_value, rank, world_size
from .objective import DistillObjective, FeaturePair
from .progress import ProgressBar

LEARNING_RATE = 1e-3
BATCH = 64
EVAL_BATCH = 256


@dataclass
class DistillConfig:
    epochs: int = 1
    batch_size: int = BATCH
    lr: float = LEARNING_RATE
    temperature: float = 2.0
    feature_weight: float = 0.0
    time_limit: float | None = None  # seconds of training; the best state so far is kept
    seed: int = 0
    progress: bool = False
    device: str = "cpu"  # where both twins train ("cuda:0" with the nccl backend)

    def __post_init__(self):
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise ValueError(f"epochs must be a positive whole number, not {self.epochs}")
        if self.batch_size < 1 or not self.lr > 0:
            raise ValueError(f"batch size and learning rate must be positive, not {self.batch_size}, {self.lr}")
        if not self.temperature > 0 or self.feature_weight < 0:
            raise ValueError(f"temperature must be positive and feature weight >= 0, not "
                             f"{self.temperature}, {self.feature_weight}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"time limit must be positive seconds, not {self.time_limit}")


@dataclass
class DistillResult:
    initial: dict | None  # held-out metrics before training
    best: dict | None  # held-out metrics of the kept state, with its step and epoch
    history: list[dict]  # per evaluation: epoch, step, mean training loss, held-out metrics
    steps: int
    samples: int
    seconds: float
    stopped: str  # "finished", "time limit" or "interrupted"
    epochs_run: float
    state: dict = field(repr=False, default_factory=dict)  # the kept student state

    def to_json(self) -> dict:
        return {"samples": self.samples, "steps": self.steps, "epochs_run": round(self.epochs_run, 3),
                "seconds": round(self.seconds, 2), "stopped": self.stopped,
                "held_out_before": self.initial, "held_out_best": self.best, "history": self.history}


class Distiller:
    """One training run. `student_hook(name, value)` rewrites student tensors (channel
    masks); `pairs` are the features matched when config.feature_weight > 0. on_step(step)
    is called after every optimiser step (the schedule prunes there); track_best=False
    keeps the last state instead of the best held-out one."""

    def __init__(self, student, teacher, samples: Samples, config: DistillConfig,
                 held_out: Samples | None = None, student_hook=None, pairs: list[FeaturePair] = (),
                 log: Callable[[str], None] | None = None):
        self.student, self.teacher, self.samples = student, teacher, samples
        self.config, self.held_out = config, held_out
        self.student_hook, self.pairs = student_hook, list(pairs)
        self.log = log or (lambda message: None)
        self.best_from = 0  # states before this step are not candidates (the schedule's pruning)
        self.world, self.rank = world_size(), rank()
        self.device = torch.device(config.device)
        student.to(self.device)
        teacher.to(self.device)
        self.batch = samples.fixed_batch or config.batch_size
        self.per_rank = len(samples) // self.world
        if self.per_rank < 1:
            raise ValueError(f"{len(samples)} samples cannot be shared by {self.world} ranks")
        self.steps_per_epoch = max(self.per_rank // self.batch, 1)  # a short last batch is dropped
        self.total_steps = self.steps_per_epoch * config.epochs
        for p in teacher.parameters():
            p.requires_grad_(False)
        teacher.eval()
        first = samples.subset(np.arange(min(len(samples), self.batch)))
        with torch.no_grad():
            outputs = [v.cpu() for v in teacher(_tensors(first.arrays)).values()]
        self.objective = DistillObjective(outputs, config.temperature, config.feature_weight)
        self._held_teacher = self._teacher_outputs(held_out) if held_out is not None else None

    # ------------------------------------------------------------------ evaluation
    def _teacher_outputs(self, samples: Samples) -> list[list[np.ndarray]]:
        out = []
        with torch.no_grad():
            for feeds in samples.batches(EVAL_BATCH):
                out.append([v.cpu().numpy() for v in self.teacher(_tensors(feeds)).values()])
        return out

    def evaluate(self) -> dict | None:
        """Held-out fidelity of the student now (twin against twin, no gradients)."""
        if self.held_out is None:
            return None
        meter = FidelityMeter(list(self.teacher.output_names))
        self.student.eval()
        with torch.no_grad():
            for feeds, dense in zip(self.held_out.batches(EVAL_BATCH), self._held_teacher):
                outs = self.student(_tensors(feeds), hook=self.student_hook)
                meter.update(dense, [v.cpu().numpy() for v in outs.values()])
        result = meter.result()
        worst = max(o["rel_l2"] for o in result["outputs"].values())
        metrics = {"agreement": result["agreement"], "kl": result["kl"], "rel_error": worst}
        metrics["distortion"] = metrics["kl"] if metrics["kl"] is not None else worst
        return metrics

    # ------------------------------------------------------------------ training
    def run(self, on_step: Callable[[int], None] | None = None, track_best: bool = True) -> DistillResult:
        cfg = self.config
        model = self.student
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = DistributedDataParallel(self.student, device_ids=ids, forward_sync_buffers=False)
        optimizer = torch.optim.Adam([p for p in self.student.parameters() if p.requires_grad], lr=cfg.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, self.total_steps) / self.total_steps)))
        bar = ProgressBar(self.total_steps, cfg.epochs, cfg.progress and self.rank == 0)
        wanted = {p.tensor for p in self.pairs} if cfg.feature_weight and self.pairs else set()
        clock = time.perf_counter()
        initial = self.evaluate()
        if initial is not None:
            bar.held_out(initial)
        best, best_state = (dict(initial, step=0, epoch=0) if initial else None), _copy_state(self.student)
        history: list[dict] = []
        step, stopped, losses = 0, "finished", []
        evaluated_at = 0

        def checkpoint(epoch_float: float) -> None:
            nonlocal best, best_state, evaluated_at
            evaluated_at = step
            metrics = self.evaluate()
            entry = {"epoch": round(epoch_float, 3), "step": step,
                     "loss": float(np.mean(losses)) if losses else None, "held_out": metrics}
            history.append(entry)
            if metrics is not None:
                bar.held_out(metrics)
            bar.update(step, min(int(epoch_float), cfg.epochs - 1),
                       entry["loss"] if entry["loss"] is not None else 0.0, force=True)
            if not track_best or step < self.best_from:
                return
            better = metrics is not None and (best is None or best["step"] < self.best_from
                                              or metrics["distortion"] < best["distortion"])
            if broadcast_value(float(better)) > 0.5:
                best = dict(metrics, step=step, epoch=round(epoch_float, 3))
                best_state = _copy_state(self.student)

        try:
            for epoch in range(cfg.epochs):
                losses = []
                order = np.random.default_rng(cfg.seed + epoch).permutation(len(self.samples))
                mine = order[self.rank::self.world][:self.per_rank]
                for b in range(self.steps_per_epoch):
                    index = np.sort(mine[b * self.batch:(b + 1) * self.batch])
                    feeds = _tensors(self.samples.subset(index).arrays, self.device)
                    model.train()
                    loss, _ = self._loss(model, feeds, wanted)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    step += 1
                    losses.append(float(loss.detach()))
                    bar.update(step, epoch, float(np.mean(losses[-20:])))
                    if on_step is not None:
                        on_step(step)
                    over = cfg.time_limit is not None and time.perf_counter() - clock > cfg.time_limit
                    if broadcast_value(float(over)) > 0.5:
                        stopped = "time limit"
                        break
                checkpoint(epoch + (b + 1) / self.steps_per_epoch)
                if stopped != "finished":
                    break
        except KeyboardInterrupt:
            stopped = "interrupted"
            self.log("interrupted: keeping the best model so far")
            if evaluated_at != step:
                checkpoint(step / self.steps_per_epoch)
        bar.close()
        if track_best and best is not None and best["step"] >= self.best_from:
            self.student.load_state_dict(best_state)
        else:
            best, best_state = (history[-1]["held_out"] if history else None), _copy_state(self.student)
        self.student.eval()
        return DistillResult(initial, best, history, step, len(self.samples), time.perf_counter() - clock,
                             stopped, step / self.steps_per_epoch, best_state)

    def _loss(self, model, feeds: dict, wanted: set[str]):
        teacher_feats: dict = {}
        student_feats: dict = {}

        def capture(store):
            def hook(name, value):
                if name in wanted:
                    store[name] = value
            return hook

        with torch.no_grad():
            teacher_out = list(self.teacher(feeds, hook=capture(teacher_feats) if wanted else None).values())
        hook = self.student_hook
        if wanted:
            inner, keep = self.student_hook, capture(student_feats)

            def hook(name, value):  # noqa: F811 - masks first, then capture what they left
                if inner is not None:
                    out = inner(name, value)
                    value = value if out is None else out
                keep(name, value)
                return value
        student_out = list(model(feeds, hook=hook).values())
        return self.objective(teacher_out, student_out, teacher_feats, student_feats, self.pairs)


def distill(student, teacher, samples: Samples, config: DistillConfig | None = None, **kwargs) -> DistillResult:
    """Distil `student` toward `teacher` on `samples` (see Distiller); the student ends in
    its best held-out state."""
    held_out = kwargs.pop("held_out", None)
    on_step = kwargs.pop("on_step", None)
    return Distiller(student, teacher, samples, config or DistillConfig(), held_out, **kwargs).run(on_step)


def _copy_state(module) -> dict:
    return copy.deepcopy({k: v.detach() for k, v in module.state_dict().items()})


def _tensors(arrays: dict, device=None) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in arrays.items()}
