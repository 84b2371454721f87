"""Command-line options that pick and adjust a target, shared by `lut build` and `bench`."""

from __future__ import annotations

from .targets import BACKENDS, CLOCKS, PRECISIONS, TARGETS, get_target


def add_target_args(parser, required: bool = True) -> None:
    parser.add_argument("--target", required=required, metavar="TARGET",
                        help=f"named target: {', '.join(TARGETS)}")
    group = parser.add_argument_group("target overrides")
    group.add_argument("--threads", type=int, help="intra-op threads (CPU targets; default 1)")
    group.add_argument("--batch", type=int, help="batch size to measure at")
    group.add_argument("--precision", choices=PRECISIONS)
    group.add_argument("--provider", help="ONNX Runtime execution provider, e.g. CUDAExecutionProvider")
    group.add_argument("--backend", choices=BACKENDS, help="measure with this backend instead")
    group.add_argument("--clock", choices=CLOCKS,
                       help="auto (default): the thread's CPU time for single-threaded CPU "
                            "runs, wall-clock otherwise")


def target_from_args(args):
    """The target the options name (TargetError for unknown names or bad values)."""
    return get_target(args.target, threads=args.threads, batch=args.batch,
                      precision=args.precision, provider=args.provider, backend=args.backend,
                      clock=args.clock)
