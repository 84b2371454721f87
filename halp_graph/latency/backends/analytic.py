"""Analytic backend: a roofline ESTIMATE of a layer's latency from a device profile.

A conv (or Gemm/MatMul) runs as an implicit GEMM of M = batch*output positions rows,
N = output channels and K = input channels * kernel size, tiled into CTAs of
tile_m x tile_n on the tensor cores (channels padded to the precision's alignment) or,
for depthwise convs and precisions without tensor cores, on the CUDA cores. Compute time
is the number of *waves* of CTAs the SMs need times the time one CTA takes over its
K loop; memory time is the bytes moved (input, output, weights, join operands) over the
bandwidth. The estimate is the launch overhead plus the larger of the two. Tiles and
waves are what give GPU latency its steps, so the estimate has them too.

Nothing runs; `fingerprint()` says `"estimate": true` and every LUT built from it is
flagged as an estimate.
"""

from __future__ import annotations

import dataclasses
import math

from ...errors import TargetError
from ...graph import analyze
from ...graph.capture_onnx import LoadedModel
from ...version import __version__
from ..device_profiles import ALIGN, BYTES, PROFILE_VERSION, TILE_K, DeviceProfile, get_profile
from ..subgraph import LayerSpec, assign_tails, layer_specs
from ..timing import MODEL, Timing, TimingConfig
from .base import Backend


class AnalyticBackend(Backend):
    name = "analytic"
    estimate = True
    precisions = ("fp32", "tf32", "fp16", "bf16", "int8")

    @classmethod
    def unavailable_reason(cls, target) -> str | None:
        if not target.profile:
            return "the analytic backend needs a device profile (a device target such as xavier)"
        profile = get_profile(target.profile)
        if not profile.supports(target.precision):
            return f"the {profile.label} profile has no {target.precision} rate"
        return None

    def __init__(self, target):
        super().__init__(target)
        reason = self.unavailable_reason(target)
        if reason:
            raise TargetError(f"target {target.name}: {reason}")
        self.profile: DeviceProfile = get_profile(target.profile)

    def fingerprint(self) -> dict:
        return {"backend": self.name,
                "versions": {"halp_graph": __version__, "profiles": PROFILE_VERSION},
                "provider": None, "device": f"{self.profile.label} (analytic estimate)",
                "threads": None, "precision": self.target.precision}

    def sampling(self, config):
        return dataclasses.replace(config, probe_points=max(config.probe_points, 160),
                                   initial_levels=9, max_levels=48, refine_tol=0.01)

    def time_layer(self, spec: LayerSpec, ci: int, co: int, config: TimingConfig | None = None) -> Timing:
        ms = self.estimate_ms(spec, ci, co)
        return Timing(ms, ms, 0, 0.0)

    def estimate_ms(self, spec: LayerSpec, ci: int, co: int) -> float:
        p, precision = self.profile, self.target.precision
        elem = BYTES[precision]
        out_shape = spec.output.at(co)
        in_shape = spec.input.at(ci)
        positions = math.prod(d for i, d in enumerate(out_shape) if i != spec.output.channel_axis)
        kernel = math.prod(spec.weight_shape[2:]) if spec.op_type in ("Conv", "ConvTranspose") else 1
        groups = ci if spec.depthwise else spec.groups
        if spec.op_type == "ConvTranspose":  # each input position scatters into k*k outputs
            positions = math.prod(d for i, d in enumerate(in_shape) if i != spec.input.channel_axis)
        tensor_rate = p.rate(precision, tensor=True)
        if spec.depthwise or tensor_rate is None:
            compute = self._cuda_core_seconds(positions, ci, co, kernel, groups, precision)
        else:
            compute = self._tensor_core_seconds(positions, ci, co, kernel, groups, precision, tensor_rate)
        moved = math.prod(in_shape) + math.prod(out_shape) + math.prod(spec.weight_shape_at(ci, co))
        moved += sum(math.prod(e.at(co)) for e in spec.externals)
        memory = moved * elem / (p.bandwidth_gbs * 1e9 * p.memory_efficiency)
        return (p.launch_us * 1e-6 + max(compute, memory)) * 1e3

    def _tensor_core_seconds(self, m: int, ci: int, co: int, kernel: int, groups: int,
                             precision: str, rate: float) -> float:
        p = self.profile
        align, tile_k = ALIGN[precision], TILE_K[precision]
        n = _pad(co // groups, align)
        k = _pad(ci // groups, align) * kernel
        ctas = math.ceil(m / p.tile_m) * math.ceil(n / p.tile_n) * groups
        slots = p.sms * p.ctas_per_sm
        waves = math.ceil(ctas / slots)
        per_cta_flops = 2 * p.tile_m * p.tile_n * _pad(k, tile_k)
        per_slot_rate = rate * p.compute_efficiency / slots
        return waves * per_cta_flops / per_slot_rate

    def _cuda_core_seconds(self, m: int, ci: int, co: int, kernel: int, groups: int,
                           precision: str) -> float:
        p = self.profile
        rate = p.rate(precision, tensor=False) or p.rate("fp32", tensor=False)
        flops = 2 * m * co * (ci // groups) * kernel
        # CUDA-core kernels tile output channels by 32 (a warp) per block.
        flops *= _pad(co, 32) / max(co, 1)
        return flops / (rate * p.compute_efficiency)

    def time_model(self, model: LoadedModel, config: TimingConfig = MODEL) -> Timing:
        """Sum of every layer's estimate plus, for every other op, a launch and the
        memory traffic of its output."""
        groups = analyze(model)
        specs = layer_specs(groups, batch=self.target.batch)
        total = sum(self.estimate_ms(s, s.full_in, s.full_out) for s in specs.values())
        layers = {layer.name: layer for layer in groups.layers}
        tails = {n.name for nodes in assign_tails(groups.graph, layers).values() for n in nodes}
        elem = BYTES[self.target.precision]
        p = self.profile
        for node in groups.graph.nodes:
            if node.name in specs or node.name in tails:
                continue
            size = 0
            for out in node.outputs:
                shape = groups.graph.shape(out) or ()
                if shape and all(isinstance(d, int) for d in shape):
                    size += math.prod(shape)
            total += (p.launch_us * 1e-6 + 2 * size * elem / (p.bandwidth_gbs * 1e9 * p.memory_efficiency)) * 1e3
        return Timing(total, total, 0, 0.0)


def _pad(count: int, multiple: int) -> int:
    return max(multiple, int(math.ceil(count / multiple)) * multiple)
