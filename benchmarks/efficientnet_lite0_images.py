"""Natural images bundled with scikit-image and scikit-learn, as EfficientNet-lite0 inputs.

Evaluation: astronaut, chelsea (a cat), coffee, rocket, a motorcycle, the cameraman, and
scikit-learn's china and flower photos. Each is resized so its short side is `scale`,
then cut into 5 crops of 224x224 (centre and corners), each also flipped: 10 views per
image per scale. Calibration (activation saliency) uses other images: the right view of
the motorcycle pair, grass, gravel, brick, the moon, coins, the Hubble deep field and
a retina, the same 5 crops and flips at one scale. Grey images are repeated over RGB. Nothing downloads.
"""

from __future__ import annotations

import numpy as np
import torch

from efficientnet_lite0_model import IMAGE_SIZE, normalize

EVALUATION = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "camera", "china", "flower")
CALIBRATION = ("motorcycle_right", "grass", "gravel", "brick", "moon", "coins", "hubble_deep_field", "retina")


def load(name: str) -> np.ndarray:
    """An RGB float image in [0, 1]."""
    from skimage import data, img_as_float

    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image
        img = load_sample_image(f"{name}.jpg")
    elif name.startswith("motorcycle_"):
        left, right, _ = data.stereo_motorcycle()
        img = left if name.endswith("left") else right
    else:
        img = getattr(data, name)()
    img = img_as_float(img)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return img[..., :3]


def _resize_short(img: np.ndarray, short: int) -> np.ndarray:
    from skimage.transform import resize

    h, w = img.shape[:2]
    s = short / min(h, w)
    return resize(img, (max(short, round(h * s)), max(short, round(w * s))), anti_aliasing=True)


def _crops(img: np.ndarray, corners: bool) -> list[np.ndarray]:
    h, w = img.shape[:2]
    c = IMAGE_SIZE
    spots = [((h - c) // 2, (w - c) // 2)]
    if corners:
        spots += [(0, 0), (0, w - c), (h - c, 0), (h - c, w - c)]
    return [img[t:t + c, l:l + c] for t, l in spots]


def views(names, scales, corners: bool) -> torch.Tensor:
    out = []
    for name in names:
        img = load(name)
        for scale in scales:
            for crop in _crops(_resize_short(img, scale), corners):
                out += [crop, crop[:, ::-1]]
    arr = np.stack(out).transpose(0, 3, 1, 2).astype(np.float32)
    return normalize(torch.from_numpy(np.ascontiguousarray(arr)))


def evaluation_views(scales=(256, 320)) -> torch.Tensor:
    return views(EVALUATION, scales, corners=True)


def calibration_views() -> torch.Tensor:
    return views(CALIBRATION, (256,), corners=True)
