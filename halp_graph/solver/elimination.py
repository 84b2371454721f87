"""Exact max-sum over a factor graph by bucket elimination (a DP over a tree decomposition).

Every factor is a table over a few discrete variables, split into three parts that are
combined at solve time as  weight * value - lam * cost + hard  (hard holds 0 or -inf for
constraints such as "this axis keeps the sum of those groups"). Variables are eliminated
in a greedy min-weight order; eliminating v joins every table that mentions v into one
clique table and passes its maximum over v on to the next bucket. This gives, for any
lam, the exact maximiser (`solve`) and, with a second pass down the tree, every
variable's max-marginal (`max_marginals`): the best objective among assignments that fix
that variable to each of its values.

Time and memory are the summed clique table sizes, which `EliminationTree` computes
before doing any work, so a caller can refuse graphs whose tree decomposition is too wide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable

import numpy as np

Var = Hashable


@dataclass
class Factor:
    scope: tuple[Var, ...]
    value: np.ndarray | None = None
    cost: np.ndarray | None = None
    hard: np.ndarray | None = None


class TooWide(Exception):
    """The tree decomposition found has a clique table larger than allowed."""


def elimination_order(domains: dict[Var, int], scopes: list[tuple[Var, ...]],
                      max_table: float = float("inf")) -> list[Var]:
    """Greedy min-weight order: eliminate the variable whose clique table is smallest.
    Raises TooWide as soon as that smallest table has more than `max_table` entries."""
    neighbours: dict[Var, set] = {v: set() for v in domains}
    for scope in scopes:
        for v in scope:
            neighbours[v].update(u for u in scope if u != v)
    order, left = [], set(domains)
    while left:
        def weight(v):
            size = domains[v]
            for u in neighbours[v]:
                size *= domains[u]
            return size, len(neighbours[v])
        v = min(left, key=lambda u: (weight(u), str(u)))
        if weight(v)[0] > max_table:
            raise TooWide(f"clique of {len(neighbours[v]) + 1} variables with {weight(v)[0]} entries")
        order.append(v)
        left.discard(v)
        nb = neighbours.pop(v)
        for u in nb:
            neighbours[u].discard(v)
            neighbours[u].update(nb - {u})
    return order


def _align(scope: tuple[Var, ...], target: tuple[Var, ...], table: np.ndarray) -> np.ndarray:
    """`table` over `scope`, transposed and reshaped to broadcast against `target`."""
    axes = sorted(range(len(scope)), key=lambda i: target.index(scope[i]))
    moved = np.transpose(table, axes) if axes != list(range(len(scope))) else table
    shape = [1] * len(target)
    for i in axes:
        shape[target.index(scope[i])] = table.shape[i]
    return moved.reshape(shape)


class EliminationTree:
    def __init__(self, domains: dict[Var, int], factors: list[Factor], max_table: int = 20_000_000):
        self.domains = dict(domains)
        self.order = elimination_order(domains, [f.scope for f in factors], max_table)
        pos = {v: i for i, v in enumerate(self.order)}
        bucket_factors: dict[Var, list[Factor]] = {v: [] for v in self.order}
        for f in factors:
            if f.scope:
                bucket_factors[min(f.scope, key=pos.__getitem__)].append(f)
        incoming: dict[Var, list[tuple[Var, tuple]]] = {v: [] for v in self.order}
        self.cliques: dict[Var, tuple] = {}
        self.parent: dict[Var, Var | None] = {}
        self.children: dict[Var, list[Var]] = {v: [] for v in self.order}
        for v in self.order:
            members = {v}
            for f in bucket_factors[v]:
                members.update(f.scope)
            for _, scope in incoming[v]:
                members.update(scope)
            clique = (v,) + tuple(sorted(members - {v}, key=pos.__getitem__))
            self.cliques[v] = clique
            rest = clique[1:]
            self.parent[v] = rest[0] if rest else None
            if rest:
                incoming[rest[0]].append((v, rest))
                self.children[rest[0]].append(v)
        self.table_entries = sum(int(np.prod([self.domains[u] for u in c])) for c in self.cliques.values())
        self._value, self._cost, self._hard = {}, {}, {}
        for v in self.order:
            clique = self.cliques[v]
            shape = tuple(self.domains[u] for u in clique)
            for part, store in (("value", self._value), ("cost", self._cost), ("hard", self._hard)):
                total = None
                for f in bucket_factors[v]:
                    table = getattr(f, part)
                    if table is not None:
                        aligned = _align(f.scope, clique, np.asarray(table, dtype=float))
                        total = aligned if total is None else total + aligned
                store[v] = None if total is None else np.broadcast_to(total, shape).copy()

    # ---------------------------------------------------------------- passes
    def _upward(self, lam: float, weight: float, keep_beliefs: bool):
        messages, argmax, beliefs = {}, {}, {}
        total = 0.0
        for v in self.order:
            clique = self.cliques[v]
            belief = np.zeros(tuple(self.domains[u] for u in clique))
            if self._value[v] is not None and weight:
                belief += weight * self._value[v]
            if self._cost[v] is not None and lam:
                belief -= lam * self._cost[v]
            if self._hard[v] is not None:
                belief += self._hard[v]
            for child in self.children[v]:
                belief = belief + _align(self.cliques[child][1:], clique, messages[child])
            messages[v] = belief.max(axis=0)
            argmax[v] = belief.argmax(axis=0)
            if keep_beliefs:
                beliefs[v] = belief
            if self.parent[v] is None:
                total += float(messages[v])
        return total, messages, argmax, beliefs

    def solve(self, lam: float, weight: float = 1.0) -> tuple[float, dict[Var, int]]:
        """The maximum of weight*value - lam*cost (+hard) and one assignment attaining it."""
        total, _, argmax, _ = self._upward(lam, weight, keep_beliefs=False)
        assignment: dict[Var, int] = {}
        for v in reversed(self.order):
            rest = self.cliques[v][1:]
            assignment[v] = int(argmax[v][tuple(assignment[u] for u in rest)]) if rest else int(argmax[v])
        return total, assignment

    def max_marginals(self, lam: float, weight: float = 1.0) -> dict[Var, np.ndarray]:
        """For every variable and value, the maximum over assignments fixing it to that value."""
        _, _, full = self.passes(lam, weight)
        return {v: b.max(axis=tuple(range(1, b.ndim))) if b.ndim > 1 else b for v, b in full.items()}

    def passes(self, lam: float, weight: float = 1.0):
        """Both passes: (up, outside, full). up[v] (over the clique minus v) is the best of
        v's subtree, outside[v] the best of everything else, each as a function of the
        variables v's subtree shares with the rest; full[v] is the best total as a
        function of v's whole clique."""
        _, up, _, beliefs = self._upward(lam, weight, keep_beliefs=True)
        roots = [v for v in self.order if self.parent[v] is None]
        full: dict[Var, np.ndarray] = {}
        outside: dict[Var, np.ndarray] = {}
        for v in reversed(self.order):
            clique = self.cliques[v]
            p = self.parent[v]
            if p is None:  # the other trees of the forest add their own maxima
                outside[v] = np.array(sum(float(up[r]) for r in roots if r != v))
            else:
                lifted = _align(clique[1:], self.cliques[p], up[v])
                with np.errstate(invalid="ignore"):
                    rest = np.where(np.isneginf(lifted), -np.inf, full[p] - lifted)
                keep = [self.cliques[p].index(u) for u in clique[1:]]
                drop = tuple(i for i in range(len(self.cliques[p])) if i not in keep)
                outside[v] = rest.max(axis=drop) if drop else rest
            full[v] = beliefs[v] + _align(clique[1:], clique, outside[v]) if clique[1:] else beliefs[v] + outside[v]
        return up, outside, full

    def bucket_tables(self, v: Var) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """(value, cost, hard) of the factors placed in v's bucket, over v's clique."""
        return self._value[v], self._cost[v], self._hard[v]
