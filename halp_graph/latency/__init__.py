"""Latency lookup tables: what channels cost on a target device.

    from halp_graph.latency import build_lut, get_target, load_lut, measure_model

    target = get_target("cpu", threads=1)                # named target, with overrides
    lut = build_lut("model.onnx", target, progress=True) # time the layers, staircase-aware
    lut.save("model.lut.json")
    lut = load_lut("model.lut.json", target=target)      # warns if built for another target
    cost = lut.cost_model(groups)                        # a halp_graph.cost_model.CostModel
    measure_model("slim.onnx", target)                   # Timing(median_ms, min_ms, ...)

`cost_model_for(groups, target, lut_paths)` picks a measured LUT that covers the model
and falls back to the analytic estimate for device targets (see targets.py). The
whole-model calibration of a LUT's cost components times pruned copies of the model, so
it needs the rewrite: `halp_graph.pruning.lut_calibration.build_calibrated_lut` builds a
calibrated table (what `lut build` and `prune` do).
"""

from .build import build_lut
from .cost import LutCostModel
from .lut import LUT_SCHEMA, LatencyLUT, LutTargetWarning
from .whole_model import measure_interleaved, measure_model
from .resolve import cost_model_for, load_lut
from .sampler import QUICK_SAMPLING, SamplingConfig
from .targets import TARGETS, Target, get_target
from .timing import Timing, TimingConfig

__all__ = ["LUT_SCHEMA", "LatencyLUT", "LutCostModel", "LutTargetWarning", "QUICK_SAMPLING",
           "SamplingConfig", "TARGETS", "Target", "Timing", "TimingConfig", "build_lut",
           "cost_model_for", "get_target", "load_lut", "measure_interleaved", "measure_model"]
