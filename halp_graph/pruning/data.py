"""The data a prune run has: calibration samples, and held-out samples for fidelity.

With `--eval DATA`, fidelity is measured on it and all of `--calib` calibrates. Without
it, a seeded random share of the calibration samples (`holdout`, a quarter by default)
is held out for fidelity and never seen by saliency or reconstruction. Labels, when the
data has them, give accuracy on the held-out samples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import DataError
from ..samples import Samples, read_samples

HOLDOUT = 0.25


@dataclass
class PruneData:
    calib: Samples | None
    eval: Samples | None
    eval_source: str | None

    def to_json(self) -> dict:
        return {"calibration_samples": len(self.calib) if self.calib else 0,
                "eval_samples": len(self.eval) if self.eval else 0,
                "eval_source": self.eval_source,
                "labels": bool(self.eval is not None and self.eval.labels is not None)}


def prepare_data(proto, calib=None, eval_data=None, holdout: float = HOLDOUT, seed: int = 0) -> PruneData:
    if not 0 < holdout < 1:
        raise DataError(f"the held-out share must be in (0, 1), not {holdout}")
    calib_samples = read_samples(calib, proto, what="calibration data") if calib is not None else None
    if eval_data is not None:
        samples = read_samples(eval_data, proto, what="evaluation data")
        return PruneData(calib_samples, samples, _name(eval_data))
    if calib_samples is None:
        return PruneData(None, None, None)
    kept, held = calib_samples.split(holdout, seed)
    return PruneData(kept, held, f"{len(held)} samples held out of {_name(calib)}")


def _name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return "the given arrays"
