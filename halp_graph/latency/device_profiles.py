"""Device profiles for the analytic (roofline) estimate of GPUs that are not at hand.

Numbers are the vendors' published peak rates (dense, no structured sparsity), memory
bandwidths and SM counts; tile sizes and channel alignments are those of the tensor-core
GEMM kernels cuDNN and TensorRT use on these parts; launch overheads are typical. They
describe the hardware, not a measurement: latencies derived from them are ESTIMATES, good
for where the steps fall and how layers compare, not for absolute milliseconds. A LUT
measured on the device always takes precedence (see targets.py, resolve.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import TargetError

PROFILE_VERSION = 1

# Tensor-core tile depth (K per main-loop step) and channel alignment by precision.
TILE_K = {"fp32": 8, "tf32": 16, "fp16": 32, "bf16": 32, "int8": 64}
ALIGN = {"fp32": 1, "tf32": 4, "fp16": 8, "bf16": 8, "int8": 16}
BYTES = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "int8": 1}


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    label: str
    match: tuple[str, ...]  # substrings of the CUDA device name that identify the part
    sms: int
    tensor_tflops: dict[str, float]  # dense tensor-core rates by precision
    cuda_tflops: dict[str, float]  # CUDA-core rates by precision (fp32, fp16, int8 dp4a)
    bandwidth_gbs: float
    launch_us: float
    tile_m: int = 128
    tile_n: int = 128
    ctas_per_sm: int = 1
    compute_efficiency: float = 0.7
    memory_efficiency: float = 0.8
    notes: str = ""
    sources: tuple[str, ...] = field(default_factory=tuple)

    def matches(self, device_name: str) -> bool:
        name = device_name.lower()
        return any(m.lower() in name for m in self.match)

    def supports(self, precision: str) -> bool:
        return precision in self.tensor_tflops or precision in self.cuda_tflops

    def rate(self, precision: str, tensor: bool) -> float | None:
        """Peak FLOP/s (or OP/s) for `precision` on tensor cores or CUDA cores."""
        table = self.tensor_tflops if tensor else self.cuda_tflops
        tflops = table.get(precision)
        if tflops is None and not tensor and precision in ("tf32", "bf16"):
            tflops = self.cuda_tflops.get("fp32")
        return tflops * 1e12 if tflops else None


PROFILES: dict[str, DeviceProfile] = {p.name: p for p in [
    DeviceProfile("xavier", "Jetson AGX Xavier (Volta, 8 SMs)", ("xavier",), 8,
                  {"fp16": 11.3, "int8": 22.6}, {"fp32": 1.41, "fp16": 2.82},
                  136.5, 10.0, tile_n=64,
                  notes="512 CUDA cores, 64 tensor cores at 1.377 GHz; LPDDR4x 256-bit"),
    DeviceProfile("orin", "Jetson AGX Orin 64GB (Ampere, 16 SMs)", ("orin",), 16,
                  {"tf32": 21.3, "fp16": 42.5, "bf16": 42.5, "int8": 85.0},
                  {"fp32": 5.3, "fp16": 10.6}, 204.8, 8.0, tile_n=64,
                  notes="2048 CUDA cores, 64 tensor cores at 1.3 GHz; LPDDR5 256-bit"),
    DeviceProfile("tx2", "Jetson TX2 (Pascal, 2 SMs)", ("tx2", "quill"), 2,
                  {}, {"fp32": 0.67, "fp16": 1.33}, 59.7, 15.0, tile_m=64, tile_n=64,
                  notes="256 CUDA cores at 1.3 GHz, no tensor cores, no fast INT8"),
    DeviceProfile("titanv", "TITAN V (Volta, 80 SMs)", ("titan v",), 80,
                  {"fp16": 119.2}, {"fp32": 14.9, "fp16": 29.8, "int8": 59.6}, 652.8, 5.0,
                  notes="5120 CUDA cores, 640 tensor cores at 1.455 GHz; HBM2 3072-bit"),
    DeviceProfile("t4", "Tesla T4 (Turing, 40 SMs)", ("t4",), 40,
                  {"fp16": 65.0, "int8": 130.0}, {"fp32": 8.1, "fp16": 16.2}, 320.0, 5.0,
                  notes="2560 CUDA cores, 320 tensor cores; GDDR6 256-bit; 70 W"),
    DeviceProfile("a100", "A100 SXM4 40GB (Ampere, 108 SMs)", ("a100",), 108,
                  {"tf32": 156.0, "fp16": 312.0, "bf16": 312.0, "int8": 624.0},
                  {"fp32": 19.5, "fp16": 78.0}, 1555.0, 4.0, tile_n=256,
                  notes="6912 CUDA cores, 432 tensor cores at 1.41 GHz; HBM2 5120-bit"),
    DeviceProfile("h100", "H100 SXM5 80GB (Hopper, 132 SMs)", ("h100",), 132,
                  {"tf32": 494.7, "fp16": 989.4, "bf16": 989.4, "int8": 1978.9},
                  {"fp32": 66.9, "fp16": 133.8}, 3350.0, 3.0, tile_n=256,
                  notes="16896 CUDA cores, 528 tensor cores at 1.83 GHz; HBM3"),
]}


def get_profile(name: str) -> DeviceProfile:
    profile = PROFILES.get(name)
    if profile is None:
        raise TargetError(f"unknown device profile {name!r} (known: {', '.join(PROFILES)})")
    return profile
