"""CLI subcommands, one module each; every module exposes `add_parser(subparsers)`."""

from . import apply, groups, verify

COMMANDS = [groups, apply, verify]
