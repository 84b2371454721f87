"""Latency backends, imported lazily: a missing package or device is a reason, not a crash.

`open_backend(target)` returns a ready backend for a target. When the target's backend
cannot run here (no TensorRT, no GPU, the wrong GPU) and the target names a device
profile, it falls back to the analytic estimate for that device with a warning that says
why; otherwise it raises BackendUnavailable with the reason. `availability()` lists every
backend with the reason it cannot run, for `lut show`-style reports and test skips.
"""

from __future__ import annotations

import importlib
import warnings

from ...errors import BackendUnavailable
from .base import Backend

_CLASSES = {
    "onnxruntime": ("ort", "OrtBackend"),
    "torch": ("pytorch", "TorchBackend"),
    "tensorrt": ("trt", "TensorRTBackend"),
    "analytic": ("analytic", "AnalyticBackend"),
}


class EstimateWarning(UserWarning):
    """A device target is being estimated from its profile instead of measured."""


def backend_class(name: str) -> type[Backend]:
    module, cls = _CLASSES[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def unavailable_reason(target) -> str | None:
    """Why `target`'s own backend cannot measure here, or None when it can."""
    return backend_class(target.backend).unavailable_reason(target)


def availability(target) -> dict[str, str | None]:
    """{backend name: None if it could run `target` here, else why not}."""
    out = {}
    for name in _CLASSES:
        try:
            probe = target.with_overrides(backend=name, profile=target.profile or "a100") \
                if name == "analytic" else target.with_overrides(backend=name)
            out[name] = backend_class(name).unavailable_reason(probe)
        except Exception as exc:  # a target that makes no sense for that backend
            out[name] = str(exc)
    return out


def open_backend(target, allow_estimate: bool = True) -> Backend:
    """A backend that can time `target` here (see the module docstring)."""
    reason = unavailable_reason(target)
    if reason is None:
        return backend_class(target.backend)(target)
    if allow_estimate and target.profile and target.backend != "analytic":
        warnings.warn(f"target {target.name}: {reason}; using the analytic {target.profile} "
                      f"estimate instead (a LUT built on the device is preferred)",
                      EstimateWarning, stacklevel=2)
        estimate = target.with_overrides(backend="analytic")
        return backend_class("analytic")(estimate)
    raise BackendUnavailable(f"target {target.name}: {reason}")


__all__ = ["Backend", "EstimateWarning", "availability", "backend_class", "open_backend",
           "unavailable_reason"]
