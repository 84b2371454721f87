"""Errors of the torch twin: a graph it cannot express, or a twin that disagrees with ORT."""

from __future__ import annotations

from ..errors import HalpError


class TwinUnsupported(HalpError):
    """The model uses ops (or op variants) the twin has no implementation for.

    `ops` is the sorted list of op types at fault; `details` says what about each one,
    for ops that are implemented but not in the variant the model uses (Resize cubic...).
    """

    exit_code = 5

    def __init__(self, ops, details: dict[str, str] | None = None):
        self.ops = sorted(set(ops))
        self.details = dict(details or {})
        extra = "; ".join(f"{op}: {why}" for op, why in sorted(self.details.items()))
        super().__init__(f"no torch twin: ops {self.ops} have no implementation"
                         + (f" ({extra})" if extra else ""))


class TwinMismatch(HalpError):
    """The twin's outputs differ from ONNX Runtime's beyond the tolerance."""

    exit_code = 5


class OpVariantUnsupported(Exception):
    """Raised by an op's builder for an attribute combination it cannot express;
    build_twin collects these into one TwinUnsupported."""
