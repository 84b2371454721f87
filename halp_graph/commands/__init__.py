"""CLI subcommands, one module each; every module exposes `add_parser(subparsers)`."""

from . import apply, bench, groups, lut, verify

COMMANDS = [groups, apply, verify, lut, bench]
