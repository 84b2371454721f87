"""Distillation of a pruned model against the dense one (halp_graph.distill), on the
bundled trained Fashion-MNIST network and its shipped calibration images: it lowers the
held-out KL measured in ONNX Runtime, a stopped or interrupted run keeps its best state,
and the objective is zero exactly when the student reproduces the teacher."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from halp_graph.distill import DistillConfig, DistillObjective, Distiller, FeaturePair  # noqa: E402
from halp_graph.fidelity import FidelityProbe  # noqa: E402
from halp_graph.graph import analyze, as_loaded  # noqa: E402
from halp_graph.graph.capture_onnx import LoadedModel  # noqa: E402
from halp_graph.passes import prune_channels  # noqa: E402
from halp_graph.plan import PruningPlan  # noqa: E402
from halp_graph.pruning.finetune import checked_twins, feature_pairs  # noqa: E402
from halp_graph.samples import read_samples  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "..", "models", "fmnist_resnet.onnx")
CALIB = os.path.join(HERE, "..", "..", "models", "fmnist_calib.npz")


@pytest.fixture(scope="module")
def setup():
    dense = as_loaded(MODEL)
    groups = analyze(dense)
    # keep the first half of every prunable group: a plan that costs the model accuracy
    plan = PruningPlan({g.id: list(range(g.size // 2)) for g in groups.prunable()})
    pruned = prune_channels(dense, plan, groups)
    samples = read_samples(CALIB, dense.proto)
    train, held = samples.split(0.25)
    return dense, groups, plan, pruned, train, held


def run(setup, config, on_step=None, pairs=()):
    dense, _, _, pruned, train, held = setup
    teacher, student = checked_twins(dense, pruned, train)
    trainer = Distiller(student, teacher, train, config, held, pairs=pairs)
    return student, trainer, trainer.run(on_step=on_step)


def test_distillation_lowers_held_out_kl_in_onnx_runtime(setup):
    dense, _, _, pruned, _, held = setup
    student, _, result = run(setup, DistillConfig(epochs=4, lr=1e-3))
    assert result.stopped == "finished" and result.steps == 4 * (384 // 64)
    probe = FidelityProbe(dense, held, "held out")
    before = probe.measure(pruned)
    after = probe.measure(LoadedModel(student.to_onnx(), pruned.base_dir))
    assert before["kl"] > 0.05  # the plan did cost something
    assert after["kl"] < 0.7 * before["kl"], (before["kl"], after["kl"])
    assert result.best["kl"] == pytest.approx(after["kl"], rel=1e-3, abs=1e-5)  # twin and ORT agree


def test_an_interrupted_run_keeps_its_best_state(setup):
    def interrupt(step):
        if step == 15:  # in the third epoch, after two held-out evaluations
            raise KeyboardInterrupt

    student, trainer, result = run(setup, DistillConfig(epochs=5, lr=3e-3), on_step=interrupt)
    assert result.stopped == "interrupted" and result.steps == 15
    scored = [result.initial["distortion"]] + [h["held_out"]["distortion"] for h in result.history]
    assert len(scored) == 4  # before, epochs 1 and 2, and at the interruption
    assert result.best["distortion"] == min(scored)
    assert trainer.evaluate()["distortion"] == pytest.approx(result.best["distortion"], rel=1e-6)


def test_a_time_limit_stops_training_and_keeps_the_best_state(setup):
    student, trainer, result = run(setup, DistillConfig(epochs=50, time_limit=1e-3))
    assert result.stopped == "time limit" and result.steps == 1
    assert trainer.evaluate()["distortion"] == pytest.approx(result.best["distortion"], rel=1e-6)


def test_feature_matching_at_the_pruned_layers(setup):
    _, groups, plan, _, _, _ = setup
    pairs = feature_pairs(groups, plan)
    assert pairs and all(p.removed for p in pairs)
    _, trainer, result = run(setup, DistillConfig(epochs=1, feature_weight=1.0), pairs=pairs)
    teacher_feats, student_feats = {}, {}
    feeds = {k: torch.from_numpy(v[:8]) for k, v in trainer.samples.arrays.items()}
    wanted = {p.tensor for p in pairs}
    trainer.teacher(feeds, hook=lambda n, v: teacher_feats.__setitem__(n, v) if n in wanted else None)
    trainer.student(feeds, hook=lambda n, v: student_feats.__setitem__(n, v) if n in wanted else None)
    matched = [p for p in pairs if p.teacher_view(teacher_feats[p.tensor]).shape == student_feats[p.tensor].shape]
    assert len(matched) == len(pairs)  # every pair lines the kept channels up
    assert result.history[0]["loss"] is not None


def test_the_objective_is_zero_only_when_the_student_matches():
    logits = torch.randn(16, 10)
    objective = DistillObjective([logits], temperature=2.0)
    assert float(objective.output_loss([logits], [logits.clone()])) == pytest.approx(0.0, abs=1e-6)
    assert float(objective.output_loss([logits], [logits + torch.randn(16, 10)])) > 0.01
    features = torch.randn(4, 6, 5, 5)
    regression = DistillObjective([features])
    assert float(regression.output_loss([features], [2 * features])) == pytest.approx(1.0, rel=1e-5)
    pair = FeaturePair("t", 1, (1, 4))
    assert pair.teacher_view(features).shape == (4, 4, 5, 5)
    assert torch.equal(pair.teacher_view(features)[:, 1], features[:, 2])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="epochs"):
        DistillConfig(epochs=0)
    with pytest.raises(ValueError, match="temperature"):
        DistillConfig(temperature=0)
    with pytest.raises(ValueError, match="time limit"):
        DistillConfig(time_limit=-1)
