"""The knapsack's objective and cost as a factor graph for bucket elimination.

Variables: one per group (its option index) and one per partial sum of an axis made of
several groups (a Concat): ("sum", ((g1, m1), ..., (gk, mk))) holds the index of
m1*count(g1) + ... + mk*count(gk) among its reachable values, tied to the previous
partial sum and gk by a hard factor. Axes that share a leading run of groups (DenseNet's
growing concats) share those partial sums, which keeps the tree decomposition narrow.

Factors: each group's value (normalised by the total saliency) and each layer's cost
(normalised by the dense cost) over the one or two variables its axes read. Cost tables
are only priced by `price_layers`, so the graph's width can be checked first.
"""

from __future__ import annotations

import numpy as np

from .elimination import Factor
from .problem import Problem, Side, Term


def group_var(g: str) -> tuple:
    return ("group", g)


class KnapsackFactors:
    """`domains` (variable -> number of values) and `factors` of one Problem; variables
    are group_var(g) for groups and ("sum", prefix) for partial sums of an axis."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.value_scale = problem.max_value() or 1.0
        self.cost_scale = max(abs(problem.dense_cost), 1e-300)
        self.domains: dict = {}
        self.factors: list[Factor] = []
        self._elements: dict = {}  # variable -> elements (or partial sums) per value index
        for g, counts in problem.counts.items():
            var = group_var(g)
            self.domains[var] = len(counts)
            self.factors.append(Factor((var,), value=problem.values[g] / self.value_scale))
        self._pricing: list = []  # (factor, term, input elements, output elements, joint)
        for term in problem.terms:
            self._add_term(term)

    def scopes(self) -> list[tuple]:
        return [f.scope for f in self.factors]

    def price_layers(self) -> None:
        """Fill in every layer's cost table (evaluating the cost model)."""
        for factor, term, ins, outs, joint in self._pricing:
            if joint and term.table is not None:
                table = np.asarray(term.table([int(i) for i in ins], [int(j) for j in outs]), dtype=float)
            elif joint:
                table = np.array([[term(int(i), int(j)) for j in outs] for i in ins])
            else:
                table = np.array([term(int(i), int(j)) for i, j in zip(ins, outs)])
            factor.cost = table / self.cost_scale
        self._pricing = []

    def _group_elements(self, g: str, per: int) -> np.ndarray:
        return per * self.problem.counts[g]

    def _prefix_var(self, groups: tuple) -> tuple:
        """Variable holding the kept elements of the groups in `groups`, and its values."""
        if len(groups) == 1:
            g, per = groups[0]
            var = group_var(g)
            return var, self._group_elements(g, per)
        var = ("sum", groups)
        if var in self._elements:
            return var, self._elements[var]
        prev, prev_sums = self._prefix_var(groups[:-1])
        g, per = groups[-1]
        options = self._group_elements(g, per)
        combined = prev_sums[:, None] + options[None, :]
        sums = np.unique(combined)
        self.domains[var] = len(sums)
        index = np.searchsorted(sums, combined)
        hard = np.full((len(prev_sums), len(options), len(sums)), -np.inf)
        i, j = np.indices(combined.shape)
        hard[i, j, index] = 0.0
        self.factors.append(Factor((prev, group_var(g), var), hard=hard))
        self._elements[var] = sums
        return var, sums

    def _side(self, side: Side):
        if not side.groups:
            return None, np.array([side.fixed])
        var, elements = self._prefix_var(side.groups)
        return var, side.fixed + elements

    def _add_term(self, term: Term) -> None:
        if not term.group_ids():
            return
        a, ea = self._side(term.inputs)
        b, eb = self._side(term.outputs)
        if a is None or b is None or a == b:
            # one variable decides both axes (one may be constant): a single-variable cost
            var = b if a is None else a
            n = self.domains[var]
            factor = Factor((var,))
            self._pricing.append((factor, term, np.broadcast_to(ea, (n,)), np.broadcast_to(eb, (n,)), False))
        else:
            factor = Factor((a, b))
            self._pricing.append((factor, term, ea, eb, True))
        self.factors.append(factor)

    def counts(self, assignment: dict) -> dict[str, int]:
        """Kept counts from an assignment of the variables."""
        return {g: int(self.problem.counts[g][assignment[group_var(g)]]) for g in self.problem.counts}
