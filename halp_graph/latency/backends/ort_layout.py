"""Layout conversions of a layer timed alone, profiled on some pairs and scaled to the rest.

A layer cut out of a model pays two layout conversions at the edges of the cut
(ort_profile.py), which the backend leaves out of its time. Profiling a pair to learn
them costs a second session and eight runs, a quarter of a large layer's timing. The
conversions are plain copies, so they scale with the tensor they convert: the input
conversion with the input count, the output conversion with the output count. Which
conversions run at all depends on how the counts align with the kernel's channel
block (a misaligned count runs a plain-layout kernel with none), so a pair is only
scaled from profiled pairs of the same layer in the same alignment class, within
`reach` of it on both axes, and only once `quorum` such pairs are known; anything
else is profiled. Each profiled figure averages eight runs and scatters by a few per
cent from one profile to the next (a small layer's conversions can be half its time),
so a scaled figure is the median over the pairs within reach (at least the quorum):
one unlucky profile would otherwise bias every pair scaled from it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from .ort_profile import LAYOUT_OPS

INPUT_OP, OUTPUT_OP = LAYOUT_OPS
BLOCK = 16  # the widest channel block of ORT's CPU kernels (AVX-512: 16 floats)


def alignment_class(count: int) -> int:
    """Counts of one class align alike with any channel block up to BLOCK; counts below
    a block are each their own class (kernels special-case them)."""
    return count if count < BLOCK else math.gcd(count, BLOCK)


@dataclass
class LayoutEstimates:
    """Profiled layout conversions by layer signature and alignment class."""

    reach: float = 1.25  # scale from profiled pairs at most this far, as a count ratio
    quorum: int = 3  # profiled pairs within reach needed to scale
    profiled: dict[tuple, list[tuple[int, int, float, float]]] = field(default_factory=dict)
    scaled: int = 0

    def estimate(self, signature: str, ci: int, co: int) -> float | None:
        """Milliseconds of conversions for (ci, co): the median of the profiled pairs of
        its class within reach, each scaled to it; None where fewer than the quorum are
        (profile it then)."""
        near = []
        for ref_ci, ref_co, in_ms, out_ms in self.profiled.get(self._key(signature, ci, co), ()):
            a, b = ci / ref_ci, co / ref_co
            if max(a, 1 / a, b, 1 / b) <= self.reach:
                near.append(in_ms * a + out_ms * b)
        if len(near) < self.quorum:
            return None
        self.scaled += 1
        return statistics.median(near)

    def record(self, signature: str, ci: int, co: int, times: dict[str, float]) -> float:
        """Keep a profiled pair's conversions ({op type: ms}); returns their sum."""
        in_ms, out_ms = times.get(INPUT_OP, 0.0), times.get(OUTPUT_OP, 0.0)
        self.profiled.setdefault(self._key(signature, ci, co), []).append((ci, co, in_ms, out_ms))
        return in_ms + out_ms

    @staticmethod
    def _key(signature: str, ci: int, co: int) -> tuple:
        return signature, alignment_class(ci), alignment_class(co)
