"""Keep every output reachable: the knapsack's answer may not empty a set of groups that
cuts the model's outputs off from its inputs.

A group that is a cut alone never offers the count 0 (`Group.min_keep`). Several groups
can disconnect together (every branch feeding a detector head), which a per-group option
list cannot express; when saliency prices emptying them too cheaply (magnitude on
untrained or data-free scores), the knapsack would write a model with a constant output.
The constraint "not all of this minimal cut emptied" is added lazily: solve, and while
the answer disconnects, branch on which member of the minimal cut keeps a channel. A
branch's solved value bounds every branch below it, so an optimal branch no better than
the best connected answer is dropped. Past `max_solves`, every member of every cut seen
is kept non-empty, which always connects in the end and is reported as feasible.
"""

from __future__ import annotations

import time
from typing import Callable

from .problem import Problem

Outcome = tuple  # (status, counts, bound, message, details), as solve_exact returns it


def solve_connected(problem: Problem, solve_once: Callable[[Problem, float], Outcome],
                    time_limit: float, max_solves: int = 16) -> Outcome:
    start = time.perf_counter()
    first = solve_once(problem, time_limit)
    if first[0] == "infeasible" or problem.disconnecting(first[1]) is None:
        return first
    best, best_value, solves, seen = None, float("-inf"), 1, set()
    stack = [(problem, first)]
    while stack:
        sub, outcome = stack.pop()
        status, counts = outcome[0], outcome[1]
        if status == "infeasible":
            continue
        value = problem.value(counts)
        if value <= best_value:
            continue
        cut = problem.disconnecting(counts)
        if cut is None:
            best, best_value = outcome, value
            continue
        seen.update(cut)
        for g in cut:
            if solves >= max_solves:
                break
            remaining = time_limit - (time.perf_counter() - start)
            if remaining <= 0:
                break
            branch = sub.never_empty([g])
            stack.append((branch, solve_once(branch, remaining)))
            solves += 1
    if best is None:
        best = _forbid_until_connected(problem, solve_once, seen, time_limit, start)
    status, counts, bound, message, details = best
    details = dict(details, connectivity={"solves": solves, "cut_groups": sorted(seen)})
    if solves >= max_solves and status == "optimal":
        status, message = "feasible", message + "; connectivity branching capped"
    if status != "optimal":
        bound = None  # a branch's bound holds for that branch only
    return status, counts, bound, message + "; no plan may disconnect an output", details


def _forbid_until_connected(problem: Problem, solve_once, seen: set, time_limit: float,
                            start: float) -> Outcome:
    forbidden = set(seen)
    while True:
        sub = problem.never_empty(sorted(forbidden))
        remaining = max(0.01, time_limit - (time.perf_counter() - start))
        outcome = solve_once(sub, remaining)
        cut = None if outcome[0] == "infeasible" else problem.disconnecting(outcome[1])
        if cut is None or set(cut) <= forbidden:
            status = "feasible" if outcome[0] == "optimal" else outcome[0]
            return (status, outcome[1], None) + tuple(outcome[3:])
        forbidden.update(cut)
