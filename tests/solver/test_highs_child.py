"""HiGHS in a child process: the same answers as in this process, and a solve that runs
past its deadline is stopped and reported as giving no answer (HiGHS's MIP presolve
ignored a 20 s limit for 18 minutes on res2net50's whole knapsack)."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

from halp_graph.solver import milp
from halp_graph.solver.brute_force import brute_force
from halp_graph.solver.highs_child import solve_in_child
from halp_graph.solver.random_instances import random_problem


def _knapsack_program(n: int = 30, seed: int = 0) -> dict:
    """A 0/1 knapsack with a known optimum found by HiGHS in either process."""
    rng = np.random.default_rng(seed)
    weights, values = rng.integers(1, 20, n).astype(float), rng.integers(1, 30, n).astype(float)
    return {"c": -values, "integrality": np.ones(n), "lower": np.zeros(n), "upper": np.ones(n),
            "a": weights[None, :], "lo": np.array([-np.inf]), "hi": np.array([weights.sum() / 3]),
            "options": {"time_limit": 10.0, "mip_rel_gap": 0.0, "threads": 1}}


def test_the_child_process_gives_the_answer_of_this_process():
    program = _knapsack_program()
    child = solve_in_child(program)
    here = milp.solve(program)
    assert child.status == here.status == 0
    assert child.fun == pytest.approx(here.fun)
    np.testing.assert_array_equal(np.round(child.x), np.round(here.x))


def test_a_child_past_its_deadline_is_stopped_and_gives_no_answer(monkeypatch):
    started = []
    real_popen = subprocess.Popen

    def recording(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", recording)
    start = time.perf_counter()
    result = solve_in_child(_knapsack_program(), deadline_s=0.05)  # before Python has even started
    assert time.perf_counter() - start < 5.0
    assert result.x is None and result.status == 1 and "stopped" in result.message
    assert started and started[0].poll() is not None  # the child is gone, not left running


@pytest.mark.parametrize("seed", range(4))
def test_solve_milp_through_the_child_is_still_exact(monkeypatch, seed):
    problem = random_problem(np.random.default_rng(seed), max_groups=4, max_size=8)
    problem = problem.with_budget(0.6 * problem.dense_cost)
    in_process = milp.solve_milp(problem, time_limit=20.0)
    monkeypatch.setattr(milp, "IN_PROCESS_COLUMNS", 0)
    through_child = milp.solve_milp(problem, time_limit=20.0)
    best = brute_force(problem)
    assert through_child.status == in_process.status
    if best.counts is None:
        assert through_child.counts is None
    else:
        assert problem.value(through_child.counts) == pytest.approx(problem.value(best.counts), abs=1e-9)
        assert problem.within_budget(problem.cost(through_child.counts))


def test_a_stopped_solve_leaves_the_exact_solver_to_fall_back(monkeypatch):
    from halp_graph.solver import exact
    problem = random_problem(np.random.default_rng(7), max_groups=4, max_size=8)
    problem = problem.with_budget(0.6 * problem.dense_cost)
    monkeypatch.setattr(milp, "IN_PROCESS_COLUMNS", 0)
    monkeypatch.setattr(milp, "solve_in_child", lambda program: solve_in_child(program, deadline_s=0.05))
    status, counts, _, message, _ = exact._milp_only(problem, 5.0, {})
    assert "no MILP answer" in message and "greedy" in message
    if counts is not None:
        assert status == "feasible" and problem.within_budget(problem.cost(counts))
