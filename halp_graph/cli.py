"""`python -m halp_graph`: the command line. Each subcommand lives in halp_graph/commands.

Exit codes: 0 success; 1 a check ran and failed (verify found a mismatch, prune stayed
over its budget or found no plan); 2 usage; 3 unreadable model; 4 bad plan; 5 rewrite
failed; 6 output exists; 7 backend unavailable; 8 bad target, budget or LUT, or bad data
(calibration, evaluation or fine-tuning data, or scores); 70 internal error (a bug:
please report it with the traceback).
"""

from __future__ import annotations

import argparse
import sys
import traceback

from .commands import COMMANDS
from .errors import HalpError
from .version import __version__

EXIT_INTERNAL = 70


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m halp_graph",
                                     description="Hardware-aware latency pruning of ONNX models.")
    parser.add_argument("--version", action="version", version=f"halp_graph {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HalpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("error: internal error in halp_graph (the traceback above is a bug report)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
