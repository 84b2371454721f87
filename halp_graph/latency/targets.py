"""Named targets: which backend measures, at what precision, batch and thread count.

A target names a device the way a user thinks of it (`cpu`, `cuda`, `xavier`) and picks
the backend that measures it, the precision, the batch size and, for devices that are not
at hand, the analytic profile that estimates it. Every field can be overridden
(`Target.with_overrides`, or --threads/--batch/--precision/--provider/--backend on the
command line).

Measured beats estimated: a device target (xavier, t4, ...) measures with its backend
when that backend runs here on the right device, and otherwise falls back to its analytic
profile with a warning that says why. A LUT built on the device itself is preferred over
both whenever it covers the model (see `halp_graph.latency.lut`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import TargetError

BACKENDS = ("onnxruntime", "torch", "tensorrt", "analytic")
PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "int8")
CLOCKS = ("auto", "wall", "thread")


@dataclass(frozen=True)
class Target:
    name: str
    backend: str
    precision: str = "fp32"
    batch: int = 1
    threads: int = 1
    provider: str = "CPUExecutionProvider"  # onnxruntime only
    device: str = "cpu"  # torch: "cpu" or "cuda"
    profile: str | None = None  # analytic profile used when the backend cannot measure here
    clock: str = "auto"  # "auto", "wall" or "thread" (see timing.py)
    description: str = ""

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise TargetError(f"target {self.name}: unknown backend {self.backend!r} "
                              f"(choose from {', '.join(BACKENDS)})")
        if self.precision not in PRECISIONS:
            raise TargetError(f"target {self.name}: unknown precision {self.precision!r} "
                              f"(choose from {', '.join(PRECISIONS)})")
        if not isinstance(self.batch, int) or self.batch < 1:
            raise TargetError(f"target {self.name}: batch must be a positive integer, not {self.batch!r}")
        if not isinstance(self.threads, int) or self.threads < 1:
            raise TargetError(f"target {self.name}: threads must be a positive integer, not {self.threads!r}")
        if self.clock not in CLOCKS:
            raise TargetError(f"target {self.name}: clock must be one of {', '.join(CLOCKS)}")
        if self.clock == "thread" and (self.threads > 1 or self.device != "cpu"):
            raise TargetError(f"target {self.name}: the thread clock only measures single-threaded "
                              f"CPU runs (threads 1, device cpu)")

    @property
    def timing_clock(self) -> str:
        """The clock measurements use: "auto" picks the calling thread's CPU time for a
        single-threaded CPU run and wall-clock time for everything else."""
        if self.clock != "auto":
            return self.clock
        return "thread" if self.threads == 1 and self.device == "cpu" else "wall"

    def with_overrides(self, **overrides) -> "Target":
        """A copy with the given fields replaced (None values are ignored)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TargetError(f"unknown target setting(s): {', '.join(sorted(unknown))}")
        if changes.get("backend") == "analytic" and not (changes.get("profile") or self.profile):
            raise TargetError(f"target {self.name} has no analytic profile; pick a device "
                              f"target ({', '.join(sorted(PROFILE_TARGETS))})")
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        return {"name": self.name, "backend": self.backend, "precision": self.precision,
                "batch": self.batch, "threads": self.threads, "provider": self.provider,
                "device": self.device, "profile": self.profile, "clock": self.timing_clock}

    def summary(self) -> str:
        where = {"onnxruntime": f"onnxruntime {self.provider}, {self.threads} thread(s)",
                 "torch": f"torch on {self.device}", "tensorrt": "TensorRT",
                 "analytic": f"analytic estimate ({self.profile})"}[self.backend]
        return f"{self.name}: {where}, {self.precision}, batch {self.batch}"


def _device(name: str, backend: str, precision: str, batch: int, description: str,
            device: str = "cuda") -> Target:
    return Target(name, backend, precision, batch, device=device, profile=name,
                  description=description)


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("cpu", "onnxruntime", description="ONNX Runtime CPU, 1 intra-op thread (this machine)"),
    Target("ort-cuda", "onnxruntime", provider="CUDAExecutionProvider", device="cuda",
           description="ONNX Runtime CUDA execution provider"),
    Target("torch-cpu", "torch", description="PyTorch eager on the CPU, 1 thread"),
    Target("cuda", "torch", batch=256, device="cuda",
           description="PyTorch/cuDNN on the local GPU, CUDA-event timing (HALP's setting)"),
    Target("tensorrt", "tensorrt", precision="fp16", device="cuda",
           description="TensorRT engine on the local GPU"),
    _device("xavier", "tensorrt", "fp16", 1, "Jetson AGX Xavier, TensorRT FP16"),
    _device("orin", "tensorrt", "fp16", 1, "Jetson AGX Orin, TensorRT FP16"),
    _device("tx2", "tensorrt", "fp16", 1, "Jetson TX2, TensorRT FP16"),
    _device("titanv", "torch", "fp32", 256, "TITAN V, PyTorch/cuDNN FP32 (HALP's GPU table)"),
    _device("t4", "tensorrt", "fp16", 1, "Tesla T4, TensorRT FP16"),
    _device("a100", "torch", "fp16", 256, "A100, PyTorch/cuDNN FP16"),
    _device("h100", "torch", "fp16", 256, "H100, PyTorch/cuDNN FP16"),
]}
PROFILE_TARGETS = {name for name, t in TARGETS.items() if t.profile}


def get_target(name: str, **overrides) -> Target:
    """The named target with overrides applied; TargetError for unknown names."""
    target = TARGETS.get(name)
    if target is None:
        raise TargetError(f"unknown target {name!r} (known: {', '.join(TARGETS)})")
    return target.with_overrides(**overrides)
