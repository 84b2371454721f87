"""`prune` with data: fidelity every round and at the end, loss-aware saliency and
reconstruction by default, `--min-agreement` honoured, and bad data refused with one line
and nothing written. On the bundled trained Fashion-MNIST network and its shipped
calibration images, priced with the analytic target (no timing, so the test is quick)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

import halp_graph  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "..", "models", "fmnist_resnet.onnx")
CALIB = os.path.join(HERE, "..", "..", "models", "fmnist_calib.npz")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "halp_graph", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def small_calib(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "calib.npz"
    with np.load(CALIB) as data:
        np.savez(path, input=data["input"][:192], labels=data["labels"][:192])
    return str(path)


def test_prune_measures_fidelity_and_reconstruction_recovers_it(tmp_path, small_calib):
    out, report_path = tmp_path / "slim.onnx", tmp_path / "report.json"
    run = cli("prune", MODEL, "--target", "xavier", "--budget", "0.5", "--calib", small_calib,
              "-o", out, "--report", report_path)
    assert run.returncode == 0, run.stderr
    assert "fidelity, final" in run.stderr and "top-1 agreement" in run.stderr
    report = json.loads(report_path.read_text())
    assert report["saliency"]["method"] == "loss-aware"
    assert report["data"]["eval_samples"] == 48 and report["data"]["labels"]
    assert all(r["fidelity"] is not None for r in report["rounds"] if r["status"] != "infeasible")
    before, after = report["fidelity"]["before_reconstruction"], report["fidelity"]["final"]
    assert after["kl"] < before["kl"]
    assert after["accuracy"]["samples"] == 48
    layers = report["reconstruction"]["layers"]
    assert layers and all(r["error_after"] <= r["error_before"] for r in layers)


def test_without_data_the_summary_says_accuracy_was_not_measured(tmp_path):
    run = cli("prune", MODEL, "--target", "xavier", "--budget", "0.7", "-o", tmp_path / "slim.onnx")
    assert run.returncode == 0, run.stderr
    assert "not measured" in run.stderr and "can destroy its accuracy" in run.stderr


def test_min_agreement_alone_finds_a_faster_plan_that_keeps_it(small_calib):
    result = halp_graph.prune(MODEL, "xavier", None, calib=small_calib, min_agreement=0.9)
    report = result.report
    assert report["min_agreement"]["met"]
    assert report["fidelity"]["final"]["agreement"] >= 0.9
    assert report["latency"]["achieved"] < 1.0 and report["search"]["probes"]
    kept = [p for p in report["search"]["probes"] if p["agreement"] is not None and p["agreement"] >= 0.9]
    assert min(p["predicted_ms"] for p in kept) == pytest.approx(report["latency"]["predicted_ms"])


def test_min_agreement_missed_with_a_budget_is_exit_1_and_writes_nothing(tmp_path, small_calib):
    out = tmp_path / "slim.onnx"
    run = cli("prune", MODEL, "--target", "xavier", "--budget", "0.5", "--calib", small_calib,
              "--min-agreement", "0.995", "-o", out)
    assert run.returncode == 1, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: top-1 agreement") and "fastest budget" in last and "nothing written" in last
    assert not out.exists()


@pytest.mark.parametrize("make,message", [
    (lambda p: np.savez(p, x=np.zeros((4, 1, 28, 28), np.float32)), "no array for model input 'input'"),
    (lambda p: np.savez(p, input=np.zeros((4, 3, 32, 32), np.float32)), "has shape [4, 3, 32, 32]"),
    (lambda p: np.savez(p, input=np.zeros((8, 1, 28, 28), np.float32), labels=np.zeros(7, np.int64)),
     "'labels' has 7 entries for 8 samples"),
    (lambda p: np.savez(p, input=np.zeros((0, 1, 28, 28), np.float32)), "has no samples"),
])
def test_bad_data_is_one_line_exit_8_and_nothing_written(tmp_path, make, message):
    bad = tmp_path / "bad.npz"
    make(bad)
    out = tmp_path / "slim.onnx"
    for flag in ("--calib", "--eval"):
        run = cli("prune", MODEL, "--target", "xavier", "--budget", "0.5", flag, bad, "-o", out)
        assert run.returncode == 8, run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], run.stderr
        assert not out.exists()


def test_an_empty_eval_directory_is_refused(tmp_path):
    empty = tmp_path / "images"
    empty.mkdir()
    run = cli("prune", MODEL, "--target", "xavier", "--budget", "0.5", "--eval", empty, "-o", tmp_path / "o.onnx")
    assert run.returncode == 8 and "no images" in run.stderr
