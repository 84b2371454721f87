"""ONNX Runtime backend: times subgraphs and models in an InferenceSession.

Any execution provider ORT offers here can be chosen (CPU by default). Intra-op threads
are always set explicitly (default 1: one thread gives repeatable CPU numbers and is what
the tables promise). Inputs and outputs are bound once with I/O binding, so a run times
the graph and not Python's allocation of result arrays. Graph optimisations stay at ORT's
default (all), so the layer runs fused exactly as it does inside the full model.

On the CPU provider a layer's time is what its own kernels take, read from the profiler
with many channel pairs of the layer side by side in one session (ort_packed.py): it
leaves out what the layer does not pay inside the model, the layout conversions at the
edges of the cut and the fixed cost of a session run, so that a layer removed from the
model saves exactly that and a plan's savings add up. Other providers time each pair on
the clock. Whole models are timed on the clock: single-threaded CPU runs on the calling
thread's CPU clock (timing.py), which a busy machine does not inflate.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from ...graph.capture_onnx import LoadedModel
from ...onnx_io import save_model
from ...runtime import random_inputs
from ..subgraph import LayerSpec
from ..timing import DEFAULT, MODEL, Timing, TimingConfig, clocked, measure
from .base import Backend, cpu_model
from .ort_packed import PackConfig, time_packed
from .ort_profile import ProfilerShare, context_from_profile, profile_nodes


class OrtBackend(Backend):
    name = "onnxruntime"
    precisions = ("fp32",)

    @classmethod
    def unavailable_reason(cls, target) -> str | None:
        if target.provider not in ort.get_available_providers():
            return (f"ONNX Runtime {ort.__version__} here has no {target.provider} "
                    f"(available: {', '.join(ort.get_available_providers())})")
        return None

    def __init__(self, target):
        super().__init__(target)
        self._ort = ort
        self._overhead: float | None = None
        self._share: ProfilerShare | None = None
        self.pack = PackConfig()

    def fingerprint(self) -> dict:
        device = cpu_model()
        if self.target.provider != "CPUExecutionProvider":
            device = f"{self.target.provider} on {device}"
        return {"backend": self.name, "versions": {"onnxruntime": self._ort.__version__},
                "provider": self.target.provider, "device": device,
                "threads": self.target.threads, "precision": self.target.precision}

    @property
    def on_cpu(self) -> bool:
        return self.target.provider == "CPUExecutionProvider"

    def session(self, model_bytes_or_path, profile_prefix: str | None = None,
                optimized_path: str | None = None, initializers: dict | None = None):
        """A session of the model; `initializers` gives by name the data of initializers
        the model only names (kept alive by the caller while the session runs)."""
        opts = self._ort.SessionOptions()
        if initializers:
            opts.add_external_initializers(
                list(initializers), [self._ort.OrtValue.ortvalue_from_numpy(v) for v in initializers.values()])
        if profile_prefix:
            opts.enable_profiling = True
            opts.profile_file_prefix = profile_prefix
        if optimized_path:
            opts.optimized_model_filepath = optimized_path
        opts.intra_op_num_threads = self.target.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = self._ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        return self._ort.InferenceSession(model_bytes_or_path, opts,
                                          providers=[self.target.provider])

    def time_layer(self, spec: LayerSpec, ci: int, co: int,
                   config: TimingConfig = DEFAULT) -> Timing:
        if self.on_cpu:
            return self.time_layers(spec, [(ci, co)], config)[(ci, co)]
        run = self._bound_run(self.session(spec.to_onnx(ci, co).SerializeToString()), spec.feeds(ci, co))
        return measure(run, self.timing(config))

    def time_layers(self, spec: LayerSpec, pairs: list[tuple[int, int]],
                    config: TimingConfig = DEFAULT) -> dict[tuple[int, int], Timing]:
        """On the CPU provider, the pairs side by side in profiled sessions (ort_packed.py);
        `config` is for the other providers, which time each pair on the clock."""
        if not self.on_cpu:
            return super().time_layers(spec, pairs, config)
        return time_packed(self.session, self._bound_run, spec, pairs, self.profiler_share(), self.pack)

    def profiler_share(self) -> ProfilerShare:
        """How this backend tells what the profiler adds to a kernel (ort_profile.py); the
        typical share is the median over five sessions of a chain of 16 small element-wise
        kernels, measured once."""
        if self._share is None:
            n, shape = 16, [1, 16384]
            nodes = [helper.make_node("Neg", [f"t{i}" if i else "x"], [f"t{i + 1}" if i < n - 1 else "y"])
                     for i in range(n)]
            graph = helper.make_graph(nodes, "chain",
                                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
            opsets = [helper.make_opsetid("", 13)]
            model = helper.make_model(graph, opset_imports=opsets,
                                      ir_version=helper.find_min_ir_version_for(opsets)).SerializeToString()
            own = ProfilerShare(self.target.timing_clock, self.run_overhead_ms())
            feeds = {"x": np.ones(shape, np.float32)}
            typical = np.median([profile_nodes(self.session, self._bound_run, model, feeds, own,
                                               runs=30, skip=10)[1] for _ in range(5)])
            self._share = ProfilerShare(own.clock, own.overhead_ms, float(typical))
        return self._share

    def run_overhead_ms(self) -> float:
        """The cost of a session run that computes nothing (an Identity on one float)."""
        if self._overhead is None:
            graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "empty",
                                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
            opsets = [helper.make_opsetid("", 13)]
            model = helper.make_model(graph, opset_imports=opsets,
                                      ir_version=helper.find_min_ir_version_for(opsets))
            run = self._bound_run(self.session(model.SerializeToString()),
                                  {"x": np.zeros(1, np.float32)})
            self._overhead = measure(run, self.timing(DEFAULT)).median_ms
        return self._overhead

    def time_model(self, model: LoadedModel, config: TimingConfig = MODEL) -> Timing:
        sess, feeds = self._model_session(model)
        return measure(self._bound_run(sess, feeds), self.timing(config))

    def context_costs(self, model: LoadedModel) -> dict:
        """The dense model's kernels in context (ort_profile.context_from_profile): the
        layout conversions ORT inserts between blocked and plain kernels, and what the
        ops outside any layer cost (pooling, unfused element-wise ops), which the layer
        tables do not see. Empty off the CPU provider and for models over 2 GB."""
        if not self.on_cpu or model.has_external_data or model.proto.ByteSize() >= 2**31 - 1:
            return {}
        feeds = random_inputs(model, batch=self.target.batch, seed=0)
        with tempfile.TemporaryDirectory(prefix="halp_ort_context_") as tmp:
            optimized = os.path.join(tmp, "optimized.onnx")

            def factory(m, profile_prefix=None):
                return self.session(m, profile_prefix, optimized_path=optimized)

            nodes, inflation = profile_nodes(factory, self._bound_run, model.proto.SerializeToString(),
                                             feeds, self.profiler_share(), runs=20, skip=5)
            graph = onnx.load(optimized, load_external_data=False).graph
        return context_from_profile(nodes, graph, model.proto.graph, inflation)

    def runner(self, model: LoadedModel):
        sess, feeds = self._model_session(model)
        return clocked(self._bound_run(sess, feeds), self.target.timing_clock)

    def _model_session(self, model: LoadedModel):
        feeds = random_inputs(model, batch=self.target.batch, seed=0)
        if model.has_external_data or model.proto.ByteSize() >= 2**31 - 1:
            with tempfile.TemporaryDirectory() as tmp:
                path = save_model(model, os.path.join(tmp, "model.onnx"), external=True)
                return self.session(path), feeds
        return self.session(model.proto.SerializeToString()), feeds

    def _bound_run(self, sess, feeds: dict[str, np.ndarray]):
        """A no-argument callable running `sess` on `feeds` through an I/O binding whose
        outputs are allocated once, on the first run."""
        ort = self._ort
        device = "cuda" if "CUDA" in self.target.provider else "cpu"
        binding = sess.io_binding()
        keep = []  # OrtValues must outlive the binding
        for name, value in feeds.items():
            ort_value = ort.OrtValue.ortvalue_from_numpy(value, device, 0)
            keep.append(ort_value)
            binding.bind_ortvalue_input(name, ort_value)
        for out in sess.get_outputs():
            binding.bind_output(out.name, device)
        sess.run_with_iobinding(binding)
        for out, value in zip(sess.get_outputs(), binding.get_outputs()):
            binding.bind_ortvalue_output(out.name, value)

        def run_once():
            sess.run_with_iobinding(binding)
            if device != "cpu":
                binding.synchronize_outputs()
            return None

        run_once.keep = (keep, binding, sess)
        return run_once
