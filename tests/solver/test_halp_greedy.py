"""HALP's augmented knapsack: never over budget, never better than the optimum, kept items
form a prefix of each group's saliency order, and the DP does what the paper's does."""

from __future__ import annotations

import numpy as np
import pytest

from halp_graph.solver import solve_problem
from halp_graph.solver.brute_force import brute_force
from halp_graph.solver.halp_greedy import augmented_knapsack, halp_knapsack
from halp_graph.solver.problem import Problem, Side, Term
from halp_graph.solver.random_instances import random_problem


@pytest.mark.parametrize("chunk", range(4))
def test_greedy_is_never_over_budget_nor_above_the_optimum(chunk):
    for seed in range(chunk * 250, (chunk + 1) * 250):
        problem = random_problem(np.random.default_rng(seed))
        result = solve_problem(problem, method="greedy")
        truth = brute_force(problem)
        if result.status == "infeasible":
            continue
        assert problem.within_budget(result.predicted_cost)
        assert truth.value is not None
        assert result.objective <= truth.value + 1e-9 * max(1.0, truth.value)
        for g, count in result.counts.items():
            assert count in problem.counts[g]


def test_dp_keeps_prefixes_of_each_group():
    # one group of three items, most important first; the second item is too heavy, so the
    # augmented rule must not keep the third without it
    weight = np.array([1, 5, 1])
    value = np.array([3.0, 2.0, 1.5])
    first = np.array([True, False, False])
    assert augmented_knapsack(weight, value, first, capacity=3).tolist() == [0]
    assert augmented_knapsack(weight, value, first, capacity=7).tolist() == [0, 1, 2]


def test_dp_solves_a_plain_knapsack_across_groups():
    # three single-item groups: a plain 0/1 knapsack (8 + 6 > 10 in 5 + 5)
    weight = np.array([5, 5, 6])
    value = np.array([8.0, 6.0, 10.0])
    first = np.array([True, True, True])
    kept = augmented_knapsack(weight, value, first, capacity=11)
    assert sorted(kept.tolist()) == [0, 2]


def _chain(cost_in_dependence: float) -> Problem:
    """Two groups on a chain a -> b; the layer a->b costs kin*kout*(1 + d * kin)."""
    counts = {"a": np.array([0, 2, 4]), "b": np.array([0, 2, 4])}
    values = {"a": np.array([0.0, 3.0, 4.0]), "b": np.array([0.0, 3.0, 4.0])}
    terms = [Term("first", Side(3), Side(0, (("a", 1),)), lambda i, o: float(i * o)),
             Term("second", Side(0, (("a", 1),)), Side(0, (("b", 1),)),
                  lambda i, o: float(i * o) * (1 + cost_in_dependence * (4 - i))),
             Term("head", Side(0, (("b", 1),)), Side(1), lambda i, o: float(i * o))]
    problem = Problem(counts, values, terms, dense_cost=0.0, budget=0.0)
    problem.dense_cost = sum(problem.full_costs)
    problem.budget = 0.6 * problem.dense_cost
    return problem


def test_a_cost_that_grows_when_inputs_shrink_is_repaired():
    # HALP holds a layer's input at the dense count: here fewer input channels make the
    # layer slower (a non-monotone LUT), so HALP's estimate is too low and its answer would
    # be over budget; the repair loop lowers the capacity until it fits.
    problem = _chain(cost_in_dependence=2.0)
    outcome = halp_knapsack(problem)
    if outcome.counts is not None:
        assert problem.within_budget(problem.cost(outcome.counts))
    assert outcome.repairs >= 1


def test_greedy_misses_what_the_exact_solver_finds():
    # HALP credits only producing layers, so it under-rates pruning `b` (its consumer, the
    # head, is never credited): the exact solver keeps more saliency within the budget
    problem = _chain(cost_in_dependence=0.0)
    greedy = solve_problem(problem, method="greedy")
    exact = solve_problem(problem, method="exact")
    assert exact.status == "optimal"
    assert exact.objective == brute_force(problem).value
    assert greedy.objective < exact.objective
