"""The exact solver finds the brute-force optimum on every random instance: latency
staircases, multiply-accumulates and arbitrary (non-monotone) cost tables, layers that
couple two groups, concats of several, depthwise layers on one, graph cuts and blocks."""

from __future__ import annotations

import numpy as np
import pytest

from halp_graph.solver import solve_problem
from halp_graph.solver.brute_force import brute_force
from halp_graph.solver.exact import solve_exact
from halp_graph.solver.random_instances import random_problem

SEEDS_PER_CHUNK = 100


def _check_against_brute_force(problem, status, counts):
    truth = brute_force(problem)
    if truth.value is None:
        assert status == "infeasible"
        return
    assert status == "optimal"
    assert problem.within_budget(problem.cost(counts))
    assert problem.value(counts) == pytest.approx(truth.value, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("chunk", range(12))
def test_exact_matches_brute_force(chunk):
    for seed in range(chunk * SEEDS_PER_CHUNK, (chunk + 1) * SEEDS_PER_CHUNK):
        problem = random_problem(np.random.default_rng(seed))
        result = solve_problem(problem, method="exact")
        _check_against_brute_force(problem, result.status, result.counts)
        assert result.gap == 0.0 or result.status == "infeasible"
        assert result.details.get("stage") in (None, "pareto")


@pytest.mark.parametrize("chunk", range(3))
def test_milp_alone_matches_brute_force(chunk):
    """The path taken when the layer graph is too wide for the Lagrangian step."""
    for seed in range(10_000 + chunk * SEEDS_PER_CHUNK, 10_000 + (chunk + 1) * SEEDS_PER_CHUNK):
        problem = random_problem(np.random.default_rng(seed))
        status, counts, _, _, details = solve_exact(problem, time_limit=10, max_table=0)
        assert "skipped" in details["lagrangian"]
        _check_against_brute_force(problem, status, counts)


@pytest.mark.parametrize("chunk", range(2))
def test_milp_on_the_reduced_options_matches_brute_force(chunk):
    """The path taken when the Pareto fronts grow too large."""
    for seed in range(15_000 + chunk * SEEDS_PER_CHUNK, 15_000 + (chunk + 1) * SEEDS_PER_CHUNK):
        problem = random_problem(np.random.default_rng(seed))
        status, counts, _, _, details = solve_exact(problem, time_limit=10, max_front_points=0)
        assert details.get("stage") in (None, "milp")
        _check_against_brute_force(problem, status, counts)


def test_larger_instances_match_brute_force():
    for seed in range(20_000, 20_040):
        problem = random_problem(np.random.default_rng(seed), max_groups=7, max_size=12,
                                 max_choices=200_000)
        result = solve_problem(problem, method="exact")
        _check_against_brute_force(problem, result.status, result.counts)


def test_infeasible_budget_returns_the_cheapest_choice():
    problem = random_problem(np.random.default_rng(3))
    truth = brute_force(problem)
    problem.budget = truth.min_cost - 1.0
    result = solve_problem(problem, method="exact")
    assert result.status == "infeasible" and not result.feasible
    assert result.predicted_cost == pytest.approx(truth.min_cost, rel=1e-9, abs=1e-9)
