"""A deterministic stand-in for a device, for testing the LUT logic without timing noise.

Latency follows a known ORT-like law: input counts that are multiples of 4 run a tiled
kernel whose cost steps every 16 input and 16 output channels; other input counts run a
slower kernel that grows linearly with the input count and steps every 6 outputs. Every
call is recorded, so tests can check what was timed and how often.
"""

from __future__ import annotations

import math

from halp_graph.latency.backends.base import Backend
from halp_graph.latency.timing import Timing


def law(ci: int, co: int, scale: float = 1.0) -> float:
    if ci % 4 == 0:
        ms = 0.01 + 0.002 * math.ceil(ci / 16) * math.ceil(co / 16) + 0.0064 * math.ceil(ci / 16) \
            + 0.0003 * math.ceil(co / 16)
    else:
        ms = 0.02 + 0.00013 * ci * math.ceil(co / 6) + 0.0004 * ci
    return ms * scale


class FakeBackend(Backend):
    """Times layers by `law`. Whole models cost `dense_ms`, or, given `in_context`, what a
    device would charge inside the model: `in_context` times the sum of its layers' law
    plus `fixed_ms` (a layer costs more in context than alone, by a known factor), and
    then models can also be run one by one (`runner`), as calibration needs."""

    name = "fake"

    def __init__(self, target=None, dense_ms: float = 1.0, in_context: float | None = None,
                 fixed_ms: float = 0.5):
        super().__init__(target)
        self.calls: list[tuple[str, int, int]] = []
        self.dense_ms = dense_ms
        self.in_context = in_context
        self.fixed_ms = fixed_ms
        self.models_run = 0

    def fingerprint(self) -> dict:
        return {"backend": "fake", "versions": {"fake": "1"}, "provider": None,
                "device": "deterministic law", "threads": 1, "precision": "fp32"}

    @staticmethod
    def layer_ms(spec, ci, co) -> float:
        scale = math.prod(d for i, d in enumerate(spec.output.shape) if i not in (0, spec.output.channel_axis)) / 64
        return law(ci, co, max(scale, 0.01))

    def time_layer(self, spec, ci, co, config=None) -> Timing:
        self.calls.append((spec.signature_key(), ci, co))
        ms = self.layer_ms(spec, ci, co)
        return Timing(ms, ms * 0.98, 10, 0.0)

    def model_ms(self, model) -> float:
        from halp_graph.graph import analyze
        from halp_graph.latency.subgraph import layer_specs
        specs = layer_specs(analyze(model), batch=1).values()
        return self.fixed_ms + self.in_context * sum(self.layer_ms(s, s.full_in, s.full_out) for s in specs)

    def time_model(self, model, config=None) -> Timing:
        ms = self.dense_ms if self.in_context is None else self.model_ms(model)
        return Timing(ms, ms * 0.98, 10, 0.0)

    def runner(self, model):
        if self.in_context is None:
            return super().runner(model)
        ms = self.model_ms(model)
        self.models_run += 1
        return lambda: ms
