"""The schedule's arithmetic: where its pruning steps fall, and the caps that keep every
step from regrowing a channel or from cutting below what the last step must reach."""

from __future__ import annotations

import numpy as np
import pytest

from halp_graph.pruning.progressive import capped, step_positions
from halp_graph.plan import PruningPlan
from halp_graph.solver.problem import Problem


def test_steps_fall_evenly_over_the_first_half():
    assert step_positions(100, 5) == [10, 20, 30, 40, 50]
    assert step_positions(1406, 30)[-1] == 703
    assert step_positions(4, 3) == [1, 1, 2]  # fewer optimiser steps than pruning steps
    with pytest.raises(ValueError):
        step_positions(10, 0)


def test_caps_keep_counts_between_the_floor_and_the_current_plan():
    problem = Problem(counts={"a": np.array([0, 8, 16, 24, 32]), "b": np.array([16, 32, 64])},
                      values={"a": np.arange(5.0), "b": np.arange(3.0)}, terms=[], dense_cost=1.0, budget=1.0)
    limited = capped(problem, {"a": 24, "b": 64}, floor={"a": 8})
    assert limited.counts["a"].tolist() == [8, 16, 24] and limited.values["a"].tolist() == [1, 2, 3]
    assert limited.counts["b"].tolist() == [16, 32, 64]
    assert capped(problem, {"a": 16, "b": 32}).counts["b"].tolist() == [16, 32]


class _Group:
    def __init__(self, size):
        self.size = size


class _Groups(dict):
    pass


def test_removed_channels_are_the_complement_of_what_the_plan_keeps():
    groups = _Groups(a=_Group(6))
    removed = PruningPlan({"a": [0, 2, 5]}).removed(groups)
    assert removed["a"].tolist() == [1, 3, 4]
