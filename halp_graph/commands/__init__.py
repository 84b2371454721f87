"""CLI subcommands, one module each; every module exposes `add_parser(subparsers)`."""

from . import apply, bench, groups, lut, prune, verify

COMMANDS = [groups, apply, verify, prune, lut, bench]
