"""Bucket elimination gives the exact maximum and exact max-marginals of any small factor
graph (hard constraints, disconnected parts, any price), checked against enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from halp_graph.solver.elimination import EliminationTree, Factor, TooWide


def _random_graph(rng):
    n = int(rng.integers(1, 6))
    domains = {v: int(rng.integers(1, 4)) for v in range(n)}
    factors = [Factor((v,), value=rng.random(domains[v])) for v in range(n)]
    for _ in range(int(rng.integers(0, 7))):
        scope = tuple(rng.choice(n, size=int(rng.integers(1, min(3, n) + 1)), replace=False).tolist())
        shape = tuple(domains[v] for v in scope)
        hard = np.where(rng.random(shape) < 0.3, -np.inf, 0.0) if rng.random() < 0.3 else None
        factors.append(Factor(scope, value=rng.random(shape), cost=rng.random(shape), hard=hard))
    return domains, factors


def _enumerate(domains, factors, lam):
    best, marginals = -np.inf, {v: np.full(d, -np.inf) for v, d in domains.items()}
    for assignment in itertools.product(*(range(domains[v]) for v in sorted(domains))):
        total = 0.0
        for f in factors:
            idx = tuple(assignment[v] for v in f.scope)
            total += (f.value[idx] if f.value is not None else 0.0) \
                - lam * (f.cost[idx] if f.cost is not None else 0.0) \
                + (f.hard[idx] if f.hard is not None else 0.0)
        best = max(best, total)
        for v in domains:
            marginals[v][assignment[v]] = max(marginals[v][assignment[v]], total)
    return best, marginals


def _same(a, b):
    return np.allclose(np.where(np.isneginf(a), -1e300, a), np.where(np.isneginf(b), -1e300, b))


@pytest.mark.parametrize("seed", range(400))
def test_maximum_and_max_marginals_match_enumeration(seed):
    rng = np.random.default_rng(seed)
    domains, factors = _random_graph(rng)
    lam = float(rng.uniform(0, 2))
    best, marginals = _enumerate(domains, factors, lam)
    tree = EliminationTree(domains, factors)
    value, assignment = tree.solve(lam)
    assert _same(np.array(value), np.array(best))
    if np.isfinite(best):
        achieved = sum((f.value[tuple(assignment[v] for v in f.scope)] if f.value is not None else 0.0)
                       - lam * (f.cost[tuple(assignment[v] for v in f.scope)] if f.cost is not None else 0.0)
                       for f in factors)
        assert np.isclose(achieved, best)
    got = tree.max_marginals(lam)
    for v in domains:
        assert _same(got[v], marginals[v]), (v, got[v], marginals[v])


def test_too_wide_is_refused_before_any_work():
    domains = {v: 10 for v in range(4)}
    factors = [Factor((0, 1, 2, 3), value=np.zeros((10,) * 4))]
    with pytest.raises(TooWide):
        EliminationTree(domains, factors, max_table=1000)
