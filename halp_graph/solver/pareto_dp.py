"""Exact search for the best choice: DP over the elimination tree with (cost, value) fronts.

Each bucket of the elimination tree (see elimination.py) passes up, for every assignment
of the variables it shares with the rest of the graph, the Pareto front of its subtree:
the (cost, value) pairs no other choice in the subtree beats on both. Combining the
fronts of a bucket's children is a Minkowski sum followed by dominance pruning, so the
root's front holds the best value for every reachable cost, and the best point within
the budget is the optimum.

Fronts of real networks would be far too large on their own; what keeps them small is
the Lagrangian bound. With the price lam from lagrangian.py, a partial choice whose value
minus lam times its cost, plus the best the rest of the graph can add at that price (the
elimination tree's outside messages), plus lam times the budget, falls below the best
feasible value already known (the incumbent), or below any higher `floor` the caller
asks for, cannot be completed into anything better, and is dropped. The search finds the
best choice whose value reaches the floor, so a caller can start with a floor just under
the bound (few points survive) and lower it towards the incumbent only if nothing reaches
it: the first choice found is the optimum.

Costs are the normalised sums of the factor tables; the answer is re-checked with the
exact predicted cost, and a point over budget by rounding is passed over for the next.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .elimination import EliminationTree
from .factor_graph import KnapsackFactors
from .problem import Problem

TOLERANCE = 1e-9  # on normalised values and costs: keep anything this close to the bounds
PRICE_MULTIPLIERS = (1.0, 0.5, 0.75, 0.9, 1.1, 1.3, 2.0)  # of the Lagrangian price; first = pairing
FLOOR_STEPS = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0)  # floors: bound - step * (bound - incumbent)


class FrontTooLarge(Exception):
    """The fronts grew past the allowed number of points (or the deadline passed)."""


@dataclass
class _Front:
    cost: np.ndarray  # ascending
    value: np.ndarray
    choice: np.ndarray  # the bucket variable's value index, per point
    links: np.ndarray  # (points, children): the point of each child's front it extends


def _prune_dominated(cost, value, *payload):
    order = np.argsort(cost, kind="stable")
    cost, value = cost[order], value[order]
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(value)[:-1]])
    keep = value > best_before
    return (cost[keep], value[keep]) + tuple(p[order][keep] for p in payload)


class _Search:
    def __init__(self, problem: Problem, price: float, max_points: int, deadline: float):
        self.problem = problem
        self.factors = KnapsackFactors(problem)
        self.factors.price_layers()
        self.tree = EliminationTree(self.factors.domains, self.factors.factors)
        self.price = price
        # bounds at several prices: each is valid, their minimum is much tighter for
        # partial choices whose cost strays from where price is tangent
        self.prices = np.array([price * m for m in PRICE_MULTIPLIERS])
        passes = [self.tree.passes(lam) for lam in self.prices]
        self.up = passes[0][0]
        self.ups = {v: np.stack([np.asarray(p[0][v]) for p in passes], axis=-1) for v in self.tree.order}
        self.outsides = {v: np.stack([np.asarray(p[1][v]) for p in passes], axis=-1) for v in self.tree.order}
        self.capacity = (problem.budget - problem.base_cost()) / self.factors.cost_scale
        self.floor = -np.inf
        self.max_points, self.deadline, self.points = max_points, deadline, 0
        self.fronts: dict = {}
        self._cost_floors()

    def _cost_floors(self) -> None:
        """Least cost outside each subtree: the sum of every other bucket's least cost."""
        least = {}
        for v in self.tree.order:
            _, cost, hard = self.tree.bucket_tables(v)
            if cost is None:
                least[v] = 0.0
                continue
            allowed = cost if hard is None else np.where(np.isneginf(hard), np.inf, cost)
            least[v] = float(allowed.min()) if np.isfinite(allowed.min()) else 0.0
        inside = {}
        for v in self.tree.order:  # children come before their parents
            inside[v] = least[v] + sum(inside[c] for c in self.tree.children[v])
        total = sum(inside[v] for v in self.tree.order if self.tree.parent[v] is None)
        self.cost_outside = {v: total - inside[v] for v in self.tree.order}

    def _grow(self, count: int) -> None:
        self.points += count
        if self.points > self.max_points:
            raise FrontTooLarge(f"more than {self.max_points} front points")
        if time.perf_counter() > self.deadline:
            raise FrontTooLarge("its share of the time limit ran out")

    def bucket(self, v) -> None:
        tree = self.tree
        clique = tree.cliques[v]
        children = tree.children[v]
        positions = [[clique.index(u) for u in tree.cliques[c][1:]] for c in children]
        value_t, cost_t, hard_t = tree.bucket_tables(v)
        shape = tuple(self.factors.domains[u] for u in clique)
        fronts = {}
        for s in np.ndindex(*shape[1:]):
            outside = self.outsides[v][s]  # per price
            if outside[0] == -np.inf:
                continue
            parts = []
            for x in range(shape[0]):
                index = (x,) + s
                if hard_t is not None and hard_t[index] == -np.inf:
                    continue
                part = self._extend(index, children, positions, outside,
                                    0.0 if cost_t is None else float(cost_t[index]),
                                    0.0 if value_t is None else float(value_t[index]), v)
                if part is not None:
                    parts.append(part)
            if parts:
                cost = np.concatenate([p[0] for p in parts])
                value = np.concatenate([p[1] for p in parts])
                choice = np.concatenate([p[2] for p in parts])
                links = np.concatenate([p[3] for p in parts])
                cost, value, choice, links = _prune_dominated(cost, value, choice, links)
                fronts[s] = _Front(cost, value, choice, links)
        self.fronts[v] = fronts

    def _extend(self, index, children, positions, outside, cost0, value0, v):
        lam = self.price
        child_keys = [tuple(index[p] for p in pos) for pos in positions]
        child_fronts = []
        for c, key in zip(children, child_keys):
            front = self.fronts[c].get(key)
            if front is None:
                return None
            child_fronts.append(front)
        rest_up = sum((self.ups[c][key] for c, key in zip(children, child_keys)), np.zeros(len(self.prices)))
        rest_cost = sum(float(f.cost[0]) for f in child_fronts)
        cost, value = np.array([cost0]), np.array([value0])
        links = np.zeros((1, 0), dtype=np.int64)
        for c, key, front in zip(children, child_keys, child_fronts):
            rest_up = rest_up - self.ups[c][key]
            rest_cost -= float(front.cost[0])
            # pair each point only with the child's points that keep the bound at the first
            # price above the floor: sort those by value - lam * cost and take a prefix
            gain = front.value - lam * front.cost
            order = np.argsort(-gain, kind="stable")
            need = self.floor - (value - lam * cost) - rest_up[0] - outside[0] - lam * self.capacity
            counts = np.searchsorted(-gain[order], -need, side="right")
            total = int(counts.sum())
            if not total:
                return None
            self._grow(total)
            first = np.repeat(np.arange(len(cost)), counts)
            second = order[np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)]
            cost = cost[first] + front.cost[second]
            value = value[first] + front.value[second]
            links = np.concatenate([links[first], second[:, None]], axis=1)
            keep = self._promising(cost, value, rest_up + outside) \
                & (cost + rest_cost + self.cost_outside[v] <= self.capacity + TOLERANCE)
            cost, value, links = _prune_dominated(cost[keep], value[keep], links[keep])
            if not len(cost):
                return None
        keep = self._promising(cost, value, outside) \
            & (cost + self.cost_outside[v] <= self.capacity + TOLERANCE)
        if not keep.any():
            return None
        return cost[keep], value[keep], np.full(int(keep.sum()), index[0]), links[keep]

    def _promising(self, cost, value, rest) -> np.ndarray:
        """Whether each partial choice can still reach the floor, by the bound at every
        price: value - lam * cost + (best of the rest at lam) + lam * budget."""
        bound = value[:, None] - cost[:, None] * self.prices + (rest + self.prices * self.capacity)
        return bound.min(axis=1) >= self.floor

    def best(self, floor: float) -> dict[str, int] | None:
        """The best choice within budget whose kept saliency is at least `floor`, or None."""
        self.floor = floor / self.factors.value_scale - TOLERANCE
        self.fronts, self.points = {}, 0
        for v in self.tree.order:
            self.bucket(v)
        roots = [v for v in self.tree.order if self.tree.parent[v] is None]
        cost, value = np.array([0.0]), np.array([0.0])
        links = np.zeros((1, 0), dtype=np.int64)
        for r in roots:
            front = self.fronts[r].get(())
            if front is None:
                return None
            self._grow(len(cost) * len(front.cost))
            cost = (cost[:, None] + front.cost[None, :]).ravel()
            value = (value[:, None] + front.value[None, :]).ravel()
            links = np.concatenate([np.repeat(links, len(front.cost), axis=0),
                                    np.tile(np.arange(len(front.cost)), len(links))[:, None]], axis=1)
            cost, value, links = _prune_dominated(cost, value, links)
        fits = np.flatnonzero((cost <= self.capacity + TOLERANCE) & (value >= self.floor))
        for i in fits[np.argsort(-value[fits], kind="stable")]:
            assignment = {}
            for r, point in zip(roots, links[i]):
                self._assign(r, (), int(point), assignment)
            counts = self.factors.counts(assignment)
            if self.problem.within_budget(self.problem.cost(counts)):
                return counts
        return None

    def _assign(self, v, key, point, assignment) -> None:
        front = self.fronts[v][key]
        x = int(front.choice[point])
        assignment[v] = x
        index = (x,) + key
        for k, c in enumerate(self.tree.children[v]):
            child_key = tuple(index[self.tree.cliques[v].index(u)] for u in self.tree.cliques[c][1:])
            self._assign(c, child_key, int(front.links[point, k]), assignment)


def pareto_optimum(problem: Problem, incumbent: dict[str, int], bound: float, price: float,
                   max_points: int = 5_000_000, time_limit: float = 10.0) -> dict[str, int]:
    """The optimal choice, given a feasible `incumbent`, an upper `bound` on the optimum
    and the Lagrangian `price` of that bound. Searches for choices worth at least a floor
    set just under the bound, lowering it towards the incumbent while nothing reaches it
    (a high floor prunes hard; the first choice found is the optimum). Raises
    FrontTooLarge past `max_points` front points in one search, or `time_limit` seconds."""
    search = _Search(problem, price, max_points, time.perf_counter() + time_limit)
    incumbent_value = problem.value(incumbent)
    gap = bound - incumbent_value
    for step in FLOOR_STEPS:
        found = search.best(max(incumbent_value, bound - step * gap))
        if found is not None:
            return found if problem.value(found) > incumbent_value else incumbent
    return incumbent
