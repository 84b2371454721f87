"""Solving on real graphs: the problem prices choices exactly as cost_model.predict does,
the exact answer matches brute force, and every plan is valid (blocks, cuts, divisors),
keeps the highest-scoring channels, and rewrites into an equivalent model."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import prove_plan
from halp_graph.cost_model import MacsCostModel, predict
from halp_graph.errors import DataError, TargetError
from halp_graph.graph import analyze
from halp_graph.models import edge_cases as ec
from halp_graph.models.random_nets import build_random_net
from halp_graph.solver import build_problem, solve
from halp_graph.solver.brute_force import brute_force
from halp_graph.solver.random_instances import StaircaseCostModel

SMALL = ["residual_add", "concat_branches", "split_paths", "depthwise", "grouped_conv",
         "squeeze_excite", "flatten_gemm", "concat_flatten_gemm", "transformer_mlp"]
NETS = [(["residual", "concat"], [8, 8]), (["grouped", "depthwise", "se"], [8, 8, 8]),
        (["split", "slice", "bn"], [6, 8, 8]), (["concat", "concat", "residual"], [8, 6, 8])]


def _random_scores(groups, seed):
    rng = np.random.default_rng(seed)
    return {g.id: rng.exponential(1.0, g.size) for g in groups.prunable()}


def _models():
    for name in SMALL:
        yield name, ec.EDGE_CASES[name]()
    for pieces, widths in NETS:
        yield "+".join(pieces), build_random_net(pieces, widths)


@pytest.mark.parametrize("name,model", list(_models()), ids=lambda v: v if isinstance(v, str) else "")
def test_exact_matches_brute_force_and_plans_are_valid(name, model):
    groups = analyze(model)
    for seed, cost_model in enumerate([StaircaseCostModel(groups, tile=4, seed=1),
                                       StaircaseCostModel(groups, tile=2, seed=2)]):
        scores = _random_scores(groups, seed)
        dense = cost_model.dense_cost()
        for fraction in (0.35, 0.6, 0.85):
            problem = build_problem(groups, cost_model, scores, fraction * dense)
            choices = np.prod([len(c) for c in problem.counts.values()], dtype=np.float64)
            for method in ("exact", "greedy"):
                result = solve(groups, cost_model, scores, fraction * dense, method=method)
                if result.status == "infeasible":
                    continue
                assert result.predicted_cost == pytest.approx(
                    predict(cost_model, groups, result.plan.kept_counts(groups)), rel=1e-12)
                assert result.predicted_cost <= fraction * dense * (1 + 1e-12)
                _check_plan(groups, scores, result)
            if choices <= 300_000:
                truth = brute_force(problem)
                exact = solve(groups, cost_model, scores, fraction * dense)
                if truth.value is None:
                    assert exact.status == "infeasible"
                else:
                    assert exact.status == "optimal"
                    assert exact.objective == pytest.approx(truth.value, rel=1e-9)


def _check_plan(groups, scores, result):
    result.plan.validate(groups)
    for g in groups.prunable():
        kept = result.plan.keep.get(g.id, list(range(g.size)))
        assert len(kept) == result.counts[g.id]
        if g.cut:
            assert len(kept) >= g.min_keep >= 1
        per = g.size // g.blocks
        for b in range(g.blocks):
            block_scores = scores[g.id][b * per:(b + 1) * per]
            in_block = [i - b * per for i in kept if b * per <= i < (b + 1) * per]
            assert len(in_block) == len(kept) // g.blocks
            dropped = np.setdiff1d(np.arange(per), in_block)
            if len(in_block) and len(dropped):
                assert block_scores[in_block].min() >= block_scores[dropped].max()


def test_problem_prices_choices_like_predict():
    model = build_random_net(["residual", "concat", "depthwise", "split"], [8, 8, 8, 6])
    groups = analyze(model)
    cost_model = StaircaseCostModel(groups, tile=2, seed=3)
    problem = build_problem(groups, cost_model, _random_scores(groups, 0), 1.0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        kept = {g: int(rng.choice(c)) for g, c in problem.counts.items()}
        assert problem.cost(kept) == pytest.approx(predict(cost_model, groups, kept), rel=1e-12)


def test_grouped_conv_keeps_equal_blocks_and_plans_rewrite():
    model = ec.grouped_conv()
    groups = analyze(model)
    cost_model = MacsCostModel(groups)
    scores = _random_scores(groups, 5)
    result = solve(groups, cost_model, scores, 0.4 * cost_model.dense_cost())
    assert result.status == "optimal"
    assert any(groups[g].blocks > 1 for g in result.plan.keep)
    prove_plan(model, groups, result.plan)


def test_budget_below_everything_is_infeasible_with_the_cheapest_valid_plan():
    model = ec.residual_add()
    groups = analyze(model)
    cost_model = MacsCostModel(groups)
    result = solve(groups, cost_model, _random_scores(groups, 0), 1e-9)
    assert result.status == "infeasible"
    result.plan.validate(groups)
    cut = [g for g in groups.prunable() if g.cut]
    assert cut and all(result.counts[g.id] >= 1 for g in cut)


def test_full_budget_keeps_everything():
    model = ec.concat_branches()
    groups = analyze(model)
    cost_model = MacsCostModel(groups)
    result = solve(groups, cost_model, _random_scores(groups, 0), cost_model.dense_cost())
    assert result.status == "optimal" and result.plan.keep == {}
    assert result.objective == pytest.approx(result.max_objective)


def test_bad_arguments_are_one_clear_error():
    model = ec.residual_add()
    groups = analyze(model)
    cost_model = MacsCostModel(groups)
    scores = _random_scores(groups, 0)
    with pytest.raises(TargetError, match="unknown solver method"):
        solve(groups, cost_model, scores, 1.0, method="annealing")
    with pytest.raises(TargetError, match="finite"):
        solve(groups, cost_model, scores, float("nan"))
    with pytest.raises(DataError, match="has 3 scores"):
        solve(groups, cost_model, {"g1": [1.0, 2.0, 3.0]}, 1.0)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_real_networks_agree_with_the_whole_program(grouped, name):
    """On real structures, the Lagrangian reduction + MILP and the MILP over every option
    (no reduction) are two independent exact methods: they must agree."""
    from halp_graph.solver import solve_problem
    from halp_graph.solver.milp import solve_milp

    _, groups = grouped(name)
    cost_model = MacsCostModel(groups, granularity=16)
    scores = _random_scores(groups, 1)
    for fraction in (0.4, 0.7):
        problem = build_problem(groups, cost_model, scores, fraction * cost_model.dense_cost())
        result = solve_problem(problem)
        whole = solve_milp(problem, time_limit=120)
        assert result.status == whole.status == "optimal"
        assert result.objective == pytest.approx(problem.value(whole.counts), rel=1e-9)


def test_divisors_are_respected():
    model = build_random_net(["residual", "concat"], [8, 8])
    groups = analyze(model)
    for g in groups.prunable():
        g.divisor = 4 if g.size % 4 == 0 else 1
    cost_model = MacsCostModel(groups)
    scores = _random_scores(groups, 2)
    for fraction in (0.3, 0.6):
        for method in ("exact", "greedy"):
            result = solve(groups, cost_model, scores, fraction * cost_model.dense_cost(), method=method)
            for g in groups.prunable():
                assert result.counts[g.id] % g.divisor == 0
