"""Input shapes given on the command line, and models with their inputs fixed to them.

Syntax, as onnxsim and onnxslim write it: `NAME:1,3,640,640`; Polygraphy's
`NAME:[1,3,640,640]` is accepted too. Several inputs of one model are separate words of
one `--input-shapes` option: `--input-shapes images:1,3,640,640 scale:1,2`. Given several
times, each occurrence is one shape profile, optionally weighted with a last word or
suffix `@W` (`--input-shapes x:1,3,640,640@0.7 --input-shapes x:1,3,320,320@0.3`);
weights are normalised to sum to one, and profiles without one share what the others
leave (equally, when none has a weight).

`fix_input_shapes` returns a copy of a model whose inputs have those dimensions, with
shapes inferred through the graph: what shape inference, timing and calibration run on.
A name the model has no input for, a wrong rank, a size that is not a positive integer,
or a size that contradicts a fixed dimension of the model gets one line (ShapeError,
exit 8; a spec that does not parse is a SettingsError, exit 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import onnx

from .errors import HalpError, SettingsError
from .graph.capture_onnx import LoadedModel

SPEC = re.compile(r"^(?P<name>.+):\[?(?P<dims>[^\[\]:]*)\]?$")


class ShapeError(HalpError):
    """Input shapes that do not fit the model (unknown input, wrong rank, bad size)."""

    exit_code = 8


@dataclass(frozen=True)
class ShapeProfile:
    shapes: dict[str, tuple[int, ...]]
    weight: float

    def label(self) -> str:
        return " ".join(f"{name}:{','.join(map(str, dims))}" for name, dims in self.shapes.items())

    def to_json(self) -> dict:
        return {"shapes": {k: list(v) for k, v in self.shapes.items()}, "weight": self.weight}


def parse_profile(words) -> tuple[dict[str, tuple[int, ...]], float | None]:
    """One occurrence of --input-shapes: ({name: dims}, weight or None)."""
    words = [w for w in ([words] if isinstance(words, str) else list(words)) if w.strip()]
    weight = None
    if words and "@" in words[-1]:
        last, _, w = words[-1].rpartition("@")
        weight = _weight(w)
        words = words[:-1] + ([last] if last else [])
    if not words:
        raise SettingsError("--input-shapes needs NAME:DIMS, e.g. images:1,3,640,640")
    shapes: dict[str, tuple[int, ...]] = {}
    for word in words:
        match = SPEC.match(word.strip())
        if not match:
            raise SettingsError(f"--input-shapes: cannot read {word!r}; write NAME:1,3,640,640")
        name, dims = match.group("name"), match.group("dims")
        if name in shapes:
            raise SettingsError(f"--input-shapes: input {name!r} is given twice in one profile")
        shapes[name] = _dims(name, dims)
    return shapes, weight


def parse_profiles(occurrences) -> list[ShapeProfile]:
    """Every --input-shapes occurrence (a list of word lists, or strings) as a profile with
    its normalised weight; [] when none was given."""
    if not occurrences:
        return []
    parsed = [parse_profile(o) for o in occurrences]
    given = [w for _, w in parsed if w is not None]
    rest = len(parsed) - len(given)
    total = sum(given)
    if rest == 0:
        weights = [w / total for _, w in parsed]
    else:
        if total >= 1 and given:
            raise SettingsError(f"--input-shapes: the weights given sum to {total:g}, leaving nothing "
                                f"for the {rest} profile(s) without one")
        share = (1 - total) / rest if given else 1 / rest
        weights = [w if w is not None else share for _, w in parsed]
    return [ShapeProfile(shapes, float(w)) for (shapes, _), w in zip(parsed, weights)]


def _weight(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"--input-shapes: weight {text!r} is not a number") from None
    if not value > 0:
        raise SettingsError(f"--input-shapes: weight must be positive, not {text}")
    return value


def _dims(name: str, text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    if not parts:
        raise SettingsError(f"--input-shapes: no dimensions for {name!r}")
    dims = []
    for p in parts:
        try:
            value = int(p)
        except ValueError:
            raise ShapeError(f"--input-shapes: input {name!r}: size {p!r} is not a positive integer") from None
        if value <= 0:
            raise ShapeError(f"--input-shapes: input {name!r}: size {value} is not a positive integer")
        dims.append(value)
    return tuple(dims)


def graph_inputs(proto: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    inits = {t.name for t in proto.graph.initializer}
    return {vi.name: vi for vi in proto.graph.input if vi.name not in inits}


def check_shapes(proto: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> None:
    inputs = graph_inputs(proto)
    for name, dims in shapes.items():
        if name not in inputs:
            raise ShapeError(f"--input-shapes: the model has no input {name!r} "
                             f"(inputs: {', '.join(inputs)})")
        model_dims = inputs[name].type.tensor_type.shape.dim
        if len(model_dims) != len(dims):
            raise ShapeError(f"--input-shapes: input {name!r} has rank {len(model_dims)}, "
                             f"not {len(dims)} as given ({','.join(map(str, dims))})")
        for axis, (d, value) in enumerate(zip(model_dims, dims)):
            if d.HasField("dim_value") and d.dim_value > 0 and d.dim_value != value:
                raise ShapeError(f"--input-shapes: input {name!r} has a fixed size {d.dim_value} on "
                                 f"axis {axis}, not {value}")


def fix_input_shapes(model: LoadedModel, shapes: dict[str, tuple[int, ...]]) -> LoadedModel:
    """A copy of `model` with the given inputs fixed to `shapes` and value shapes inferred
    again (stale intermediate shapes are dropped first, so nothing keeps a symbol; output
    shapes are inferred too, and keep their declaration, -1 read as unknown, only where
    inference cannot tell)."""
    check_shapes(model.proto, shapes)
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    inputs = graph_inputs(proto)
    for name, dims in shapes.items():
        shape = inputs[name].type.tensor_type.shape
        for d, value in zip(shape.dim, dims):
            d.Clear()
            d.dim_value = int(value)
    del proto.graph.value_info[:]
    declared = {}
    for out in proto.graph.output:  # inferred afresh: exporters declare -1, or even a wrong rank
        declared[out.name] = onnx.TypeProto()
        declared[out.name].CopyFrom(out.type)
        out.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception as exc:  # noqa: BLE001 - onnx raises several kinds here
        raise ShapeError(f"--input-shapes: shape inference failed at these shapes: "
                         f"{str(exc).splitlines()[0]}") from None
    for out in inferred.graph.output:  # what inference could not tell keeps its declaration
        if not out.type.tensor_type.HasField("shape"):
            out.type.CopyFrom(declared[out.name])
            for d in out.type.tensor_type.shape.dim:
                if d.HasField("dim_value") and d.dim_value <= 0:
                    d.Clear()
    return LoadedModel(inferred, model.base_dir, model.path)
