"""`prune MODEL.onnx --target T --budget F -o OUT.onnx`: latency-budgeted pruning."""

from __future__ import annotations

import argparse
import json
import os

from ..latency.cli_args import add_target_args, target_from_args
from ..onnx_io import check_output_path, save_model, write_text
from ..pruning import check_goal, prune
from ..pruning.scoring import METHODS as SALIENCY_METHODS
from ..saliency import load_scores
from ..solver import METHODS as SOLVER_METHODS
from .common import add_force, add_input_shapes, note, shape_profiles


def add_parser(sub) -> None:
    p = sub.add_parser("prune", help="prune a model to a latency budget on a target",
                       description="Pick the channels to keep with an exact latency-saliency "
                                   "knapsack over a latency LUT, rewrite the model, and measure "
                                   "it on the target, correcting the budget if it misses.")
    p.add_argument("model", help="ONNX model file")
    add_target_args(p)
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--budget", type=float, help="latency goal as a fraction of the dense latency, in (0, 1]")
    goal.add_argument("--latency-ms", type=float, help="latency goal in milliseconds")
    p.add_argument("-o", "--output", required=True, help="where to write the pruned model")
    p.add_argument("--lut", help="latency table built for this target (default: cached or built now)")
    p.add_argument("--saliency", choices=SALIENCY_METHODS, default="auto",
                   help="auto (default): loss-aware with --calib, weight magnitude without data")
    p.add_argument("--calib", help="calibration data (.npz keyed by input name, or an image directory): "
                                   "loss-aware saliency, reconstruction, and a held-out share for fidelity")
    p.add_argument("--eval", dest="eval_data",
                   help="evaluation data for fidelity (default: a held-out share of --calib); labels "
                        "under the .npz key 'labels', or image folders named by class, give accuracy")
    p.add_argument("--holdout", type=float, default=0.25,
                   help="share of --calib held out for fidelity when --eval is not given (default 0.25)")
    p.add_argument("--min-agreement", type=float,
                   help="top-1 agreement with the dense model to keep, in (0, 1]; alone: the fastest "
                        "plan that keeps it; with a budget: a result below it fails (exit 1)")
    p.add_argument("--reconstruct", action=argparse.BooleanOptionalAction, default=None,
                   help="refit the pruned layers on the calibration data (default: on with --calib)")
    tune = p.add_argument_group("training (label-free distillation against the dense model; needs torch)")
    tune.add_argument("--finetune", type=int, default=0, metavar="EPOCHS",
                      help="distil the pruned model for EPOCHS epochs on --finetune-data; the "
                           "held-out data keeps the best state (default 0: no training)")
    tune.add_argument("--finetune-data", metavar="DATA",
                      help="unlabelled training inputs (.npz or an image directory; default: --calib)")
    tune.add_argument("--schedule", type=int, metavar="STEPS",
                      help="HALP's schedule: prune in STEPS steps toward the budget while distilling, "
                           "scores re-measured between steps (needs --finetune EPOCHS and --calib)")
    tune.add_argument("--finetune-time", type=float, metavar="SECONDS",
                      help="stop training after SECONDS and keep the best state so far")
    tune.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3, cosine-decayed)")
    tune.add_argument("--batch-size", type=int, help="training batch (default 64)")
    tune.add_argument("--temperature", type=float, help="distillation temperature on logits (default 2)")
    tune.add_argument("--feature-weight", type=float, default=0.0,
                      help="weight of feature matching at the pruned layers (default 0: outputs only)")
    tune.add_argument("--device", help="where to train: cpu (default) or cuda:N; under torchrun with "
                                       "nccl, each rank's own GPU")
    p.add_argument("--scores", help="per-channel scores (.npz or JSON keyed by group id) instead of --saliency")
    p.add_argument("--method", choices=SOLVER_METHODS, default="exact",
                   help="exact knapsack (default) or HALP's greedy reference")
    p.add_argument("--rounds", type=int, default=6, help="closed-loop rounds at most (default 6)")
    p.add_argument("--report", help="write the report JSON (halp_graph.report/1) here")
    add_input_shapes(p, several=True)
    p.add_argument("--fix-shapes", action="store_true",
                   help="write the pruned model at the --input-shapes shape (default: it keeps the "
                        "model's dynamic axes)")
    add_force(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_goal(args.budget, args.latency_ms, args.min_agreement)
    target = target_from_args(args)
    check_output_path(args.output, inputs=(args.model,), force=args.force)
    if args.report:
        check_output_path(args.report, inputs=(args.model, args.output), force=args.force)
    args.profiles = shape_profiles(args, several=True)
    scores = None
    if args.scores:
        scores = load_scores(args.scores)
    if _launched():
        return _run_distributed(args, target, scores)
    return _run(args, target, scores)


def _launched() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _run_distributed(args, target, scores) -> int:
    """Under torchrun: every rank prunes (and trains, sharing plans and gradients), rank 0
    alone writes."""
    from ..torch.distributed import launched_group  # lazy: torch is optional

    with launched_group() as group:
        if args.device is None and group.device != "cpu":
            args.device = group.device
        code = _run(args, target, scores, write=group.rank == 0)
    return code


def _run(args, target, scores, write: bool = True) -> int:
    result = prune(args.model, target, args.budget, latency_ms=args.latency_ms, lut=args.lut,
                   saliency=args.saliency, calib=args.calib, eval_data=args.eval_data,
                   holdout=args.holdout, reconstruct=args.reconstruct,
                   min_agreement=args.min_agreement, scores=scores, method=args.method,
                   max_rounds=args.rounds, progress=True, finetune=args.finetune,
                   finetune_data=args.finetune_data, schedule=args.schedule,
                   finetune_time=args.finetune_time, learning_rate=args.lr,
                   batch_size=args.batch_size, temperature=args.temperature,
                   feature_weight=args.feature_weight, device=args.device,
                   input_shapes=args.profiles, fix_shapes=args.fix_shapes)
    report = result.report
    if result.model is None:
        note(f"error: no plan reaches the goal on {target.name}: "
             f"{report['rounds'][-1]['solver'].get('message', '')}")
        return 1
    check = report.get("min_agreement")
    if check and not check["met"]:
        note(result.summary().rstrip())
        note("error: " + agreement_miss(check) + "; nothing written")
        return 1
    if not write:
        return 0
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


def agreement_miss(check: dict) -> str:
    got = check["agreement"]
    line = (f"top-1 agreement {100 * got:.1f}% is below the required {100 * check['required']:.1f}%"
            if got is not None else f"no plan keeps {100 * check['required']:.1f}% agreement")
    fastest = check.get("fastest_keeping")
    if fastest and fastest["found"]:
        line += (f"; the fastest budget found that keeps it is {fastest['achieved']:.3f} of the dense "
                 f"latency (agreement {100 * fastest['agreement']:.1f}%)")
    elif fastest:
        line += "; no budget found keeps it (only the dense model does)"
    return line
