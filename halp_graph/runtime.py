"""ONNX Runtime sessions for models held in memory, the one place the library opens them
for inference (calibration, fidelity, checks; latency timing has its own backends), the
random feeds those checks and timings run on, and the thread count of torch work."""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np
import onnxruntime as ort
from onnx import helper

from .graph import as_loaded
from .onnx_io import save_model


def session(model, threads: int = 1, providers: list[str] | None = None):
    """An ONNX Runtime session for a model held in memory (external data included)."""
    loaded = as_loaded(model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    providers = providers or ["CPUExecutionProvider"]
    if not loaded.has_external_data and loaded.proto.ByteSize() < 2**31 - 1:
        return ort.InferenceSession(loaded.proto.SerializeToString(), opts, providers=providers)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(loaded, os.path.join(tmp, "model.onnx"), external=True)
        return ort.InferenceSession(path, opts, providers=providers)


def random_inputs(model, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """Random feeds for every graph input; symbolic (or -1) dimensions become `batch`."""
    loaded = as_loaded(model)
    rng = np.random.default_rng(seed)
    inits = {t.name for t in loaded.proto.graph.initializer}
    feeds = {}
    for vi in loaded.proto.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else batch for d in tt.shape.dim]
        feeds[vi.name] = random_array(rng, shape, helper.tensor_dtype_to_np_dtype(tt.elem_type))
    return feeds


def random_array(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    """Standard normal floats, random booleans, or small integers (0..9) of `dtype`."""
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    return rng.integers(0, 10, shape).astype(dtype)


@contextlib.contextmanager
def torch_threads(threads: int = 1):
    """Run torch work (the twin's calibration passes) on `threads` intra-op threads, as ONNX
    Runtime runs here by default; on a busy machine torch's default of one thread per core
    spins against the other processes and runs small ops tens of times slower."""
    import torch  # lazy: torch is optional; only the callers that need torch get here

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
