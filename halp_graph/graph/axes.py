"""The vocabulary channel rules speak: axes of tensors, spans of channels on them, ties.

A channel rule looks at one op and says which channel axes of its inputs and outputs are
the same channels (a `Tie` between two `Span`s), which it cannot map (a freeze with a
reason), and which must be pruned in equal blocks (a grouped conv). Grouping turns the
ties of all ops into coupled channel groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class AxisKey:
    """One axis of one tensor. Constants carry `use` ("node#slot") so that a parameter
    shared by two ops (a deduplicated bias) never couples those ops' channels."""

    tensor: str
    axis: int
    use: str | None = None

    @property
    def is_param(self) -> bool:
        return self.use is not None

    def __str__(self) -> str:
        base = f"{self.tensor}[axis {self.axis}]"
        return f"{base} (as used by {self.use.split('#')[0]})" if self.use else base


@dataclass(frozen=True)
class Span:
    """`count` channels on `key`: channel k occupies elements
    [start + k*block, start + (k+1)*block) of the axis."""

    key: AxisKey
    start: int
    count: int
    block: int = 1

    @property
    def stop(self) -> int:
        return self.start + self.count * self.block


@dataclass(frozen=True)
class Tie:
    """Channel k of `a` is channel k of `b`."""

    a: Span
    b: Span

    def __post_init__(self):
        if self.a.count != self.b.count:
            raise ValueError(f"tie between spans of different length: {self.a} / {self.b}")


@dataclass
class Outcome:
    """What a rule concluded about one op for one queried axis."""

    ties: list[Tie] = field(default_factory=list)
    freezes: list[tuple[AxisKey, str]] = field(default_factory=list)
    blocks: list[tuple[AxisKey, int]] = field(default_factory=list)

    def tie(self, a: Span, b: Span) -> "Outcome":
        self.ties.append(Tie(a, b))
        return self

    def freeze(self, key: AxisKey, reason: str) -> "Outcome":
        self.freezes.append((key, reason))
        return self

    def extend(self, other: "Outcome") -> "Outcome":
        self.ties += other.ties
        self.freezes += other.freezes
        self.blocks += other.blocks
        return self


class ShapeUnknown(Exception):
    """Raised inside a rule when a shape it needs was not inferred."""
