"""`prune` end to end on a small real model: LUT, saliency, exact solve, rewrite, closed
loop, report; and every kind of bad input refused with one line before anything is written."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnx_ir as ir
import pytest

import halp_graph
from halp_graph.equivalence import assert_equivalent
from halp_graph.errors import TargetError
from halp_graph.graph import analyze, load_model
from halp_graph.latency import QUICK_SAMPLING, get_target
from halp_graph.models.builder import GraphBuilder
from halp_graph.plan import PruningPlan
from halp_graph.pruning import REPORT_SCHEMA, LatencyPrunePass
from halp_graph.pruning.closed_loop import DenseTimer, Round, _confirm
from halp_graph.pruning.lut_calibration import build_calibrated_lut


def small_net(path, width=48, seed=0):
    """A residual conv net big enough that channel counts move its latency."""
    b = GraphBuilder("small", 17, 1, seed)
    x = b.relu(b.conv(b.input("x", 3, (32, 32)), width, hint="stem"))
    for i in range(2):
        inner = b.relu(b.conv(x, width * 2, hint=f"a{i}"))
        x = b.relu(b.add(b.conv(inner, width, hint=f"b{i}"), x))
    b.output(b.gemm(b.flatten(b.gap(x)), 10))
    onnx.save(b.build(), str(path))
    return str(path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prune")
    model = small_net(tmp / "net.onnx")
    lut = build_calibrated_lut(model, get_target("cpu"), sampling=QUICK_SAMPLING)
    lut_path = str(tmp / "net.lut.json")
    lut.save(lut_path)
    return tmp, model, lut_path


def cli(*args):
    return subprocess.run([sys.executable, "-m", "halp_graph", *map(str, args)],
                          capture_output=True, text=True)


def test_api_prunes_and_reports(setup):
    _, model, lut = setup
    result = halp_graph.prune(model, "cpu", 0.6, lut=lut)
    report = result.report
    assert report["schema"] == REPORT_SCHEMA
    assert report["rounds"] and report["rounds"][0]["predicted_ms"] > 0
    assert report["latency"]["measured"] and report["latency"]["pruned_ms"] < report["latency"]["dense_ms"]
    onnx.checker.check_model(result.model.proto, full_check=True)
    groups = analyze(load_model(model))
    assert_equivalent(load_model(model), result.model, result.plan, groups)
    kept = {g: v["kept"] for g, v in report["groups"].items()}
    assert all(kept[g] == len(result.plan.keep.get(g, range(v["size"])))
               for g, v in report["groups"].items())


def test_closed_loop_reports_every_round(setup):
    _, model, lut = setup
    result = halp_graph.prune(model, "cpu", 0.5, lut=lut, max_rounds=3)
    rounds = result.report["rounds"]
    assert 1 <= len(rounds) <= 3
    for r in rounds:
        assert r["measured_ms"] is not None and r["measured_dense_ms"] is not None
    if not rounds[0]["on_target"] and len(rounds) > 1:  # the second round corrects the budget
        assert rounds[1]["solver_budget_ms"] != rounds[0]["solver_budget_ms"]


def test_a_round_in_or_near_the_window_is_measured_again_before_the_next_budget(setup):
    """Readings inside the window [0.588, 0.603] or within its width of it are timed
    again with new sessions and judged on the mean of both pairs, so the next budget is
    computed from that mean; one far off is left as it was."""
    _, model, lut = setup
    slim = halp_graph.prune(model, "cpu", 0.6, lut=lut, max_rounds=1).model

    def round_at(index, achieved):
        return Round(index, 1.0, "optimal", 1.0, 5.0, 10.0, 0.0, {}, plan=object(), model=slim,
                     measured_ms=achieved, measured_dense_ms=1.0, achieved=achieved, pairs=[(achieved, 1.0)])

    far, low, high, inside = round_at(1, 0.50), round_at(2, 0.577), round_at(3, 0.612), round_at(4, 0.595)
    with DenseTimer(get_target("cpu"), model) as timer:
        again = [_confirm(r, timer, 0.6, 0.02, True, 3) for r in (far, low, high, inside)]
    assert again == [False, True, True, True]
    assert (len(far.pairs), far.achieved) == (1, 0.50)
    for r, first in ((low, 0.577), (high, 0.612), (inside, 0.595)):
        second = r.pairs[1][0] / r.pairs[1][1]
        assert len(r.pairs) == 2 and r.achieved == pytest.approx((first + second) / 2)
        assert r.on_target == (0.588 <= r.achieved <= 0.603)


def test_a_budget_no_plan_fits_measures_the_cheapest_plan_once(setup):
    """A first budget no plan fits (below zero: whatever the table prices): the cheapest
    plan is still rewritten and measured (a table can price it too high), never twice,
    and the result is judged on what was measured."""
    from halp_graph.passes import prune_channels
    from halp_graph.pruning.closed_loop import run_loop, status_of
    from halp_graph.pruning.lut_source import given_lut
    from halp_graph.solver import build_problem

    _, model, lut = setup
    loaded = load_model(model)
    groups = analyze(loaded)
    target = get_target("cpu")
    scores = {g.id: np.ones(g.size) for g in groups.prunable()}
    problem = build_problem(groups, given_lut(lut, groups, target).cost_model, scores, 0.0)
    chosen, rounds = run_loop(problem, groups, scores, loaded, lambda plan: prune_channels(loaded, plan, groups),
                              target, goal=0.05, relative=True, measurable=True, method="exact",
                              time_limit=20.0, max_rounds=6, tolerance=0.02, measure_rounds=3,
                              log=lambda m: None, start_budget=-1.0)
    assert rounds[0].status == "infeasible" and rounds[0].measured_ms is not None
    assert rounds[0].predicted_ms > rounds[0].budget_ms
    cheapest = [r.predicted_ms for r in rounds if r.status == "infeasible" and r.measured_ms is not None]
    assert len(cheapest) == len(set(cheapest))
    assert status_of(chosen, 0.05) != "infeasible" and chosen.model is not None and chosen.achieved is not None


def test_cli_writes_model_and_report(setup):
    tmp, model, lut = setup
    out, rep = tmp / "slim.onnx", tmp / "report.json"
    r = cli("prune", model, "--target", "cpu", "--budget", "0.7", "--lut", lut, "-o", out, "--report", rep)
    assert r.returncode in (0, 1), r.stderr  # 1 only if the loop stayed over the goal
    assert "latency (measured)" in r.stderr and "round 1" in r.stderr
    report = json.loads(rep.read_text())
    onnx.checker.check_model(str(out), full_check=True)
    assert report["plan"]["schema"] == "halp_graph.plan/1"
    verify = cli("verify", model, out, "--plan", _plan_file(tmp, report["plan"]))
    assert verify.returncode == 0, verify.stdout


def _plan_file(tmp, plan):
    path = tmp / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def test_greedy_reference_also_runs(setup):
    _, model, lut = setup
    result = halp_graph.prune(model, "cpu", 0.6, lut=lut, method="greedy", max_rounds=1)
    assert result.report["solver"]["method"] == "greedy"


def test_pass_for_pass_managers(setup):
    _, model, lut = setup
    dense = ir.load(model)
    result = ir.passes.PassManager([LatencyPrunePass("cpu", 0.7, lut=lut, max_rounds=1)])(dense)
    assert result.modified and isinstance(result.model, ir.Model) and result.model is not dense
    slim = ir.to_proto(result.model)
    assert sum(t.ByteSize() for t in slim.graph.initializer) < \
        sum(t.ByteSize() for t in load_model(model).proto.graph.initializer)
    onnx.checker.check_model(slim, full_check=True)
    with pytest.raises(ir.passes.PreconditionError) as refused:
        LatencyPrunePass("cpu", 1.5)(dense)
    assert isinstance(refused.value.__cause__, TargetError)
    assert "budget must be in" in str(refused.value.__cause__)


@pytest.mark.parametrize("args,code,message", [
    (["--budget", "0"], 8, "budget must be in (0, 1]"),
    (["--budget", "1.5"], 8, "budget must be in (0, 1]"),
    (["--latency-ms", "-3"], 8, "positive number of milliseconds"),
    (["--budget", "0.5", "--target", "pdp11"], 8, "unknown target 'pdp11'"),
])
def test_bad_goals_and_targets(setup, args, code, message):
    tmp, model, lut = setup
    out = tmp / "never.onnx"
    full = ["prune", model, "-o", out, "--lut", lut] + (["--target", "cpu"] if "--target" not in args else []) + args
    r = cli(*full)
    assert r.returncode == code and message in r.stderr, r.stderr
    assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_lut_for_another_model_is_refused(setup, tmp_path):
    _, _, lut = setup
    other = small_net(tmp_path / "other.onnx", width=40, seed=1)
    r = cli("prune", other, "--target", "cpu", "--budget", "0.5", "--lut", lut, "-o", tmp_path / "o.onnx")
    assert r.returncode == 8 and "does not cover this model" in r.stderr
    assert not (tmp_path / "o.onnx").exists()


def test_lut_for_another_target_is_refused(setup, tmp_path):
    _, model, lut = setup
    data = json.loads(open(lut).read())
    data["target"]["name"] = "xavier"
    data["target"]["precision"] = "fp16"
    foreign = tmp_path / "xavier.lut.json"
    foreign.write_text(json.dumps(data))
    r = cli("prune", model, "--target", "cpu", "--budget", "0.5", "--lut", foreign, "-o", tmp_path / "o.onnx")
    assert r.returncode == 8 and "built for another target" in r.stderr


def test_calibration_of_the_wrong_shape_is_refused(setup, tmp_path):
    _, model, lut = setup
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.zeros((4, 3, 16, 16), np.float32))
    r = cli("prune", model, "--target", "cpu", "--budget", "0.5", "--lut", lut, "--saliency",
            "activation", "--calib", calib, "-o", tmp_path / "o.onnx")
    assert r.returncode == 8 and "shape" in r.stderr
    assert not (tmp_path / "o.onnx").exists()


def test_existing_output_is_refused_before_any_work(setup):
    tmp, model, lut = setup
    out = tmp / "exists.onnx"
    out.write_bytes(b"keep me")
    r = cli("prune", model, "--target", "cpu", "--budget", "0.5", "--lut", lut, "-o", out)
    assert r.returncode == 6 and out.read_bytes() == b"keep me"


def test_lut_cache_is_built_once_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("HALP_GRAPH_CACHE", str(tmp_path / "cache"))
    import halp_graph.pruning.lut_source as source
    monkeypatch.setattr(source, "build_calibrated_lut", _quick(source.build_calibrated_lut))
    model = small_net(tmp_path / "n.onnx", width=16)
    first = halp_graph.prune(model, "cpu", 0.8, max_rounds=1)
    second = halp_graph.prune(model, "cpu", 0.8, max_rounds=1)
    assert first.report["lut"]["origin"] == "built" and second.report["lut"]["origin"] == "cache"


def _quick(build):
    def quick_build(*args, **kwargs):
        kwargs["sampling"] = QUICK_SAMPLING
        return build(*args, **kwargs)
    return quick_build


def test_plan_keeps_cut_groups_and_respects_blocks(setup):
    _, model, lut = setup
    result = halp_graph.prune(model, "cpu", 0.3, lut=lut, max_rounds=1)
    groups = analyze(load_model(model))
    if result.plan is not None:
        PruningPlan(result.plan.keep).validate(groups)
        for g in groups.prunable():
            if g.cut:
                assert len(result.plan.keep.get(g.id, range(g.size))) > 0
