"""`apply MODEL.onnx --plan PLAN.json -o OUT.onnx`: rewrite a model by a pruning plan."""

from __future__ import annotations

import os

from ..equivalence import check_equivalence
from ..errors import SettingsError
from ..graph import analyze, load_model
from ..input_shapes import fix_input_shapes
from ..onnx_io import check_output_path, save_model
from ..passes import prune_channels_with_info
from ..plan import PruningPlan
from .common import add_force, add_input_shapes, note, shape_profiles


def add_parser(sub) -> None:
    p = sub.add_parser("apply", help="apply a pruning plan, writing a slimmer model",
                       description="Remove the channels a plan (halp_graph.plan/1) does not keep.")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--plan", required=True, help="plan JSON (halp_graph.plan/1)")
    p.add_argument("-o", "--output", required=True, help="where to write the pruned model")
    p.add_argument("--verify", action="store_true",
                   help="also check the equivalence invariant in ONNX Runtime (as verify does); "
                        "exit 1 if the model is NOT equivalent or the check is vacuous")
    add_input_shapes(p, several=True)
    p.add_argument("--fix-shapes", action="store_true",
                   help="write the model at the one --input-shapes shape (default: it keeps its "
                        "dynamic axes); with --verify, the shapes given are the ones checked")
    add_force(p)
    p.set_defaults(func=run)


def run(args) -> int:
    check_output_path(args.output, inputs=(args.model, args.plan), force=args.force)
    profiles = shape_profiles(args, several=True)
    if args.fix_shapes and len(profiles) != 1:
        raise SettingsError("--fix-shapes writes the model at one shape: give one --input-shapes")
    model = load_model(args.model)
    if args.fix_shapes:
        model = fix_input_shapes(model, profiles[0].shapes)
    else:
        for p in profiles:  # the shapes must fit the model before anything is written
            fix_input_shapes(model, p.shapes)
    plan = PruningPlan.load(args.plan)
    groups = analyze(model)
    pruned, info = prune_channels_with_info(model, plan, groups)
    save_model(pruned, args.output, inputs=(args.model,), force=args.force)
    note(f"wrote {args.output} ({os.path.getsize(args.output) / 1e6:.1f} MB): "
         f"{info['groups_pruned']} groups pruned, {info['channels_removed']} channels removed"
         + (f", {info['removed_nodes']} nodes removed, {info['folded_layers']} layers folded"
            if info.get("removed_nodes") or info.get("folded_layers") else ""))
    if args.verify:
        shapes = [{k: list(v) for k, v in p.shapes.items()} for p in profiles] or None
        c = check_equivalence(model, pruned, plan, groups, shapes=shapes)
        note(c.summary())
        return 0 if c.ok else 1
    return 0
