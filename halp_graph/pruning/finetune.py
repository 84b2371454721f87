"""`--finetune`: distil the pruned model against the dense one, label-free, on the ONNX path.

Both models get a torch twin, checked against ONNX Runtime on a batch of the fine-tuning
data; a model whose twin cannot be built or does not reproduce it is not trained (the
report says which op or error stopped it, and the result stays the no-training one). The
pruned twin is trained (distill.Distiller) on the fine-tuning samples, the held-out
samples choose its best state, and that state is exported back into the pruned ONNX
graph, which onnx.checker (full) checks before ONNX Runtime measures its fidelity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError, SettingsError
from ..graph.capture_onnx import LoadedModel
from ..graph.groups import GroupSet
from ..onnx_io import check_full
from ..plan import PruningPlan
from ..runtime import torch_threads
from ..samples import Samples, read_samples

FEATURE_OPS = ("Conv", "Gemm", "MatMul", "ConvTranspose")


@dataclass
class Finetuned:
    model: LoadedModel  # the trained model, or the input when training could not run
    info: dict  # the report's "finetune" entry


def finetune_samples(source, proto, calib: Samples | None) -> Samples:
    """The fine-tuning data: `source` (an .npz, an image directory or arrays), else the
    calibration samples."""
    if source is not None:
        samples = read_samples(source, proto, what="fine-tuning data")
    elif calib is not None:
        samples = calib
    else:
        raise DataError("fine-tuning needs unlabelled data: --finetune-data, or --calib")
    if len(samples) < 2:
        raise DataError(f"{samples.origin}: {len(samples)} sample is too few to fine-tune on")
    return samples


def checked_twins(dense: LoadedModel, pruned: LoadedModel, samples: Samples):
    """(teacher, student) twins checked against ONNX Runtime, or LossAwareUnavailable."""
    from ..saliency.loss_aware import build_checked_twin  # lazy: torch is optional

    feeds = samples.subset(np.arange(min(len(samples), samples.fixed_batch or 8))).arrays
    teacher, _ = build_checked_twin(dense, feeds)
    student, _ = build_checked_twin(pruned, feeds)
    return teacher, student


def feature_pairs(groups: GroupSet, plan: PruningPlan):
    """The outputs of the layers whose output channels the plan prunes, each with the
    elements the pruned model lacks."""
    from ..distill import FeaturePair  # lazy: torch is optional

    graph = groups.graph
    removed: dict[tuple[str, int], set[int]] = {}
    for gid, gone in plan.removed(groups).items():
        group = groups[gid]
        for member in group.activation_members():
            node = graph.producer.get(member.tensor)
            if node is None or node.op_type not in FEATURE_OPS:
                continue
            removed.setdefault((member.tensor, member.axis), set()).update(member.elements(gone).tolist())
    return [FeaturePair(tensor, axis, tuple(sorted(elems))) for (tensor, axis), elems in removed.items()]


def finetune(dense: LoadedModel, pruned: LoadedModel, plan: PruningPlan, groups: GroupSet,
             samples: Samples, held_out: Samples | None, config, log) -> Finetuned:
    """Distil `pruned` toward `dense`; config is a distill.DistillConfig."""
    # lazy: torch is optional
    from ..distill import Distiller
    from ..saliency.loss_aware import LossAwareUnavailable

    try:
        teacher, student = checked_twins(dense, pruned, samples)
    except LossAwareUnavailable as exc:
        log(f"fine-tuning skipped: {exc}")
        return Finetuned(pruned, {"skipped": str(exc)})
    pairs = feature_pairs(groups, plan) if config.feature_weight else []
    with torch_threads(1):
        trainer = Distiller(student, teacher, samples, config, held_out, pairs=pairs, log=log)
        result = trainer.run()
    model = LoadedModel(student.to_onnx(), pruned.base_dir, pruned.path)
    check_full(model)
    info = {"epochs": config.epochs, "batch_size": trainer.batch, "learning_rate": config.lr,
            "temperature": config.temperature, "feature_weight": config.feature_weight,
            "features_matched": len(pairs), "data": samples.origin, **result.to_json()}
    log(f"fine-tuning: {result.steps} steps on {len(samples)} samples, {result.stopped} "
        f"[{result.seconds:.1f}s]")
    return Finetuned(model, info)


def training_config(epochs: int, schedule: int | None, time_limit: float | None, lr: float | None,
                    batch_size: int | None, temperature: float | None, feature_weight: float,
                    progress: bool, device: str | None = None):
    """The distillation settings of a run, or None when it trains nothing."""
    if not isinstance(epochs, int) or epochs < 0:
        raise SettingsError(f"fine-tuning epochs must be a whole number >= 0, not {epochs}")
    if schedule is not None and (not isinstance(schedule, int) or schedule < 1):
        raise SettingsError(f"the schedule needs a whole number of steps >= 1, not {schedule}")
    if schedule and not epochs:
        raise SettingsError("the schedule prunes while training: give the epochs to train (--finetune N)")
    if not epochs:
        return None
    from ..distill import DistillConfig  # lazy: torch is optional

    options = {k: v for k, v in (("lr", lr), ("batch_size", batch_size), ("temperature", temperature),
                                 ("device", device or _rank_device())) if v is not None}
    try:
        return DistillConfig(epochs=epochs, time_limit=time_limit, feature_weight=float(feature_weight),
                             progress=progress, **options)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _rank_device() -> str | None:
    """cuda:N for a rank of a nccl process group (its collectives need CUDA tensors)."""
    # lazy: torch is optional
    import torch
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return f"cuda:{torch.cuda.current_device()}"
    return None
