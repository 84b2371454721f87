"""The latency lookup table: what was measured, where, and the file that keeps it.

A `LatencyLUT` holds one entry per distinct layer (signature + full channel pair): the
timed points and the staircase surface fitted through them. It records the target it
was built for and a fingerprint of where it was measured (backend and versions, device,
threads, precision, batch), and per model the measured dense latency and which entry
prices which layer. It is stored as JSON (`"schema": "halp_graph.lut/1"`).

Loading a table built for another target or on another device warns
(`LutTargetWarning`): numbers from a Xavier do not describe a laptop. A table that does
not cover every layer of a model is refused with TargetError when a cost model is asked
for: mixing measured and guessed layers would make the sum meaningless.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field

from ..errors import TargetError
from ..graph.groups import GroupSet
from ..onnx_io import write_text
from .cost import LutCostModel
from .subgraph import layer_specs
from .surface import Surface
from .timing import Timing

LUT_SCHEMA = "halp_graph.lut/1"
STATISTICS = ("median", "min")
FINGERPRINT_KEYS = ("backend", "versions", "provider", "device", "threads", "precision",
                    "batch", "estimate")


class LutTargetWarning(UserWarning):
    """A LUT is being used for a target or device other than the one it was built on."""


@dataclass
class LutEntry:
    key: str
    signature: dict
    describe: str
    family: str
    full: tuple[int, int]
    surface_json: dict
    points: dict[tuple[int, int], tuple[float, float]]  # (ci, co) -> (median ms, min ms)
    layers: list[str] = field(default_factory=list)
    validation: list[tuple[int, int, float, float]] = field(default_factory=list)
    layout_rate: float = 0.0  # ms per element of a layout conversion (ORT CPU's NCHWc)

    def __post_init__(self):
        self._surfaces: dict[str, Surface] = {}

    def surface(self, statistic: str = "median") -> Surface:
        if statistic not in self._surfaces:
            col = STATISTICS.index(statistic)
            points = {pair: values[col] for pair, values in self.points.items()}
            self._surfaces[statistic] = Surface.from_json(self.surface_json, points)
        return self._surfaces[statistic]

    def to_json(self) -> dict:
        return {"signature": self.signature, "describe": self.describe, "family": self.family,
                "full": list(self.full), "layers": self.layers, "surface": self.surface_json,
                "points": [[ci, co, _sig(med), _sig(mn)]
                           for (ci, co), (med, mn) in sorted(self.points.items())],
                "validation": [[ci, co, _sig(m), _sig(p)] for ci, co, m, p in self.validation],
                "layout_rate": _sig(self.layout_rate)}

    @classmethod
    def from_json(cls, key: str, data: dict) -> "LutEntry":
        points = {(int(p[0]), int(p[1])): (float(p[2]), float(p[3] if len(p) > 3 else p[2]))
                  for p in data["points"]}
        return cls(key, data["signature"], data.get("describe", ""), data.get("family", ""),
                   tuple(int(x) for x in data["full"]), data["surface"], points,
                   list(data.get("layers", [])),
                   [tuple(v) for v in data.get("validation", [])],
                   float(data.get("layout_rate", 0.0)))


@dataclass
class ModelRecord:
    """One model the table was built for: its measured dense latency, which entry prices
    which layer, what its kernels cost in context outside the layers (`context`, see
    backends/ort_profile.context_from_profile) and the whole-model calibration fitted on
    pruned copies of it (`calibration`, see halp_graph.pruning.lut_calibration)."""

    name: str
    dense: Timing | None
    layers: dict[str, str]  # layer name -> entry key
    context: dict = field(default_factory=dict)
    calibration: dict | None = None

    def to_json(self) -> dict:
        out = {"name": self.name, "dense": self.dense.to_json() if self.dense else None,
               "layers": self.layers}
        if self.context:
            out["context"] = self.context
        if self.calibration:
            out["calibration"] = self.calibration
        return out

    @classmethod
    def from_json(cls, data: dict) -> "ModelRecord":
        d = data.get("dense")
        dense = Timing(float(d["median_ms"]), float(d["min_ms"]), int(d.get("runs", 0)),
                       float(d.get("spread", 0.0))) if d else None
        return cls(data.get("name", ""), dense, dict(data.get("layers", {})),
                   dict(data.get("context") or {}), data.get("calibration") or None)


class LatencyLUT:
    """Measured layer costs for one target; see the module docstring."""

    def __init__(self, target: dict, fingerprint: dict, entries: dict[str, LutEntry] | None = None,
                 models: dict[str, ModelRecord] | None = None, meta: dict | None = None,
                 statistic: str = "median"):
        if statistic not in STATISTICS:
            raise TargetError(f"statistic must be one of {', '.join(STATISTICS)}")
        self.target = target
        self.fingerprint = fingerprint
        self.entries = entries or {}
        self.models = models or {}
        self.meta = meta or {}
        self.statistic = statistic
        self.path: str | None = None

    # ------------------------------------------------------------ queries
    @property
    def is_estimate(self) -> bool:
        return bool(self.fingerprint.get("estimate"))

    def entry_for(self, key: str) -> LutEntry | None:
        return self.entries.get(key)

    def record_for(self, groups: GroupSet) -> ModelRecord | None:
        return self.models.get(model_digest(groups))

    def missing_layers(self, groups: GroupSet) -> list[str]:
        """Layers of the model that no entry prices (empty: the LUT covers the model)."""
        specs = layer_specs(groups, batch=self.target.get("batch"))
        return [name for name, spec in specs.items() if spec.entry_key() not in self.entries]

    def covers(self, groups: GroupSet) -> bool:
        return not self.missing_layers(groups)

    def cost_model(self, groups: GroupSet, dense_ms: float | None = None,
                   statistic: str | None = None, calibrated: bool = True):
        """A CostModel (halp_graph.cost_model) pricing `groups`' layers from this table
        (with the model's calibration where it has one, unless `calibrated` is False)."""
        return LutCostModel(self, groups, dense_ms=dense_ms, statistic=statistic or self.statistic,
                            calibrated=calibrated)

    # --------------------------------------------------------- target check
    def check_target(self, target, current_fingerprint: dict | None = None) -> list[str]:
        """Differences between where this LUT was built and `target` (and, given, the
        fingerprint of the backend that would measure it now); warns when there are any."""
        differences = []
        want = target.to_json()
        for key in ("name", "backend", "precision", "batch", "threads", "provider", "device"):
            have = self.target.get(key)
            if have is not None and want.get(key) is not None and have != want[key]:
                differences.append(f"{key} {have!r} (LUT) vs {want[key]!r} (target)")
        if current_fingerprint:  # where it would be measured now: device and versions
            for key in ("device", "versions", "provider", "estimate"):
                have, now = self.fingerprint.get(key), current_fingerprint.get(key)
                if have is not None and now is not None and have != now:
                    differences.append(f"{key} {have!r} (LUT) vs {now!r} (here)")
        if differences:
            where = self.path or "the LUT"
            warnings.warn(f"{where} was built for another target: " + "; ".join(differences),
                          LutTargetWarning, stacklevel=2)
        return differences

    # ----------------------------------------------------------------- io
    def to_json(self) -> dict:
        return {"schema": LUT_SCHEMA, "target": self.target, "fingerprint": self.fingerprint,
                "statistic": self.statistic, "meta": self.meta,
                "models": {k: m.to_json() for k, m in self.models.items()},
                "entries": {k: e.to_json() for k, e in self.entries.items()}}

    def save(self, path: str | os.PathLike, *, force: bool = False, inputs: tuple = ()) -> str:
        write_text(os.fspath(path), json.dumps(self.to_json(), indent=1) + "\n",
                   inputs=inputs, force=force)
        self.path = os.fspath(path)
        return self.path

    @classmethod
    def from_json(cls, data: object, source: str = "LUT") -> "LatencyLUT":
        if not isinstance(data, dict) or data.get("schema") != LUT_SCHEMA:
            schema = data.get("schema") if isinstance(data, dict) else None
            raise TargetError(f"{source}: not a halp_graph latency table "
                              f"(schema {schema!r}, expected {LUT_SCHEMA!r})")
        try:
            entries = {k: LutEntry.from_json(k, e) for k, e in data["entries"].items()}
            models = {k: ModelRecord.from_json(m) for k, m in data.get("models", {}).items()}
            lut = cls(dict(data["target"]), dict(data["fingerprint"]), entries, models,
                      dict(data.get("meta", {})), data.get("statistic", "median"))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise TargetError(f"{source}: malformed latency table ({type(exc).__name__}: {exc})") from None
        return lut

    @classmethod
    def load(cls, path: str | os.PathLike, target=None) -> "LatencyLUT":
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise TargetError(f"{path}: no such LUT file") from None
        except IsADirectoryError:
            raise TargetError(f"{path}: is a directory, expected a LUT JSON file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TargetError(f"{path}: not a valid LUT (not JSON: {exc})") from None
        except OSError as exc:
            raise TargetError(f"{path}: cannot read the LUT ({exc.strerror})") from None
        lut = cls.from_json(data, source=path)
        lut.path = path
        if target is not None:
            lut.check_target(target)
        return lut

    def summary(self) -> dict:
        points = sum(len(e.points) for e in self.entries.values())
        errors = [abs(p - m) / m for e in self.entries.values() for _, _, m, p in e.validation if m > 0]
        errors.sort()
        return {"entries": len(self.entries), "points": points, "models": len(self.models),
                "validation_points": len(errors),
                "validation_median_error": errors[len(errors) // 2] if errors else None,
                "validation_max_error": errors[-1] if errors else None}


def _sig(ms: float) -> float:
    """Milliseconds to 7 significant digits (far below any timing's noise)."""
    return float(f"{ms:.7g}")


def model_digest(groups: GroupSet) -> str:
    """Identifies a model's structure (ops and shapes, not weights): the key of its record."""
    h = hashlib.sha1()
    for node in groups.graph.nodes:
        shapes = [groups.graph.shape(o) for o in node.outputs]
        h.update(f"{node.op_type}:{shapes};".encode())
    return h.hexdigest()[:16]


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
