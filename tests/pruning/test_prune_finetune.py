"""`prune --finetune` and `--schedule`: label-free distillation on the ONNX path, from the
command line and the Python API, on the bundled trained Fashion-MNIST network with a
slice of its shipped calibration images (analytic target: no timing, so it is quick).
Bad training data or settings get one line, a meaningful exit code and nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
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
def calib(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "calib.npz"
    with np.load(CALIB) as data:
        np.savez(path, input=data["input"][:256], labels=data["labels"][:256])
    return str(path)


def test_cli_finetune_reports_fidelity_before_and_after(tmp_path, calib):
    out, report_path = tmp_path / "slim.onnx", tmp_path / "report.json"
    run = cli("prune", MODEL, "--target", "xavier", "--budget", "0.6", "--calib", calib,
              "--finetune", "3", "--lr", "3e-3", "-o", out, "--report", report_path)
    assert run.returncode == 0, run.stderr
    assert "epochs of distillation" in run.stderr and "fidelity, reconstructed" in run.stderr
    report = json.loads(report_path.read_text())
    tuned = report["finetune"]
    assert tuned["epochs"] == 3 and tuned["samples"] == 192 and tuned["stopped"] == "finished"
    assert tuned["steps"] == 3 * 3 and len(tuned["history"]) == 3
    assert all(h["loss"] > 0 for h in tuned["history"])
    fid = report["fidelity"]
    assert fid["before_finetune"] is not None and fid["final"]["kl"] <= fid["before_finetune"]["kl"]
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)


def test_api_schedule_prunes_progressively_to_the_goal(calib):
    result = halp_graph.prune(MODEL, "xavier", 0.6, calib=calib, finetune=2, schedule=3)
    rep = result.report
    schedule = rep["schedule"]
    records = schedule["records"]
    assert [r["step"] for r in records] == [1, 2, 3]
    kept = [r["kept_channels"] for r in records]
    assert kept == sorted(kept, reverse=True) and kept[0] < sum(g.size for g in result.groups.prunable())
    fractions = [r["target_fraction"] for r in records]
    assert fractions == sorted(fractions, reverse=True)
    assert rep["status"] == "on target" and schedule["training"]["stopped"] == "finished"
    # the written model is the trained dense weights rewritten by the final plan: it keeps
    # exactly the plan's channels and the fidelity the trainer saw on the held-out data
    assert rep["plan"] == result.plan.to_json()
    assert result.plan.kept_counts(result.groups) == {g: v["kept"] for g, v in rep["groups"].items()}
    best = schedule["training"]["held_out_best"]
    assert rep["fidelity"]["final"]["kl"] == pytest.approx(best["kl"], rel=1e-3, abs=1e-5)


def test_schedule_never_regrows_a_channel(calib):
    result = halp_graph.prune(MODEL, "xavier", 0.5, calib=calib, finetune=1, schedule=3)
    records = result.report["schedule"]["records"]
    counts = [r["kept_channels"] for r in records]
    assert all(a >= b for a, b in zip(counts, counts[1:]))


def test_a_time_limit_keeps_the_best_state(calib):
    result = halp_graph.prune(MODEL, "xavier", 0.6, calib=calib, finetune=50, finetune_time=0.5)
    tuned = result.report["finetune"]
    assert tuned["stopped"] == "time limit" and tuned["epochs_run"] < 50
    assert result.report["fidelity"]["final"]["kl"] == pytest.approx(tuned["held_out_best"]["kl"], rel=1e-3,
                                                                      abs=1e-5)


@pytest.mark.parametrize("make,message", [
    (lambda p: np.savez(p, input=np.zeros((4, 3, 32, 32), np.float32)), "has shape [4, 3, 32, 32]"),
    (lambda p: np.savez(p, x=np.zeros((4, 1, 28, 28), np.float32)), "no array for model input 'input'"),
    (lambda p: np.savez(p, input=np.zeros((1, 1, 28, 28), np.float32)), "too few to fine-tune"),
    (lambda p: p.mkdir(), "no images"),
])
def test_bad_finetune_data_is_one_line_exit_8_and_nothing_written(tmp_path, calib, make, message):
    bad = tmp_path / "bad.npz"
    make(bad)
    out, report = tmp_path / "slim.onnx", tmp_path / "r.json"
    run = cli("prune", MODEL, "--target", "xavier", "--budget", "0.6", "--calib", calib, "--finetune", "1",
              "--finetune-data", bad, "-o", out, "--report", report)
    assert run.returncode == 8, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], run.stderr
    assert not out.exists() and not report.exists()


@pytest.mark.parametrize("args,code,message", [
    (["--schedule", "3"], 2, "give the epochs to train"),
    (["--finetune", "-1"], 2, "whole number >= 0"),
    (["--finetune", "1", "--schedule", "0"], 2, "steps >= 1"),
    (["--finetune", "1", "--temperature", "0"], 2, "temperature must be positive"),
])
def test_bad_training_settings_are_refused(tmp_path, calib, args, code, message):
    out = tmp_path / "slim.onnx"
    run = cli("prune", MODEL, "--target", "xavier", "--budget", "0.6", "--calib", calib, *args, "-o", out)
    assert run.returncode == code, run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not out.exists()


def test_schedule_needs_calibration_data(tmp_path):
    run = cli("prune", MODEL, "--target", "xavier", "--budget", "0.6", "--finetune", "1", "--schedule", "2",
              "-o", tmp_path / "o.onnx")
    assert run.returncode == 8 and "--schedule needs calibration data" in run.stderr


def test_without_a_twin_training_is_skipped_with_the_reason(calib, monkeypatch):
    from halp_graph.pruning import finetune as module
    from halp_graph.saliency.loss_aware import LossAwareUnavailable

    def no_twin(*args):
        raise LossAwareUnavailable("no torch twin of the model: op 'Foo' is not supported")

    monkeypatch.setattr(module, "checked_twins", no_twin)
    result = halp_graph.prune(MODEL, "xavier", 0.6, calib=calib, finetune=1)
    assert "op 'Foo'" in result.report["finetune"]["skipped"]
    assert result.model is not None and "fine-tuning" in result.summary()


def test_without_a_twin_the_schedule_keeps_the_one_shot_result(calib, monkeypatch):
    from halp_graph.pruning import progressive as module
    from halp_graph.saliency.loss_aware import LossAwareUnavailable

    def no_twin(*args):
        raise LossAwareUnavailable("no torch twin of the model: op 'Foo' is not supported")

    monkeypatch.setattr(module, "checked_twins", no_twin)  # where the schedule looks it up
    result = halp_graph.prune(MODEL, "xavier", 0.6, calib=calib, finetune=1, schedule=2)
    assert "op 'Foo'" in result.report["schedule"]["skipped"]
    assert result.model is not None and result.report["reconstruction"] is not None
    assert "schedule" in result.summary() and "skipped" in result.summary()


def test_ctrl_c_during_training_writes_the_best_model_so_far(tmp_path, calib):
    import signal

    out, report_path = tmp_path / "slim.onnx", tmp_path / "report.json"
    proc = subprocess.Popen([sys.executable, "-m", "halp_graph", "prune", MODEL, "--target", "xavier",
                             "--budget", "0.6", "--calib", calib, "--finetune", "1000", "-o", str(out),
                             "--report", str(report_path)], stderr=subprocess.PIPE, text=True,
                            # a shell's background job ignores SIGINT, and its children inherit
                            # that; the child must see Ctrl-C as a user's terminal delivers it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in proc.stderr:  # one progress line per epoch when stderr is not a terminal
        seen.append(line)
        if sum("distil epoch" in s for s in seen) >= 3:
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 0, "".join(seen) + rest
    assert "interrupted: keeping the best model so far" in rest and out.exists()
    tuned = json.loads(report_path.read_text())["finetune"]
    assert tuned["stopped"] == "interrupted" and 2 <= tuned["epochs_run"] < 1000
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
