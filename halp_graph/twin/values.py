"""Small conversions shared by the op modules: ONNX dtypes to torch, int tensors to lists."""

from __future__ import annotations

import numpy as np
import torch
from onnx import TensorProto, helper

from .errors import OpVariantUnsupported

TORCH_DTYPE = {
    TensorProto.FLOAT: torch.float32, TensorProto.DOUBLE: torch.float64,
    TensorProto.FLOAT16: torch.float16, TensorProto.BFLOAT16: torch.bfloat16,
    TensorProto.INT8: torch.int8, TensorProto.UINT8: torch.uint8, TensorProto.INT16: torch.int16,
    TensorProto.INT32: torch.int32, TensorProto.INT64: torch.int64, TensorProto.BOOL: torch.bool,
}


def torch_dtype(onnx_type: int) -> torch.dtype:
    if onnx_type not in TORCH_DTYPE:
        raise OpVariantUnsupported(f"data type {helper.tensor_dtype_to_string(onnx_type)}")
    return TORCH_DTYPE[onnx_type]


def to_tensor(array) -> torch.Tensor:
    """A torch tensor from a numpy array (copied, so later writes do not alias)."""
    if isinstance(array, torch.Tensor):
        return array
    array = np.asarray(array)
    if array.dtype == np.uint16 or array.dtype == np.uint32 or array.dtype == np.uint64:
        array = array.astype(np.int64)
    return torch.from_numpy(np.array(array, copy=True))


def int_list(t) -> list[int] | None:
    """An int64 shape/axes tensor (or list) as Python ints; None stays None."""
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        return [int(v) for v in t.reshape(-1).tolist()]
    return [int(v) for v in np.asarray(t).reshape(-1)]


def scalar(t):
    """A Python number from a 0-d or 1-element tensor (constants only, never data)."""
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        return t.reshape(-1)[0].item()
    return np.asarray(t).reshape(-1)[0].item()


def axis_of(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis
