"""ONNX Runtime sessions for models held in memory, the one place the library opens them
for inference (calibration, fidelity, checks); latency timing has its own backends."""

from __future__ import annotations

import contextlib
import os
import tempfile

from .graph import as_loaded
from .onnx_io import save_model


def session(model, threads: int = 1, providers: list[str] | None = None):
    """An ONNX Runtime session for a model held in memory (external data included)."""
    import onnxruntime as ort

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


@contextlib.contextmanager
def torch_threads(threads: int = 1):
    """Run torch work (the twin's calibration passes) on `threads` intra-op threads, as ONNX
    Runtime runs here by default; on a busy machine torch's default of one thread per core
    spins against the other processes and runs small ops tens of times slower."""
    import torch  # optional dependency: only the callers that need torch get here

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
