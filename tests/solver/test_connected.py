"""No plan may cut the outputs off from the inputs, even when every group it empties is
no cut on its own (two concatenated branches emptied together)."""

from __future__ import annotations

import numpy as np

from conftest import prove_plan
from halp_graph.cost_model import MacsCostModel
from halp_graph.graph import analyze
from halp_graph.models import edge_cases as ec
from halp_graph.solver import build_problem, solve, solve_problem
from halp_graph.solver.brute_force import brute_force


def _branch_groups(groups):
    """The two branch groups of concat_branches: the ones feeding the Concat (4 and 6 wide)."""
    left, right = (next(g for g in groups.prunable() if not g.cut and g.size == n) for n in (4, 6))
    return left, right


def _worthless_branches(groups):
    left, right = _branch_groups(groups)
    scores = {g.id: np.full(g.size, 10.0) for g in groups.prunable()}
    scores[left.id] = np.full(left.size, 1e-6)
    scores[right.id] = np.full(right.size, 1e-6)
    return scores, left, right


def test_two_branches_each_emptiable_but_not_both():
    model = ec.concat_branches()
    groups = analyze(model)
    left, right = _branch_groups(groups)
    assert not left.cut and not right.cut
    assert groups.minimal_cut([left.id]) is None
    assert sorted(groups.minimal_cut([left.id, right.id])) == sorted([left.id, right.id])


def test_solver_keeps_a_branch_the_scores_would_empty():
    model = ec.concat_branches()
    groups = analyze(model)
    cost_model = MacsCostModel(groups)
    scores, left, right = _worthless_branches(groups)
    budget = 0.2 * cost_model.dense_cost()
    problem = build_problem(groups, cost_model, scores, budget)

    unconstrained = problem.with_budget(budget)
    unconstrained.minimal_cut = None
    loose = solve_problem(unconstrained)
    assert loose.counts[left.id] == 0 and loose.counts[right.id] == 0  # what the check prevents

    result = solve(groups, cost_model, scores, budget)
    assert result.status == "optimal"
    assert result.counts[left.id] > 0 or result.counts[right.id] > 0
    assert problem.disconnecting(result.counts) is None
    truth = brute_force(problem)
    assert result.objective == truth.value
    assert result.details["connectivity"]["cut_groups"] == sorted([left.id, right.id])
    prove_plan(model, groups, result.plan)
