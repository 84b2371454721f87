"""The equivalence invariant, runnable: a pruned model must compute what the original
computes with every removed channel masked to zero (rtol 1e-4, atol 1e-5, float32).

`assert_equivalent` runs both in ONNX Runtime on the same random inputs and raises with
the largest error when they differ. `random_plan` draws plans that exercise the rewrite:
random subsets, single channels kept, and emptied branches where that is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import GroupSet, analyze, as_loaded
from .graph.capture_onnx import LoadedModel
from .plan import PruningPlan
from .runtime import random_inputs, session

RTOL, ATOL = 1e-4, 1e-5


@dataclass
class Comparison:
    max_abs: float
    max_rel: float
    ok: bool
    worst_output: str


def compare_outputs(names: list[str], a: list[np.ndarray], b: list[np.ndarray],
                    rtol: float = RTOL, atol: float = ATOL) -> Comparison:
    max_abs, max_rel, ok, worst, worst_excess = 0.0, 0.0, True, names[0] if names else "", -1.0
    for name, x, y in zip(names, a, b):
        if x.shape != y.shape:
            return Comparison(float("inf"), float("inf"), False, name)
        diff = np.abs(x.astype(np.float64) - y.astype(np.float64))
        if diff.size == 0:
            continue
        excess = float(np.max(diff - (atol + rtol * np.abs(y.astype(np.float64)))))
        max_abs = max(max_abs, float(diff.max()))
        max_rel = max(max_rel, float(np.max(diff / (np.abs(y) + atol))))
        if excess > worst_excess:
            worst, worst_excess = name, excess
        ok = ok and excess <= 0 and not np.isnan(diff).any()
    return Comparison(max_abs, max_rel, ok, worst)


def masked_reference(model, plan: PruningPlan, groups: GroupSet | None = None) -> LoadedModel:
    from halp_graph.passes import mask_channels
    return mask_channels(as_loaded(model), plan, groups)


class NotEquivalent(AssertionError):
    pass


def check_equivalence(original, pruned, plan: PruningPlan, groups: GroupSet | None = None,
                      rtol: float = RTOL, atol: float = ATOL, batch: int = 2,
                      seed: int = 0) -> Comparison:
    """Run the masked original and the pruned model on the same inputs and compare."""
    original = as_loaded(original)
    groups = groups or analyze(original)
    reference = masked_reference(original, plan, groups)
    feeds = random_inputs(original, batch=batch, seed=seed)
    ref_sess = session(reference)
    out_names = [o.name for o in ref_sess.get_outputs()]
    ref_out = ref_sess.run(None, feeds)
    got_sess = session(pruned)
    got_out = got_sess.run(out_names, feeds)
    return compare_outputs(out_names, got_out, ref_out, rtol, atol)


def assert_equivalent(original, pruned, plan: PruningPlan, groups: GroupSet | None = None,
                      rtol: float = RTOL, atol: float = ATOL, batch: int = 2, seed: int = 0) -> float:
    """Raise NotEquivalent unless the invariant holds; returns the largest absolute error."""
    result = check_equivalence(original, pruned, plan, groups, rtol, atol, batch, seed)
    if not result.ok:
        raise NotEquivalent(f"pruned model differs from the masked original on output "
                            f"{result.worst_output!r}: max abs error {result.max_abs:.3g}, "
                            f"max rel error {result.max_rel:.3g} (rtol {rtol}, atol {atol})")
    return result.max_abs


def random_plan(groups: GroupSet, seed: int = 0, p_touch: float = 0.7, p_empty: float = 0.15,
                p_single: float = 0.1) -> PruningPlan:
    """A random valid plan: each prunable group is left alone, emptied (when not a cut),
    cut to one kept channel per block, or cut to a random subset respecting its blocks."""
    rng = np.random.default_rng(seed)
    keep = {}
    for g in groups.prunable():
        if rng.random() > p_touch:
            continue
        per = g.size // g.blocks
        r = rng.random()
        if r < p_empty and not g.cut:
            keep[g.id] = []
            continue
        if r < p_empty + p_single:
            count = 1
        else:
            count = int(rng.integers(1, per + 1))
        step = g.divisor // np.gcd(g.divisor, g.blocks) if g.divisor > 1 else 1
        count = max(step, count - count % step) if per >= step else per
        idx = []
        for b in range(g.blocks):
            idx += (b * per + np.sort(rng.choice(per, size=count, replace=False))).tolist()
        keep[g.id] = sorted(int(i) for i in idx)
    return PruningPlan(keep)
