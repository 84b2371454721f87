"""Activation saliency: a dead channel scores exactly 0, scores come from what the
consuming layers read, and calibration data of the wrong form is one clear error."""

from __future__ import annotations

import os

import numpy as np
import pytest

from halp_graph.errors import DataError, TargetError
from halp_graph.graph import analyze
from halp_graph.models import edge_cases as ec
from halp_graph.models.builder import GraphBuilder
from halp_graph.saliency import activation_scores, calibration_batches, score
from halp_graph.testing import random_inputs
from test_magnitude import edit_initializers


def _calib(model, batch=6, seed=0):
    return random_inputs(model, batch=batch, seed=seed)


def test_a_dead_relu_channel_scores_zero():
    model = ec.residual_add()
    groups = analyze(model)
    inner = next(g for g in groups.prunable() if not g.cut)
    bias = next(m for m in inner.members if m.is_param and m.slot == 2)
    dead = edit_initializers(model, lambda n, a: _set(a, 2, -1e4) if n == bias.tensor else None)
    scores = activation_scores(analyze(dead), dead, _calib(dead))[inner.id]
    assert scores[2] == 0.0
    assert np.all(np.delete(scores, 2) > 0)
    # magnitude cannot see it: the weights are untouched
    assert score(analyze(dead), dead, method="magnitude")[inner.id][2] > 0


def _set(arr, index, value):
    arr[index] = value
    return arr


@pytest.mark.parametrize("name", ["depthwise", "grouped_conv", "flatten_gemm", "squeeze_excite",
                                  "concat_branches", "split_paths", "transformer_mlp"])
def test_every_prunable_group_gets_finite_nonnegative_scores(name):
    model = ec.EDGE_CASES[name]()
    groups = analyze(model)
    scores = score(groups, model, method="activation", calib=_calib(model))
    assert set(scores) == {g.id for g in groups.prunable()}
    for g in groups.prunable():
        assert scores[g.id].shape == (g.size,)
        assert np.all(np.isfinite(scores[g.id])) and np.all(scores[g.id] >= 0)


def test_scores_do_not_depend_on_batching():
    model = ec.concat_branches()
    groups = analyze(model)
    calib = _calib(model, batch=7)
    one = activation_scores(groups, model, calib, batch_size=7)
    many = activation_scores(groups, model, calib, batch_size=2)
    for gid in one:
        assert np.allclose(one[gid], many[gid])


def test_npz_calibration_and_its_errors(tmp_path):
    model = ec.residual_add()
    groups = analyze(model)
    good = tmp_path / "calib.npz"
    np.savez(good, x=_calib(model)["x"])
    assert score(groups, model, method="activation", calib=str(good))
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 3, 7, 8), np.float32))
    with pytest.raises(DataError, match=r"input 'x' has shape \[4, 3, 7, 8\], the model expects \[N, 3, 8, 8\]"):
        score(groups, model, method="activation", calib=str(bad))
    wrong_name = tmp_path / "name.npz"
    np.savez(wrong_name, y=_calib(model)["x"])
    with pytest.raises(DataError, match="no array for model input 'x'"):
        score(groups, model, method="activation", calib=str(wrong_name))
    with pytest.raises(DataError, match="no such calibration"):
        score(groups, model, method="activation", calib=str(tmp_path / "missing.npz"))
    with pytest.raises(DataError, match="needs calibration data"):
        score(groups, model, method="activation")


def test_fixed_batch_models_run_in_batches_of_their_size():
    model = ec.residual_add(batch=1)
    batches = calibration_batches({"x": np.zeros((5, 3, 8, 8), np.float32)}, model)
    assert [len(b["x"]) for b in batches] == [1] * 5
    groups = analyze(model)
    assert score(groups, model, method="activation", calib={"x": _calib(model, batch=3)["x"]})


def _image_model(size=16):
    b = GraphBuilder("image_net", 17, 1)
    x = b.relu(b.conv(b.input("input", 3, (size, size)), 4, hint="stem"))
    b.output(b.gemm(b.flatten(b.gap(b.relu(b.conv(x, 6, hint="c2")))), 3))
    return b.build()


def test_image_directory(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(40, 30), (20, 50), (16, 16)]):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"im{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    model = _image_model()
    batches = calibration_batches(str(tmp_path), model)
    assert len(batches) == 3 and batches[0]["input"].shape == (1, 3, 16, 16)
    # ImageNet normalisation, channel by channel
    flat = tmp_path / "flat"
    os.mkdir(flat)
    Image.fromarray(np.tile(np.array([10, 128, 250], np.uint8), (20, 30, 1))).save(flat / "f.png")
    pixels = calibration_batches(str(flat), model)[0]["input"][0]
    expected = (np.array([10, 128, 250]) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    assert np.allclose(pixels, expected[:, None, None], atol=1e-5)
    groups = analyze(model)
    assert score(groups, model, method="activation", calib=str(tmp_path))
    empty = tmp_path / "empty"
    os.mkdir(empty)
    with pytest.raises(DataError, match="no images"):
        score(groups, model, method="activation", calib=str(empty))


def test_images_need_a_single_image_input(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    b = GraphBuilder("two_inputs", 17, 1)
    x = b.add(b.input("a", 3), b.input("b", 3))
    b.output(b.gemm(b.flatten(b.gap(b.relu(b.conv(x, 4)))), 2))
    model = b.build()
    with pytest.raises(DataError, match="one input"):
        calibration_batches(str(tmp_path), model)
