"""Import torchvision on a CPU-only torch whose torchvision wheel was built for CUDA.

torchvision 0.28's CUDA build registers meta and autograd kernels for its own C++ ops at
import time, which fails on a CPU torch ("operator torchvision::nms does not exist").
The models, fx tracing and ONNX export do not need those ops, so when torch has no CUDA
the two registration modules are replaced by empty ones before the import.
"""

from __future__ import annotations

import sys
import types


def import_torchvision():
    try:
        import torch  # lazy: torch is optional
    except ImportError as exc:
        raise ImportError("torch is not installed; install halp-graph[torch]") from exc
    if not torch.cuda.is_available():
        for name in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
            sys.modules.setdefault(name, types.ModuleType(name))
    import torchvision  # lazy: only after the registration modules are stubbed
    return torchvision
