"""Export an nn.Module (dense or slimmed) to ONNX with either torch exporter, in memory.

`export_onnx` returns a `LoadedModel` that the rest of halp_graph (capture, rewrite,
ONNX Runtime sessions) takes directly, and writes it to `path` when one is given. The
module is exported in eval mode (BatchNorm folded by the legacy exporter) and its
training flags are restored afterwards.
"""

from __future__ import annotations

import io
import os
import warnings

import onnx
import torch

from halp_graph.graph.capture_onnx import LoadedModel, from_proto
from halp_graph.onnx_io import save_model

EXPORTERS = ("legacy", "dynamo")


def export_onnx(module: torch.nn.Module, example_inputs, path: str | os.PathLike | None = None,
                exporter: str = "legacy", opset: int | None = None,
                dynamic_batch: bool = False, force: bool = False) -> LoadedModel:
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, not {exporter!r}")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    names = [f"input{i}" if i else "input" for i in range(len(example_inputs))]
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            proto = _legacy(module, example_inputs, names, opset or 17, dynamic_batch) \
                if exporter == "legacy" else _dynamo(module, example_inputs, names, opset or 18, dynamic_batch)
    finally:
        for m, mode in modes.items():
            m.training = mode
    model = from_proto(proto)
    if path is not None:
        save_model(model, path, force=force)
    return model


def _legacy(module, args, names, opset, dynamic_batch) -> onnx.ModelProto:
    buf = io.BytesIO()
    kwargs = {}
    if dynamic_batch:
        kwargs["dynamic_axes"] = {**{n: {0: "batch"} for n in names}, "output": {0: "batch"}}
    torch.onnx.export(module, args, buf, dynamo=False, opset_version=opset, input_names=names,
                      output_names=["output"], **kwargs)
    return onnx.load_from_string(buf.getvalue())


def _dynamo(module, args, names, opset, dynamic_batch) -> onnx.ModelProto:
    kwargs = {}
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=4096)
        kwargs["dynamic_shapes"] = tuple({0: batch} for _ in args)
    program = torch.onnx.export(module, args, dynamo=True, opset_version=opset, input_names=names,
                                output_names=["output"], verbose=False, **kwargs)
    return program.model_proto
