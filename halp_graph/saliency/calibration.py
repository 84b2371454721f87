"""Calibration data for activation saliency: batches of feeds for a model's inputs.

Sources:
  * an .npz file with one array per graph input, keyed by input name, each shaped
    [samples, ...the input's other dimensions]; all inputs carry the same number of
    samples. Fixed dimensions must match the model; a fixed batch dimension (exports with
    batch 1) makes the samples run in batches of that size.
  * a directory of images (.jpg .jpeg .png .bmp .ppm .webp), for a model with one input
    shaped [N, 3, H, W]: each image is converted to RGB, resized so its shorter side is
    H * 256 / 224 (bilinear), center-cropped to H x W, scaled to [0, 1] and normalised
    with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225). This is
    torchvision's evaluation preprocessing; H and W default to 224 when symbolic.
  * a dict {input name: array} in Python, checked like an .npz.
Anything that does not fit is refused with one line naming the input and the mismatch.
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
from onnx import helper

from ..errors import BackendUnavailable, TargetError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DEFAULT_BATCH = 8


def model_inputs(proto) -> dict[str, tuple[list, np.dtype]]:
    """{input name: (dims, numpy dtype)}, dims holding ints or None (symbolic)."""
    inits = {t.name for t in proto.graph.initializer}
    out = {}
    for vi in proto.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        out[vi.name] = (dims, helper.tensor_dtype_to_np_dtype(tt.elem_type))
    return out


def calibration_batches(source, proto, batch_size: int = DEFAULT_BATCH,
                        limit: int | None = None) -> list[dict[str, np.ndarray]]:
    """Feeds ready for ONNX Runtime, in batches the model accepts."""
    inputs = model_inputs(proto)
    if isinstance(source, Mapping):
        arrays = dict(source)
        origin = "calibration data"
    else:
        path = os.fspath(source)
        if os.path.isdir(path):
            arrays, origin = _images(path, inputs, limit), path
        elif os.path.isfile(path):
            arrays, origin = _npz(path), path
        else:
            raise TargetError(f"{path}: no such calibration file or directory")
    arrays = _checked(arrays, inputs, origin)
    samples = len(next(iter(arrays.values())))
    if limit is not None:
        samples = min(samples, limit)
    fixed = {dims[0] for dims, _ in inputs.values() if dims and dims[0] is not None}
    if len(fixed) > 1:
        raise TargetError(f"{origin}: the model's inputs have different fixed batch sizes {sorted(fixed)}")
    step = next(iter(fixed)) if fixed else batch_size
    if fixed and samples % step:
        raise TargetError(f"{origin}: {samples} samples do not fill batches of {step}, the "
                          f"model's fixed batch size")
    return [{name: arr[i:min(i + step, samples)] for name, arr in arrays.items()}
            for i in range(0, samples, step)]


def _npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as exc:
        raise TargetError(f"{path}: not a readable .npz calibration file ({exc})") from None


def _checked(arrays: dict, inputs: dict, origin: str) -> dict[str, np.ndarray]:
    missing = [n for n in inputs if n not in arrays]
    if missing:
        raise TargetError(f"{origin}: no array for model input {missing[0]!r} "
                          f"(the model's inputs are {', '.join(inputs)})")
    extra = [n for n in arrays if n not in inputs]
    if extra:
        raise TargetError(f"{origin}: array {extra[0]!r} is not a model input "
                          f"(the model's inputs are {', '.join(inputs)})")
    out, samples = {}, None
    for name, (dims, dtype) in inputs.items():
        arr = np.asarray(arrays[name])
        if arr.ndim != len(dims):
            raise TargetError(f"{origin}: input {name!r} has shape {list(arr.shape)}, the model "
                              f"expects {_show(dims)}")
        for axis, (got, want) in enumerate(zip(arr.shape[1:], dims[1:]), start=1):
            if want is not None and got != want:
                raise TargetError(f"{origin}: input {name!r} has shape {list(arr.shape)}, the "
                                  f"model expects {_show(dims)} (dimension {axis} differs)")
        if samples is not None and len(arr) != samples:
            raise TargetError(f"{origin}: inputs carry different sample counts "
                              f"({samples} and {len(arr)} for {name!r})")
        samples = len(arr)
        if samples == 0:
            raise TargetError(f"{origin}: input {name!r} has no samples")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise TargetError(f"{origin}: input {name!r} is not numeric ({arr.dtype})")
        out[name] = arr.astype(dtype, copy=False)
    return out


def _show(dims: list) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in dims) + "]"


def _images(path: str, inputs: dict, limit: int | None) -> dict[str, np.ndarray]:
    if len(inputs) != 1:
        raise TargetError(f"{path}: a directory of images needs a model with one input, this "
                          f"one has {len(inputs)} ({', '.join(inputs)})")
    name, (dims, _) = next(iter(inputs.items()))
    if len(dims) != 4 or dims[1] not in (3, None):
        raise TargetError(f"{path}: images need an input shaped [N, 3, H, W]; {name!r} is {_show(dims)}")
    height, width = dims[2] or 224, dims[3] or 224
    files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise TargetError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) in the directory")
    files = files[:limit] if limit else files
    return {name: np.stack([load_image(os.path.join(path, f), height, width) for f in files])}


def load_image(path: str, height: int, width: int) -> np.ndarray:
    """One image, preprocessed as the module docstring states: float32 [3, height, width]."""
    try:
        from PIL import Image
    except ImportError:
        raise BackendUnavailable("reading calibration images needs Pillow "
                                 "(pip install pillow, or pass an .npz)") from None
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            scale = height * 256 / 224 / min(img.size)
            resized = img.resize((max(width, round(img.size[0] * scale)),
                                  max(height, round(img.size[1] * scale))), Image.BILINEAR)
    except OSError as exc:
        raise TargetError(f"{path}: cannot be read as an image ({exc})") from None
    left = (resized.size[0] - width) // 2
    top = (resized.size[1] - height) // 2
    crop = np.asarray(resized.crop((left, top, left + width, top + height)), dtype=np.float32) / 255.0
    return ((crop - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).astype(np.float32)
