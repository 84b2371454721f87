"""`verify MODEL.onnx OUT.onnx --plan PLAN.json`: check the equivalence invariant."""

from __future__ import annotations

from ..graph import analyze, load_model
from ..plan import PruningPlan


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="prove a pruned model equals the channel-masked original",
                       description="Run the original with the plan's channels masked and the "
                                   "pruned model in ONNX Runtime on random inputs and compare "
                                   "(rtol 1e-4, atol 1e-5).")
    p.add_argument("original", help="the original ONNX model")
    p.add_argument("pruned", help="the pruned ONNX model")
    p.add_argument("--plan", required=True, help="the plan that produced it")
    p.add_argument("--batch", type=int, default=2, help="batch size for symbolic batch dims")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..testing import check_equivalence

    original = load_model(args.original)
    pruned = load_model(args.pruned)
    plan = PruningPlan.load(args.plan)
    groups = analyze(original)
    plan.validate(groups)
    c = check_equivalence(original, pruned, plan, groups, batch=args.batch, seed=args.seed)
    status = "equivalent" if c.ok else "NOT equivalent"
    print(f"{status}: max abs error {c.max_abs:.3g}, max rel error {c.max_rel:.3g} "
          f"(worst output {c.worst_output!r}; rtol 1e-4, atol 1e-5)")
    return 0 if c.ok else 1
