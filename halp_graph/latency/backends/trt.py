"""TensorRT backend: builds an engine from each ONNX subgraph and times it on the GPU.

Written against the TensorRT 10 Python API (explicit batch networks, named I/O tensors,
`execute_async_v3`): the ONNX parser reads the subgraph, the builder config sets FP16 or
INT8 (INT8 with per-tensor dynamic ranges, which is enough to time the INT8 kernels;
accuracy is not the point here), the engine is built and deserialised, and runs are timed
with CUDA events on a dedicated stream after warm-up. Device buffers come from torch.

TensorRT cannot be installed on the machines this project is developed on, so this
backend is UNVERIFIED: it is imported lazily, `unavailable_reason` says what is missing,
and its tests skip with that reason. Engine builds take seconds each; the staircase
sampler keeps the number of timed pairs small.
"""

from __future__ import annotations

from ...errors import BackendUnavailable
from ...graph.capture_onnx import LoadedModel
from ...onnx_io import materialize
from ...runtime import random_inputs
from ..device_profiles import get_profile
from ..subgraph import LayerSpec
from ..timing import DEFAULT, MODEL, Timing, TimingConfig, clocked, measure
from .base import Backend, missing_module

INT8_RANGE = 4.0  # |activation| bound assumed for INT8 timing (random inputs are ~N(0, 1))
WORKSPACE_BYTES = 1 << 30


class TensorRTBackend(Backend):
    name = "tensorrt"
    precisions = ("fp32", "tf32", "fp16", "int8")

    @classmethod
    def unavailable_reason(cls, target) -> str | None:
        reason = missing_module("tensorrt", extra="tensorrt")
        if reason:
            return reason
        reason = missing_module("torch", extra="torch")
        if reason:
            return f"the TensorRT backend allocates device buffers with torch: {reason}"
        import torch  # lazy: torch is optional (missing_module said it imports)
        if not torch.cuda.is_available():
            return "TensorRT is installed but torch sees no CUDA device"
        if target.precision not in cls.precisions:
            return f"the TensorRT backend has no {target.precision} mode"
        if target.profile:
            name = torch.cuda.get_device_name(0)
            profile = get_profile(target.profile)
            if not profile.matches(name):
                return f"the GPU here is {name}, not a {profile.label}"
        return None

    def __init__(self, target):
        super().__init__(target)
        # lazy: tensorrt and torch are optional
        import tensorrt as trt
        import torch
        self.trt, self.torch = trt, torch
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.stream = torch.cuda.Stream()

    def fingerprint(self) -> dict:
        torch = self.torch
        return {"backend": self.name,
                "versions": {"tensorrt": self.trt.__version__, "cuda": torch.version.cuda},
                "provider": "cuda", "device": torch.cuda.get_device_name(0), "threads": None,
                "precision": self.target.precision}

    # -------------------------------------------------------------- engines
    def build_engine(self, onnx_bytes: bytes):
        trt = self.trt
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)  # TensorRT 10: networks are explicit-batch
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(onnx_bytes):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendUnavailable(f"TensorRT cannot parse the subgraph: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        precision = self.target.precision
        if precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)
        if precision == "fp32":
            config.clear_flag(trt.BuilderFlag.TF32)
        if precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
            self._set_dynamic_ranges(network)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BackendUnavailable("TensorRT failed to build an engine for the subgraph")
        return self.runtime.deserialize_cuda_engine(serialized)

    def _set_dynamic_ranges(self, network) -> None:
        for i in range(network.num_inputs):
            network.get_input(i).set_dynamic_range(-INT8_RANGE, INT8_RANGE)
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            for j in range(layer.num_outputs):
                out = layer.get_output(j)
                if out.dtype in (self.trt.float32, self.trt.float16):
                    out.set_dynamic_range(-INT8_RANGE, INT8_RANGE)

    def _bind(self, engine, feeds: dict):
        """An execution context with every I/O tensor bound to a device buffer."""
        trt, torch = self.trt, self.torch
        context = engine.create_execution_context()
        buffers = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(engine.get_tensor_shape(name))
            dtype = {trt.float32: torch.float32, trt.float16: torch.float16,
                     trt.int8: torch.int8, trt.int32: torch.int32}[engine.get_tensor_dtype(name)]
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                buf = torch.from_numpy(feeds[name]).to("cuda", dtype)
                context.set_input_shape(name, shape)
            else:
                buf = torch.empty(shape, dtype=dtype, device="cuda")
            buffers.append(buf)
            context.set_tensor_address(name, buf.data_ptr())
        return context, buffers

    def _run_once(self, engine, feeds: dict):
        torch = self.torch
        context, buffers = self._bind(engine, feeds)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        handle = self.stream.cuda_stream

        def run():
            start.record(self.stream)
            context.execute_async_v3(handle)
            end.record(self.stream)
            end.synchronize()
            return start.elapsed_time(end)

        run.keep = (context, buffers, engine)
        return run

    # ---------------------------------------------------------------- timing
    def time_layer(self, spec: LayerSpec, ci: int, co: int,
                   config: TimingConfig = DEFAULT) -> Timing:
        engine = self.build_engine(spec.to_onnx(ci, co).SerializeToString())
        return measure(self._run_once(engine, spec.feeds(ci, co)), self.timing(config))

    def time_model(self, model: LoadedModel, config: TimingConfig = MODEL) -> Timing:
        return measure(self.runner(model), self.timing(config))

    def runner(self, model: LoadedModel):
        proto = materialize(model)
        engine = self.build_engine(proto.SerializeToString())
        return clocked(self._run_once(engine, random_inputs(model, batch=self.target.batch)), "wall")
