"""Test helpers: `random_plan` draws plans that exercise the rewrite (random subsets,
single channels kept, and emptied branches where that is allowed).

The equivalence check itself lives in `halp_graph.equivalence` (library code imports it
from there); its names are re-exported here, with the runtime helpers the tests use, so
that `from halp_graph.testing import assert_equivalent` keeps working.
"""

from __future__ import annotations

import numpy as np

from .equivalence import (ATOL, RTOL, VACUOUS_BELOW, Comparison, NotEquivalent,  # noqa: F401
                          OutputComparison, assert_equivalent, check_equivalence, compare_outputs,
                          masked_reference)
from .graph import GroupSet
from .plan import PruningPlan
from .runtime import random_inputs, session  # noqa: F401


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
