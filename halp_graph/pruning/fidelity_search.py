"""The fastest plan that keeps a top-1 agreement: a search over latency budgets.

Each probe solves the knapsack at a predicted-latency budget, rewrites, reconstructs (when
the run does) and measures agreement on the held-out data; bisection narrows the budget
between the largest one that failed and the smallest one that kept the agreement (the
dense model keeps all of it). Agreement is not guaranteed to fall monotonically with the
budget, so every probe is reported. The kept plan is timed on the target at the end
(when it can be timed here), interleaved with the dense model.
"""

from __future__ import annotations

from ..solver import make_plan, solve_problem
from .closed_loop import Round, DenseTimer

PROBES = 8
FLOOR = 0.02  # of the dense predicted latency: the lowest budget tried


def fastest_keeping(problem, groups, scores, rewrite, recover, probe, min_agreement: float, target,
                    dense_model, measurable: bool, method: str, time_limit: float, measure_rounds: int,
                    log, floor: float = FLOOR, probes: int = PROBES, profiles=None):
    """(chosen round, probe rounds, search record); the chosen round is the dense model's
    plan (nothing removed) when no probe kept the agreement."""
    dense_pred = problem.dense_cost
    rounds: list[Round] = []
    lo, hi = floor, 1.0
    best: Round | None = None
    for index in range(1, probes + 1):
        fraction = (lo + hi) / 2
        r = _probe(index, fraction * dense_pred, problem, groups, scores, rewrite, recover, probe, method,
                   time_limit)
        rounds.append(r)
        agreement = r.fidelity["final"]["agreement"] if r.fidelity else None
        kept = agreement is not None and agreement >= min_agreement
        log(f"search {index}: budget {fraction:.3f} of predicted dense, "
            + (f"agreement {100 * agreement:.1f}%" if agreement is not None else "no plan fits")
            + (" (keeps it)" if kept else ""))
        if kept:
            hi = fraction
            if best is None or r.predicted_ms < best.predicted_ms:
                best = r
        else:
            lo = fraction
    search = {"min_agreement": min_agreement, "probes": [_probe_json(r) for r in rounds]}
    if best is None:
        search["fidelity"] = {"before_reconstruction": None, "final": None}
        search["found"] = False
        return _dense_round(problem, groups, scores, dense_model), rounds, search
    search["found"] = True
    search["fidelity"] = best.fidelity  # both stages; the round keeps the rewrite's, as loop rounds do
    best.fidelity = best.fidelity["before_reconstruction"]
    if measurable:
        with DenseTimer(target, dense_model, profiles) as timer:
            dense_t, pruned_t = timer.measure(best.model, measure_rounds)
        best.measured_ms, best.measured_dense_ms = pruned_t.median_ms, dense_t.median_ms
        best.pairs.append((pruned_t.median_ms, dense_t.median_ms))
        best.achieved = pruned_t.median_ms / dense_t.median_ms
    else:
        best.achieved = best.predicted_ms / dense_pred
    best.on_target = True
    return best, rounds, search


def _probe(index, budget, problem, groups, scores, rewrite, recover, probe, method, time_limit) -> Round:
    result = solve_problem(problem.with_budget(budget), method=method, time_limit=time_limit)
    r = Round.solved(index, budget, result)
    if not result.feasible:
        return r
    r.plan = make_plan(groups, scores, result.counts)
    plain = rewrite(r.plan)
    before = probe.measure(plain)
    r.model, _ = recover(r.plan, plain)
    after = probe.measure(r.model) if r.model is not plain else before
    r.fidelity = {"before_reconstruction": before, "final": after}
    return r


def _probe_json(r: Round) -> dict:
    final = r.fidelity["final"] if r.fidelity else None
    return {"budget_ms": r.budget_ms, "predicted_ms": r.predicted_ms, "status": r.status,
            "agreement": final["agreement"] if final else None}


def _dense_round(problem, groups, scores, dense_model) -> Round:
    counts = problem.full()
    r = Round(0, problem.dense_cost, "dense", problem.dense_cost, problem.max_value(), problem.max_value(),
              0.0, counts)
    r.plan = make_plan(groups, scores, counts)
    r.model = dense_model
    r.achieved = 1.0
    return r
