"""`apply MODEL.onnx --plan PLAN.json -o OUT.onnx`: rewrite a model by a pruning plan."""

from __future__ import annotations

import os

from ..graph import analyze, load_model
from ..onnx_io import check_output_path, save_model
from ..plan import PruningPlan
from .common import add_force, note


def add_parser(sub) -> None:
    p = sub.add_parser("apply", help="apply a pruning plan, writing a slimmer model",
                       description="Remove the channels a plan (halp_graph.plan/1) does not keep.")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--plan", required=True, help="plan JSON (halp_graph.plan/1)")
    p.add_argument("-o", "--output", required=True, help="where to write the pruned model")
    p.add_argument("--verify", action="store_true",
                   help="also check the equivalence invariant in ONNX Runtime")
    add_force(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from halp_graph.passes import PruneChannelsPass

    check_output_path(args.output, inputs=(args.model, args.plan), force=args.force)
    model = load_model(args.model)
    plan = PruningPlan.load(args.plan)
    groups = analyze(model)
    result = PruneChannelsPass(plan, groups)(model)
    save_model(result.model, args.output, inputs=(args.model,), force=args.force)
    info = result.info
    note(f"wrote {args.output} ({os.path.getsize(args.output) / 1e6:.1f} MB): "
         f"{info['groups_pruned']} groups pruned, {info['channels_removed']} channels removed"
         + (f", {info['removed_nodes']} nodes removed, {info['folded_layers']} layers folded"
            if info.get("removed_nodes") or info.get("folded_layers") else ""))
    if args.verify:
        from ..testing import check_equivalence
        c = check_equivalence(model, result.model, plan, groups)
        note(f"equivalence: {'ok' if c.ok else 'MISMATCH'} (max abs error {c.max_abs:.3g})")
        return 0 if c.ok else 1
    return 0
