"""Does a pruned text detector still find text? PP-OCRv4's detector, with and without data.

PP-OCRv4's text detector (paddle2onnx, fetched by third_party.py) is pruned to a budget
(`halp_graph.prune`, ONNX Runtime CPU, 1 thread, at 1x3x640x640) twice: without data
(magnitude saliency, as third_party_coverage.py --prune does) and with calibration images
(`--calib`: loss-aware saliency, reconstruction). The calibration set is scikit-image's
photos, text-bearing ones among them (page, text, logo), each whole and in two random
crops, 24 in all (prune holds a quarter out). The detector's own preprocessing is used:
RGB in [0, 1], then (x - 0.5) / 0.5.

Fidelity is judged on images neither run saw: six pages of text rendered with Pillow's
default font (random words, sizes, positions and colours) and four more scikit-image
photos. Per image: the share of pixels the dense model marks as text (probability > 0.3,
PaddleOCR's threshold) and the IoU of the pruned model's text pixels with the dense
model's (1.0 where neither marks any).

    python benchmarks/ocr_detector_fidelity.py [--budget 0.6]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import halp_graph  # noqa: E402
from halp_graph.runtime import session  # noqa: E402
import third_party  # noqa: E402

SIZE = 640
CALIB_PHOTOS = ["page", "text", "logo", "coffee", "astronaut", "rocket", "chelsea", "camera"]
HELD_OUT_PHOTOS = ["brick", "clock", "coins", "immunohistochemistry"]
WORDS = "pruning channels latency knapsack saliency onnx runtime graph rewrite model detector text".split()


def preprocess(image: np.ndarray) -> np.ndarray:
    """[3, SIZE, SIZE] float32 as PaddleOCR feeds its detector."""
    from skimage.transform import resize
    image = np.asarray(image, dtype=np.float32)
    if image.max() > 1.0:
        image = image / 255.0
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    x = resize(image[..., :3], (SIZE, SIZE), anti_aliasing=True).astype(np.float32)
    return ((x - 0.5) / 0.5).transpose(2, 0, 1)


def calibration_set(path: str) -> None:
    import skimage.data as photos
    rng = np.random.default_rng(0)
    samples = []
    for name in CALIB_PHOTOS:
        image = getattr(photos, name)()
        h, w = image.shape[:2]
        samples.append(preprocess(image))
        for _ in range(2):
            y, x = rng.integers(0, h // 4 + 1), rng.integers(0, w // 4 + 1)
            samples.append(preprocess(image[y:y + 3 * h // 4, x:x + 3 * w // 4]))
    np.savez(path, x=np.stack(samples))


def held_out_images() -> dict[str, np.ndarray]:
    from PIL import Image, ImageDraw, ImageFont
    import skimage.data as photos
    rng = np.random.default_rng(5)
    out = {}
    for k in range(6):
        page = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in rng.integers(180, 256, 3)))
        draw = ImageDraw.Draw(page)
        font = ImageFont.load_default(size=int(rng.integers(18, 40)))
        for _ in range(int(rng.integers(4, 10))):
            draw.text((int(rng.integers(5, 200)), int(rng.integers(5, 600))), " ".join(rng.choice(WORDS, 3)),
                      fill=tuple(int(v) for v in rng.integers(0, 90, 3)), font=font)
        out[f"rendered text {k}"] = preprocess(np.asarray(page))
    for name in HELD_OUT_PHOTOS:
        out[name] = preprocess(getattr(photos, name)())
    return out


def text_maps(model, images: dict) -> dict[str, np.ndarray]:
    """Per image, the pixels `model` (a path or LoadedModel) marks as text."""
    sess = session(model)  # ONNX Runtime, 1 thread
    return {name: sess.run(None, {"x": x[None]})[0] > 0.3 for name, x in images.items()}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=0.6)
    args = p.parse_args()
    dense = third_party.fetch("ppocrv4_det")
    shapes = [f"x:1,3,{SIZE},{SIZE}"]
    images = held_out_images()
    with tempfile.TemporaryDirectory() as tmp:
        calib = os.path.join(tmp, "calib.npz")
        calibration_set(calib)
        runs = {}
        for label, data in (("without data", None), ("with 24 images", calib)):
            result = halp_graph.prune(dense, "cpu", args.budget, input_shapes=shapes, calib=data,
                                      log=lambda line: print(f"  [{label}] {line}", flush=True))
            latency = result.report["latency"]
            runs[label] = (latency["pruned_ms"] / latency["dense_ms"], text_maps(result.model, images))
    reference = text_maps(dense, images)
    labels = list(runs)
    print("\n| image | dense: text share | " + " | ".join(f"{lab} ({runs[lab][0]:.3f}x): IoU" for lab in labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for name, mask in reference.items():
        print(f"| {name} | {mask.mean():.4f} | " + " | ".join(f"{iou(mask, runs[lab][1][name]):.3f}"
                                                         for lab in labels) + " |")
    for lab in labels:
        text = [iou(reference[n], runs[lab][1][n]) for n in reference if n.startswith("rendered")]
        print(f"{lab}: rendered text IoU median {np.median(text):.3f}, worst {min(text):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
