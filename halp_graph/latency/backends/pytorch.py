"""PyTorch backend: times subgraphs and models with torch ops, on the CPU or a CUDA GPU.

On a GPU this is how HALP measured its table: cuDNN with autotuning on
(`cudnn.benchmark`), warm-up runs, then CUDA events around each run, so the time is the
device's and not Python's. On the CPU the intra-op thread count is set explicitly and
single-threaded runs use the thread clock (timing.py). Graphs reach it as ONNX and run
through `torch_runner.TorchGraph`. The CUDA path cannot be exercised on a machine without
a GPU; it is written to the documented torch.cuda API and unverified here.
"""

from __future__ import annotations

from ...graph.capture_onnx import LoadedModel
from ...onnx_io import materialize
from ...runtime import random_inputs
from ..device_profiles import get_profile
from ..subgraph import LayerSpec
from ..timing import DEFAULT, MODEL, Timing, TimingConfig, clocked, measure
from ..torch_runner import TorchGraph
from .base import Backend, cpu_model, missing_module


class TorchBackend(Backend):
    name = "torch"
    precisions = ("fp32", "tf32", "fp16", "bf16")

    @classmethod
    def unavailable_reason(cls, target) -> str | None:
        reason = missing_module("torch", extra="torch")
        if reason:
            return reason
        import torch  # lazy: torch is optional (missing_module said it imports)
        if target.precision not in cls.precisions:
            return f"the torch backend has no {target.precision} path (use tensorrt for int8)"
        if target.device.startswith("cuda"):
            if not torch.cuda.is_available():
                return (f"torch {torch.__version__} sees no CUDA device"
                        + (" (this is a CPU-only build)" if torch.version.cuda is None else ""))
            if target.profile:
                name = torch.cuda.get_device_name(0)
                profile = get_profile(target.profile)
                if not profile.matches(name):
                    return f"the GPU here is {name}, not a {profile.label}"
        elif target.precision == "fp16":
            return "fp16 on the CPU is not a deployment path; use fp32 or bf16"
        return None

    def __init__(self, target):
        super().__init__(target)
        import torch  # lazy: torch is optional
        self.torch = torch
        self.cuda = target.device.startswith("cuda")
        if self.cuda:
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = target.precision == "tf32"
            torch.backends.cudnn.allow_tf32 = target.precision == "tf32"
        else:
            torch.set_num_threads(target.threads)

    def fingerprint(self) -> dict:
        torch = self.torch
        versions = {"torch": torch.__version__}
        if self.cuda:
            versions["cuda"] = torch.version.cuda
            versions["cudnn"] = torch.backends.cudnn.version()
            device = torch.cuda.get_device_name(0)
        else:
            device = cpu_model()
        return {"backend": self.name, "versions": versions, "provider": self.target.device,
                "device": device, "threads": None if self.cuda else self.target.threads,
                "precision": self.target.precision}

    def _graph(self, model_proto, arrays):
        graph = TorchGraph(model_proto, self.target.device, self.target.precision)
        return graph, graph.feeds(arrays)

    def _run_once(self, graph, feeds):
        torch = self.torch
        if not self.cuda:
            def run():
                with torch.inference_mode():
                    graph(feeds)
            return run
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def run_cuda():
            with torch.inference_mode():
                start.record()
                graph(feeds)
                end.record()
            end.synchronize()
            return start.elapsed_time(end)  # milliseconds on the device
        return run_cuda

    def time_layer(self, spec: LayerSpec, ci: int, co: int,
                   config: TimingConfig = DEFAULT) -> Timing:
        graph, feeds = self._graph(spec.to_onnx(ci, co), spec.feeds(ci, co))
        return measure(self._run_once(graph, feeds), self.timing(config))

    def time_model(self, model: LoadedModel, config: TimingConfig = MODEL) -> Timing:
        return measure(self.runner(model), self.timing(config))

    def runner(self, model: LoadedModel):
        graph, feeds = self._graph(materialize(model), random_inputs(model, batch=self.target.batch))
        return clocked(self._run_once(graph, feeds), self.target.timing_clock)

    def close(self) -> None:
        if self.cuda:
            self.torch.cuda.empty_cache()
