"""Data for a model: input samples (and optional labels) from a file, a directory or arrays.

Calibration (saliency, reconstruction) and evaluation (fidelity) read their data here.

Sources:
  * an .npz file with one array per graph input, keyed by input name, each shaped
    [samples, ...the input's other dimensions]; all inputs carry the same number of
    samples. Fixed dimensions must match the model; a fixed batch dimension (exports with
    batch 1) makes the samples run in batches of that size. An array under the labels
    key (default "labels") holds one integer class per sample.
  * a directory of images (.jpg .jpeg .png .bmp .ppm .webp), for a model with one input
    shaped [N, 3, H, W]: each image is converted to RGB, resized so its shorter side is
    H * 256 / 224 (bilinear), center-cropped to H x W, scaled to [0, 1] and normalised
    with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225). This is
    torchvision's evaluation preprocessing; H and W default to 224 when symbolic. A
    directory of class folders (root/CLASS/image.jpg) is labelled: classes are numbered
    in sorted folder-name order, as torchvision's ImageFolder numbers them.
  * a dict {input name: array} in Python, checked like an .npz (labels under the key).
Anything that does not fit is refused with one line naming the input and the mismatch
(DataError, the CLI's exit 8).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from onnx import helper

from .errors import BackendUnavailable, DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
DEFAULT_BATCH = 8
LABELS_KEY = "labels"


@dataclass
class Samples:
    """Input arrays keyed by model input, all with the same number of samples, and the
    samples' class labels when the source had them."""

    arrays: dict[str, np.ndarray]
    labels: np.ndarray | None
    origin: str
    fixed_batch: int | None = None  # the model's fixed batch size, if it has one

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def subset(self, index) -> "Samples":
        index = np.asarray(index, dtype=np.int64)
        return Samples({k: v[index] for k, v in self.arrays.items()},
                       None if self.labels is None else self.labels[index], self.origin, self.fixed_batch)

    def split(self, holdout: float, seed: int = 0) -> tuple["Samples", "Samples"]:
        """(kept, held out): a seeded random `holdout` fraction of the samples held out,
        rounded to whole batches of a fixed-batch model; refuses a split leaving either
        side empty."""
        n = len(self)
        step = self.fixed_batch or 1
        held = int(round(n * holdout / step)) * step
        if not 0 < held < n:
            raise DataError(f"{self.origin}: {n} samples are too few to hold out {holdout:.0%} "
                            f"for evaluation; give more data or a separate --eval set")
        order = np.random.default_rng(seed).permutation(n)
        return self.subset(np.sort(order[held:])), self.subset(np.sort(order[:held]))

    def batches(self, batch_size: int = DEFAULT_BATCH) -> list[dict[str, np.ndarray]]:
        """Feeds ready for ONNX Runtime, in batches the model accepts."""
        step = self.fixed_batch or batch_size
        n = len(self)
        return [{name: arr[i:min(i + step, n)] for name, arr in self.arrays.items()}
                for i in range(0, n, step)]

    def label_batches(self, batch_size: int = DEFAULT_BATCH) -> list[np.ndarray] | None:
        if self.labels is None:
            return None
        step = self.fixed_batch or batch_size
        return [self.labels[i:i + step] for i in range(0, len(self), step)]


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


def read_samples(source, proto, limit: int | None = None, labels_key: str = LABELS_KEY,
                 what: str = "calibration data") -> Samples:
    """The samples of `source` (see the module docstring), checked against the model."""
    if isinstance(source, Samples):
        return source if limit is None else source.subset(np.arange(min(limit, len(source))))
    inputs = model_inputs(proto)
    labels = None
    if isinstance(source, Mapping):
        arrays, origin = dict(source), what
    else:
        path = os.fspath(source)
        if os.path.isdir(path):
            arrays, labels, origin = (*_images(path, inputs, limit), path)
        elif os.path.isfile(path):
            arrays, origin = _npz(path, what), path
        else:
            raise DataError(f"{path}: no such {what} file or directory")
    if labels_key in arrays and labels_key not in inputs:
        labels = np.asarray(arrays.pop(labels_key))
    arrays = _checked(arrays, inputs, origin)
    samples = len(next(iter(arrays.values())))
    if labels is not None:
        labels = _checked_labels(labels, samples, origin, labels_key)
    if limit is not None and limit < samples:
        arrays = {k: v[:limit] for k, v in arrays.items()}
        labels = None if labels is None else labels[:limit]
        samples = limit
    fixed = {dims[0] for dims, _ in inputs.values() if dims and dims[0] is not None}
    if len(fixed) > 1:
        raise DataError(f"{origin}: the model's inputs have different fixed batch sizes {sorted(fixed)}")
    step = next(iter(fixed)) if fixed else None
    if step and samples % step:
        raise DataError(f"{origin}: {samples} samples do not fill batches of {step}, the "
                        f"model's fixed batch size")
    return Samples(arrays, labels, origin, step)


def calibration_batches(source, proto, batch_size: int = DEFAULT_BATCH,
                        limit: int | None = None) -> list[dict[str, np.ndarray]]:
    """Feeds ready for ONNX Runtime, in batches the model accepts (labels dropped)."""
    return read_samples(source, proto, limit).batches(batch_size)


def _npz(path: str, what: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz {what} file ({exc})") from None


def _checked(arrays: dict, inputs: dict, origin: str) -> dict[str, np.ndarray]:
    missing = [n for n in inputs if n not in arrays]
    if missing:
        raise DataError(f"{origin}: no array for model input {missing[0]!r} "
                        f"(the model's inputs are {', '.join(inputs)})")
    extra = [n for n in arrays if n not in inputs]
    if extra:
        raise DataError(f"{origin}: array {extra[0]!r} is not a model input "
                        f"(the model's inputs are {', '.join(inputs)})")
    out, samples = {}, None
    for name, (dims, dtype) in inputs.items():
        arr = np.asarray(arrays[name])
        if arr.ndim != len(dims):
            raise DataError(f"{origin}: input {name!r} has shape {list(arr.shape)}, the model "
                            f"expects {_show(dims)}")
        for axis, (got, want) in enumerate(zip(arr.shape[1:], dims[1:]), start=1):
            if want is not None and got != want:
                raise DataError(f"{origin}: input {name!r} has shape {list(arr.shape)}, the "
                                f"model expects {_show(dims)} (dimension {axis} differs)")
        if samples is not None and len(arr) != samples:
            raise DataError(f"{origin}: inputs carry different sample counts "
                            f"({samples} and {len(arr)} for {name!r})")
        samples = len(arr)
        if samples == 0:
            raise DataError(f"{origin}: input {name!r} has no samples")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise DataError(f"{origin}: input {name!r} is not numeric ({arr.dtype})")
        out[name] = arr.astype(dtype, copy=False)
    return out


def _checked_labels(labels: np.ndarray, samples: int, origin: str, key: str) -> np.ndarray:
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{origin}: {key!r} must be one integer class per sample, got "
                        f"{labels.dtype} shaped {list(labels.shape)}")
    if len(labels) != samples:
        raise DataError(f"{origin}: {key!r} has {len(labels)} entries for {samples} samples")
    if len(labels) and labels.min() < 0:
        raise DataError(f"{origin}: {key!r} holds a negative class ({int(labels.min())})")
    return labels.astype(np.int64)


def _show(dims: list) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in dims) + "]"


def _images(path: str, inputs: dict, limit: int | None) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    if len(inputs) != 1:
        raise DataError(f"{path}: a directory of images needs a model with one input, this "
                        f"one has {len(inputs)} ({', '.join(inputs)})")
    name, (dims, _) = next(iter(inputs.items()))
    files, labels = _image_files(path)
    if len(dims) != 4 or dims[1] not in (3, None):
        raise DataError(f"{path}: images need an input shaped [N, 3, H, W]; {name!r} is {_show(dims)}")
    height, width = dims[2] or 224, dims[3] or 224
    if limit:
        files, labels = files[:limit], (labels[:limit] if labels is not None else None)
    return {name: np.stack([load_image(f, height, width) for f in files])}, labels


def _image_files(path: str) -> tuple[list[str], np.ndarray | None]:
    """The images of a flat directory (unlabelled), or of its class folders (labelled)."""
    def images(folder: str) -> list[str]:
        return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                      if f.lower().endswith(IMAGE_EXTENSIONS))

    flat = images(path)
    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    if flat or not classes:
        if not flat:
            raise DataError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) in the directory")
        return flat, None
    files, labels = [], []
    for index, cls in enumerate(classes):
        found = images(os.path.join(path, cls))
        files += found
        labels += [index] * len(found)
    if not files:
        raise DataError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) in its class folders")
    return files, np.asarray(labels, dtype=np.int64)


def load_image(path: str, height: int, width: int) -> np.ndarray:
    """One image, preprocessed as the module docstring states: float32 [3, height, width]."""
    try:
        from PIL import Image  # lazy: Pillow is optional (only image directories need it)
    except ImportError:
        raise BackendUnavailable("reading images needs Pillow (pip install pillow, or pass an .npz)") from None
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            scale = height * 256 / 224 / min(img.size)
            resized = img.resize((max(width, round(img.size[0] * scale)),
                                  max(height, round(img.size[1] * scale))), Image.BILINEAR)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read as an image ({exc})") from None
    left = (resized.size[0] - width) // 2
    top = (resized.size[1] - height) // 2
    crop = np.asarray(resized.crop((left, top, left + width, top + height)), dtype=np.float32) / 255.0
    return ((crop - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).astype(np.float32)
