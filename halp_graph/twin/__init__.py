"""A trainable twin of an ONNX model: the graph as a differentiable torch nn.Module that
reproduces ONNX Runtime's outputs, for Fisher saliency, weight reconstruction and
distillation. Import it lazily: it needs torch.

    twin = build_twin("model.onnx")
    outs = twin({"input": x}, hook=lambda name, value: value * masks.get(name, 1))
    check_twin(twin, "model.onnx", raise_on_fail=True)
"""

from .build import build_twin
from .check import TwinReport, check_twin
from .errors import TwinMismatch, TwinUnsupported
from .graph import TwinNode
from .module import Twin
from .op_table import OPS

__all__ = ["build_twin", "check_twin", "Twin", "TwinNode", "TwinReport", "TwinUnsupported",
           "TwinMismatch", "OPS", "supported_ops"]


def supported_ops() -> list[str]:
    """Op types of the default domain the twin implements (Constant included)."""
    return sorted(set(OPS) | {"Constant"})
