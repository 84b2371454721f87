"""Data for a model: labels from an .npz key or from class folders, held-out splits, and
labels that do not fit refused with one line."""

from __future__ import annotations

import numpy as np
import pytest

from halp_graph.errors import DataError
from halp_graph.models.builder import GraphBuilder
from halp_graph.samples import read_samples


def _image_model(size=16):
    b = GraphBuilder("image_net", 17, "N")
    x = b.relu(b.conv(b.input("input", 3, (size, size)), 4, hint="stem"))
    b.output(b.gemm(b.flatten(b.gap(x)), 3))
    return b.build()


def test_class_folders_are_labelled_in_sorted_order(tmp_path):
    from PIL import Image
    for cls, count in (("b_dog", 2), ("a_cat", 3)):
        (tmp_path / cls).mkdir()
        for i in range(count):
            Image.fromarray(np.full((20, 24, 3), 40 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    samples = read_samples(str(tmp_path), _image_model())
    assert samples.arrays["input"].shape == (5, 3, 16, 16)
    assert samples.labels.tolist() == [0, 0, 0, 1, 1]


def test_npz_labels_and_a_held_out_split(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, input=np.zeros((12, 3, 16, 16), np.float32), labels=np.arange(12) % 3)
    samples = read_samples(str(path), _image_model())
    kept, held = samples.split(0.25)
    assert len(kept) == 9 and len(held) == 3
    assert sorted(kept.labels.tolist() + held.labels.tolist()) == sorted(samples.labels.tolist())
    with pytest.raises(DataError, match="too few to hold out"):
        samples.subset([0]).split(0.25)


@pytest.mark.parametrize("labels,message", [
    (np.zeros(5, np.int64), "'labels' has 5 entries for 4 samples"),
    (np.zeros(4, np.float32), "must be one integer class per sample"),
    (-np.ones(4, np.int64), "negative class"),
])
def test_bad_labels_are_refused(tmp_path, labels, message):
    path = tmp_path / "data.npz"
    np.savez(path, input=np.zeros((4, 3, 16, 16), np.float32), labels=labels)
    with pytest.raises(DataError, match=message):
        read_samples(str(path), _image_model())
