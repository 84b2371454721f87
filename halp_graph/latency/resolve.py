"""Choosing the cost model for a model and a target: measured LUT first, estimate second.

`cost_model_for` looks through the given LUT files for one built for the target that
covers every layer of the model and returns its cost model. When none does and the target
is a device with an analytic profile, it builds an analytic estimate on the spot (cheap:
nothing is run) and says so with a warning; for a measuring-only target (`cpu`) it raises
TargetError, since guessing a CPU's latency would defeat the purpose.
"""

from __future__ import annotations

import warnings

from ..errors import TargetError
from ..graph.groups import GroupSet
from .backends import EstimateWarning
from .build import build_lut
from .lut import LatencyLUT


def load_lut(path, target=None) -> LatencyLUT:
    """Read a LUT file (TargetError when it is not one); warns when `target` differs from
    the one it was built for."""
    return LatencyLUT.load(path, target=target)


def cost_model_for(groups: GroupSet, target, lut_paths=(), model=None):
    """The best cost model for `groups` on `target` (see the module docstring). `model`
    (path or LoadedModel) is needed only to estimate the dense latency analytically."""
    reasons = []
    for path in lut_paths:
        lut = load_lut(path, target=target)
        missing = lut.missing_layers(groups)
        if missing:
            reasons.append(f"{path} misses {len(missing)} layers")
            continue
        if lut.record_for(groups) is None:
            reasons.append(f"{path} has no dense latency for this model")
            continue
        return lut.cost_model(groups)
    if not target.profile:
        why = "; ".join(reasons) or "no LUT given"
        raise TargetError(f"target {target.name} needs a measured LUT covering the model ({why}); "
                          f"build one with `python -m halp_graph lut build MODEL --target {target.name}`")
    if model is None:
        raise TargetError(f"no LUT covers the model for target {target.name}; pass the model to "
                          f"estimate it from the {target.profile} profile")
    warnings.warn(f"no measured LUT covers the model for target {target.name}"
                  + (f" ({'; '.join(reasons)})" if reasons else "")
                  + f": using the analytic {target.profile} estimate", EstimateWarning, stacklevel=2)
    lut = build_lut(model, target.with_overrides(backend="analytic"))
    return lut.cost_model(groups)
