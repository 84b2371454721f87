"""The interface every latency backend implements, and the host facts they report.

A backend times two things on its device: one candidate subgraph (a `LayerSpec` rebuilt
at a channel pair) and a whole model. It also says whether it can run here at all:
`unavailable_reason(target)` imports nothing heavy until asked and returns a sentence
(the package is missing, the device is absent) instead of raising, the way Polygraphy
treats its optional backends. `fingerprint()` is what a LUT records about where it was
measured, so that a table built elsewhere can be recognised.
"""

from __future__ import annotations

import abc
import functools
import importlib
import os
import platform

from ...graph.capture_onnx import LoadedModel
from ..subgraph import LayerSpec
from ..timing import DEFAULT, MODEL, Timing, TimingConfig


class Backend(abc.ABC):
    name: str = ""
    estimate: bool = False  # True for backends that compute latency instead of timing it
    precisions: tuple[str, ...] = ("fp32",)

    def __init__(self, target):
        self.target = target

    @classmethod
    def unavailable_reason(cls, target) -> str | None:
        """None when this backend can run `target` here, else why not (one sentence)."""
        return None

    @abc.abstractmethod
    def fingerprint(self) -> dict:
        """Backend, versions, device, threads, precision: where the numbers come from."""

    @abc.abstractmethod
    def time_layer(self, spec: LayerSpec, ci: int, co: int,
                   config: TimingConfig = DEFAULT) -> Timing:
        """Latency of `spec` rebuilt at ci -> co channels."""

    def time_layers(self, spec: LayerSpec, pairs: list[tuple[int, int]],
                    config: TimingConfig = DEFAULT) -> dict[tuple[int, int], Timing]:
        """Latencies of `spec` at several channel pairs, which a backend may time
        together (ONNX Runtime on the CPU does); the default times them one by one."""
        return {pair: self.time_layer(spec, *pair, config) for pair in dict.fromkeys(pairs)}

    @abc.abstractmethod
    def time_model(self, model: LoadedModel, config: TimingConfig = MODEL) -> Timing:
        """Latency of a whole model at the target's batch."""

    def sampling(self, config):
        """The sampling config to build with: backends whose timings cost nothing (the
        analytic estimate) sample densely instead."""
        return config

    def context_costs(self, model: LoadedModel) -> dict:
        """What `model` spends in context outside its layers' own kernels, where the
        backend can tell: {"conversions": {tensor: ms}, "nodes": {node: ms}} (see
        ort_profile.context_from_profile); the default knows nothing."""
        return {}

    def runner(self, model: LoadedModel):
        """A callable that runs `model` once and returns its latency in ms (for
        interleaved comparisons); backends that cannot run models one by one raise."""
        raise NotImplementedError(f"the {self.name} backend cannot run models one at a time")

    def timing(self, config: TimingConfig) -> TimingConfig:
        """`config` with the target's clock (thread CPU time for single-threaded CPU runs)."""
        return config.with_clock(self.target.timing_clock)

    def close(self) -> None:
        """Release device resources (engines, sessions); the default holds none."""


def missing_module(name: str, extra: str | None = None) -> str | None:
    """Why `name` cannot be imported here, or None when it can."""
    try:
        importlib.import_module(name)
    except ImportError as exc:
        hint = f" (pip install 'halp-graph[{extra}]')" if extra else ""
        return f"python package {name!r} is not installed{hint}: {exc}"
    except Exception as exc:  # a package that is present but broken (no driver, bad build)
        return f"python package {name!r} fails to import: {type(exc).__name__}: {exc}"
    return None


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name and core count (what a CPU latency depends on)."""
    name = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    flags = _cpu_flags()
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else platform.machine()
    return f"{name} ({os.cpu_count()} cores, {isa})"


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()
