"""Emptying a group is priced with what the rewrite (and the runtime's constant folding)
removes beyond the group's own layers: the terms' arithmetic, and on a real model and
table, the nodes a branch folds to a constant."""

from __future__ import annotations

import numpy as np
import pytest

from halp_graph.graph import analyze, from_proto
from halp_graph.latency import build_lut, get_target
from halp_graph.latency.cost import LutCostModel
from halp_graph.latency.sampler import QUICK_SAMPLING
from halp_graph.models.builder import GraphBuilder
from halp_graph.passes import prune_channels, pruned_structure
from halp_graph.pruning.emptying_credit import emptying_credits, with_emptying_credits
from halp_graph.solver import build_problem
from halp_graph.solver.problem import Problem, Side, Term


def test_credits_are_given_while_kept_and_an_overlap_back_when_both_are_emptied():
    counts = {"a": np.array([0, 4]), "b": np.array([0, 4])}
    values = {"a": np.array([0.0, 1.0]), "b": np.array([0.0, 1.0])}
    terms = [Term(g, Side(0, ((g, 1),)), Side(1), lambda ki, ko: 0.25 * ki) for g in ("a", "b")]
    base = Problem(counts, values, terms, dense_cost=10.0, budget=10.0)
    problem = with_emptying_credits(base, {"a": {"n1": 1.0, "n2": 2.0}, "b": {"n2": 2.0, "n3": 0.5}})
    assert problem.cost({"a": 4, "b": 4}) == pytest.approx(10.0)
    assert problem.cost({"a": 0, "b": 4}) == pytest.approx(10.0 - 1.0 - 3.0)
    assert problem.cost({"a": 4, "b": 0}) == pytest.approx(10.0 - 1.0 - 2.5)
    assert problem.cost({"a": 0, "b": 0}) == pytest.approx(10.0 - 2.0 - (3.0 + 2.5 - 2.0))
    assert with_emptying_credits(base, {}) is base


def _branch_into_a_softmax_chain():
    """stem + [conv a -> relu -> conv b -> softmax -> square]: emptying a's channels
    leaves conv b a constant, and everything after it with it."""
    b = GraphBuilder("branch_chain", 17, 1)
    stem = b.relu(b.conv(b.input("x", 3, (16, 16)), 8, hint="stem"))
    inner = b.relu(b.conv(stem, 4, hint="inner"))
    t = b.softmax(b.conv(inner, 8, k=1, hint="proj"), axis=1)
    chain = b.mul(t, t)
    out = b.relu(b.conv(b.add(stem, chain), 8, hint="post"))
    b.output(b.gemm(b.flatten(b.gap(out)), 4))
    return from_proto(b.build())


def test_a_branch_folded_to_a_constant_is_credited_to_the_group_that_empties_it():
    model = _branch_into_a_softmax_chain()
    groups = analyze(model)
    lut = build_lut(model, get_target("cpu"), sampling=QUICK_SAMPLING)
    cost_model = LutCostModel(lut, groups)
    problem = build_problem(groups, cost_model, {g.id: np.ones(g.size) for g in groups.prunable()}, 0.0)
    credits = emptying_credits(problem, groups, lambda plan: pruned_structure(model, plan, groups), cost_model)
    inner = next(g for g in groups.prunable() if any(m.tensor.startswith("inner") for m in g.members))
    assert int(problem.counts[inner.id][0]) == 0  # the branch may be emptied
    credited = credits[inner.id]
    ops = {groups.graph.nodes_by_name[n].op_type for n in credited}
    assert "Mul" in ops  # the chain's square reads no layer's output: priced by the profile alone
    assert all(ms > 0 for ms in credited.values())
    outputs = {o for n in credited for o in groups.graph.nodes_by_name[n].outputs}
    assert not any(o.startswith(("stem", "post")) for o in outputs)  # the trunk still runs
    credited_problem = with_emptying_credits(problem, credits)
    emptied = dict(problem.full(), **{inner.id: 0})
    assert credited_problem.cost(emptied) == pytest.approx(problem.cost(emptied) - sum(credited.values()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_structure_is_what_the_rewrite_writes(grouped, seed):
    """Node for node and initializer for initializer (names and dims), with the
    initializers the plan does not slice left without their data."""
    from halp_graph.testing import random_plan
    model, groups = grouped("resnet18")
    plan = random_plan(groups, seed=seed, p_touch=1.0)
    full = prune_channels(model, plan, groups).proto
    shell = pruned_structure(model, plan, groups)
    assert [(n.op_type, list(n.input), list(n.output)) for n in shell.graph.node] == \
           [(n.op_type, list(n.input), list(n.output)) for n in full.graph.node]
    assert [(t.name, list(t.dims)) for t in shell.graph.initializer] == \
           [(t.name, list(t.dims)) for t in full.graph.initializer]
    original = {t.name for t in model.proto.graph.initializer}
    untouched = [t for t in shell.graph.initializer if t.name in original]
    assert untouched and not any(t.raw_data or t.float_data for t in untouched)  # stand-ins: no weights copied
