"""Label-free distillation of a pruned model against the dense one, on torch twins of the
ONNX graphs (halp_graph.twin). Import it lazily: it needs torch.

    result = distill(student, teacher, samples, epochs=3, held_out=held)
    student.load_state_dict(result.best_state); proto = student.to_onnx()
"""

from .objective import DistillObjective, FeaturePair
from .trainer import DistillConfig, DistillResult, Distiller, distill

__all__ = ["DistillObjective", "FeaturePair", "DistillConfig", "DistillResult", "Distiller", "distill"]
