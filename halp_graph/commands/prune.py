"""`prune MODEL.onnx --target T --budget F -o OUT.onnx`: latency-budgeted pruning."""

from __future__ import annotations

import json

from ..latency.cli_args import add_target_args, target_from_args
from ..onnx_io import check_output_path, save_model
from ..saliency import METHODS as SALIENCY_METHODS
from ..solver import METHODS as SOLVER_METHODS
from .common import add_force, note, write_text


def add_parser(sub) -> None:
    p = sub.add_parser("prune", help="prune a model to a latency budget on a target",
                       description="Pick the channels to keep with an exact latency-saliency "
                                   "knapsack over a latency LUT, rewrite the model, and measure "
                                   "it on the target, correcting the budget if it misses.")
    p.add_argument("model", help="ONNX model file")
    add_target_args(p)
    goal = p.add_mutually_exclusive_group(required=True)
    goal.add_argument("--budget", type=float, help="latency goal as a fraction of the dense latency, in (0, 1]")
    goal.add_argument("--latency-ms", type=float, help="latency goal in milliseconds")
    p.add_argument("-o", "--output", required=True, help="where to write the pruned model")
    p.add_argument("--lut", help="latency table built for this target (default: cached or built now)")
    p.add_argument("--saliency", choices=SALIENCY_METHODS, default="magnitude")
    p.add_argument("--calib", help="calibration data for --saliency activation: .npz or image directory")
    p.add_argument("--scores", help="per-channel scores (.npz or JSON keyed by group id) instead of --saliency")
    p.add_argument("--method", choices=SOLVER_METHODS, default="exact",
                   help="exact knapsack (default) or HALP's greedy reference")
    p.add_argument("--rounds", type=int, default=6, help="closed-loop rounds at most (default 6)")
    p.add_argument("--report", help="write the report JSON (halp_graph.report/1) here")
    add_force(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..pruning import check_goal, prune
    from ..saliency import load_scores

    check_goal(args.budget, args.latency_ms)
    target = target_from_args(args)
    check_output_path(args.output, inputs=(args.model,), force=args.force)
    if args.report:
        check_output_path(args.report, inputs=(args.model, args.output), force=args.force)
    scores = None
    if args.scores:
        scores = load_scores(args.scores)
    result = prune(args.model, target, args.budget, latency_ms=args.latency_ms, lut=args.lut,
                   saliency=args.saliency, calib=args.calib, scores=scores, method=args.method,
                   max_rounds=args.rounds, progress=True)
    report = result.report
    if result.model is None:
        note(f"error: no plan reaches the goal on {target.name}: "
             f"{report['rounds'][-1]['solver'].get('message', '')}")
        return 1
    save_model(result.model, args.output, inputs=(args.model,), force=args.force)
    if args.report:
        write_text(args.report, json.dumps(report, indent=1, default=float) + "\n",
                   inputs=(args.model,), force=args.force)
    note(f"wrote {args.output}" + (f" and {args.report}" if args.report else ""))
    note(result.summary().rstrip())
    if report["status"] == "over budget":
        note(f"error: measured {report['latency']['achieved']:.3f} against a goal of "
             f"{args.budget or args.latency_ms}: the closed loop did not get under it in "
             f"{args.rounds} rounds")
        return 1
    return 0
