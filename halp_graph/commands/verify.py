"""`verify MODEL.onnx OUT.onnx --plan PLAN.json`: check the equivalence invariant.

Prints one line, "equivalent", "NOT equivalent" or "vacuous", with the worst output's max
abs error, scale (max |masked|) and tolerance (1e-4 * scale + 1e-7); exits 1 unless it is
"equivalent" (a vacuous check, every output below 1e-6, proves nothing)."""

from __future__ import annotations

from ..equivalence import check_equivalence
from ..graph import analyze, load_model
from ..input_shapes import check_shapes
from ..plan import PruningPlan
from .common import shape_profiles


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="prove a pruned model equals the channel-masked original",
                       description="Run the original with the plan's channels masked and the "
                                   "pruned model in ONNX Runtime on random inputs and compare: "
                                   "per output, max |pruned - masked| <= 1e-4 * max |masked| "
                                   "+ 1e-7. Prints 'equivalent', 'NOT equivalent' or 'vacuous' "
                                   "(every output below 1e-6: nothing is proven); exits 1 "
                                   "unless equivalent.")
    p.add_argument("original", help="the original ONNX model")
    p.add_argument("pruned", help="the pruned ONNX model")
    p.add_argument("--plan", required=True, help="the plan that produced it")
    p.add_argument("--batch", type=int, default=2, help="batch size for symbolic batch dims")
    p.add_argument("--seed", type=int, default=0)
    # The syntax of every command's --input-shapes (common.add_input_shapes), with its own
    # meaning here: each occurrence is one shape to check at, not a timing profile.
    p.add_argument("--input-shapes", nargs="+", action="append", metavar="NAME:DIMS",
                   help="check at these input shapes, e.g. x:1,3,224,224; give it again for "
                        "each further shape (a model with dynamic axes should be checked at "
                        "two or more); every shape must pass. Default: one shape, symbolic "
                        "dimensions set to --batch.")
    p.set_defaults(func=run)


def run(args) -> int:
    original = load_model(args.original)
    pruned = load_model(args.pruned)
    plan = PruningPlan.load(args.plan)
    groups = analyze(original)
    plan.validate(groups)
    shapes = [dict(p.shapes) for p in shape_profiles(args, several=True)]
    for shape in shapes:
        check_shapes(original.proto, shape)  # a shape that does not fit: one line, exit 8
    c = check_equivalence(original, pruned, plan, groups, batch=args.batch, seed=args.seed,
                          shapes=shapes or None)
    print(c.summary())
    return 0 if c.ok else 1
