"""Helpers shared by subcommands: printing to stderr, --force, and the --input-shapes option."""

from __future__ import annotations

import sys

from ..errors import SettingsError
from ..input_shapes import fix_input_shapes, parse_profiles


def note(message: str) -> None:
    print(message, file=sys.stderr)


def add_force(parser) -> None:
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")


def add_input_shapes(parser, several: bool = False) -> None:
    """--input-shapes NAME:DIMS [NAME:DIMS ...] (onnxsim syntax; Polygraphy's NAME:[DIMS]
    too); `several`: the option may repeat, each occurrence a weighted shape profile."""
    extra = (" Give it again for more shape profiles, each weighted with a last @W "
             "(e.g. x:1,3,640,640@0.7); the budget is then the weighted latency.") if several else ""
    parser.add_argument("--input-shapes", nargs="+", action="append", metavar="NAME:DIMS",
                        help="fix the model's inputs for shape inference, timing and calibration, "
                             "e.g. images:1,3,640,640." + extra)


def shape_profiles(args, several: bool = False):
    """The parsed --input-shapes profiles ([] when not given)."""
    profiles = parse_profiles(getattr(args, "input_shapes", None))
    if len(profiles) > 1 and not several:
        raise SettingsError("this command takes one --input-shapes (one shape profile)")
    return profiles


def with_shapes(model, args):
    """`model` with its inputs fixed to the one --input-shapes profile, if given."""
    profiles = shape_profiles(args)
    return fix_input_shapes(model, profiles[0].shapes) if profiles else model
