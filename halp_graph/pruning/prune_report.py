"""The prune report (JSON, schema halp_graph.report/1) and the summary printed after a run."""

from __future__ import annotations

import numpy as np

from ..cost_model import MacsCostModel, predict
from ..fidelity import describe
from ..graph.groups import GroupSet
from .closed_loop import status_of

REPORT_SCHEMA = "halp_graph.report/1"


def parameter_count(proto) -> int:
    """Float elements in initializers and Constant nodes (exporters such as paddle2onnx
    hold weights in Constant nodes); integer tensors are shapes and indices, not weights."""
    tensors = list(proto.graph.initializer)
    tensors += [a.t for node in proto.graph.node if node.op_type == "Constant"
                for a in node.attribute if a.name == "value"]
    return int(sum(np.prod(t.dims) if len(t.dims) else 1 for t in tensors
                   if t.data_type in (1, 10, 11, 16)))


NO_DATA = ("not measured: no data was given (--calib/--eval); one-shot pruning of a trained "
           "model without data can destroy its accuracy")


def build_report(*, model_path, target, goal, relative, groups: GroupSet, chosen, rounds, source,
                 saliency: dict, method: str, original_proto, pruned_proto, timings: dict,
                 data: dict | None = None, fidelity: dict | None = None, reconstruction: dict | None = None,
                 empty_costs: dict | None = None, search: dict | None = None,
                 agreement_check: dict | None = None, finetune: dict | None = None,
                 schedule: dict | None = None, profiles=None, macs_groups: GroupSet | None = None,
                 emptying_credits: dict | None = None) -> dict:
    """macs_groups: the groups captured at the first input shape, where MACs are known
    (a model with symbolic spatial axes has none as shipped); default `groups`."""
    kept = {g.id: int(chosen.counts.get(g.id, g.size)) for g in groups}
    macs_groups = macs_groups or groups
    macs = MacsCostModel(macs_groups)
    dense_macs = macs.dense_cost()
    pruned_macs = predict(macs, macs_groups, kept)
    return {
        "schema": REPORT_SCHEMA,
        "model": model_path,
        "target": target.to_json(),
        "goal": {"budget": goal} if relative else {"latency_ms": goal},
        "status": _search_status(search) if search is not None else status_of(chosen, goal),
        "latency": {
            "dense_ms": chosen.measured_dense_ms,
            "pruned_ms": chosen.measured_ms,
            "achieved": chosen.achieved,
            "predicted_ms": chosen.predicted_ms,
            "predicted_dense_ms": rounds[0].details.get("dense_cost") if rounds else None,
            "measured": chosen.measured_ms is not None,
            "per_shape": chosen.details.get("per_shape"),
        },
        "input_shapes": [p.to_json() for p in profiles] if profiles else None,
        "lut": {"origin": source.origin, "path": source.path, "estimate": source.lut.is_estimate},
        "saliency": {**saliency,
                     "kept": chosen.objective / chosen.max_objective if chosen.max_objective else 1.0},
        "data": data,
        "fidelity": fidelity,
        "reconstruction": reconstruction,
        "finetune": finetune,
        "schedule": schedule,
        "emptied": [{"group": g.id, "size": g.size,
                     "measured_distortion": (empty_costs or {}).get(g.id),
                     "credit": (emptying_credits or {}).get(g.id)}
                    for g in groups if g.prunable and kept[g.id] == 0],
        "search": search,
        "min_agreement": agreement_check,
        "solver": {"method": method, **{k: v for k, v in chosen.details.items()}},
        "rounds": [r.to_json() for r in rounds],
        "chosen_round": chosen.index,
        "groups": {g.id: {"size": g.size, "kept": kept[g.id], "prunable": g.prunable}
                   for g in groups},
        "macs_M": {"dense": dense_macs, "pruned": pruned_macs},
        "params": {"dense": parameter_count(original_proto),
                   "pruned": parameter_count(pruned_proto) if pruned_proto is not None else None},
        "plan": chosen.plan.to_json() if chosen.plan is not None else None,
        "timings_s": timings,
    }


def _search_status(search: dict) -> str:
    if search["found"]:
        return f"fastest plan found keeping {100 * search['min_agreement']:.1f}% agreement"
    return f"no plan keeps {100 * search['min_agreement']:.1f}% agreement"


def summary(report: dict) -> str:
    lat, macs, params = report["latency"], report["macs_M"], report["params"]
    groups = report["groups"].values()
    pruned = sum(1 for g in groups if g["kept"] < g["size"])
    emptied = sum(1 for g in groups if g["kept"] == 0)
    rows = [("status", report["status"]),
            ("groups pruned", f"{pruned} of {sum(1 for g in groups if g['prunable'])} prunable"
                              + (f" ({emptied} {'branch' if emptied == 1 else 'branches'} removed)" if emptied else "")),
            ("channels kept", f"{sum(g['kept'] for g in groups if g['prunable'])} of "
                              f"{sum(g['size'] for g in groups if g['prunable'])}"),
            ("saliency", f"{report['saliency']['method']}, {100 * report['saliency']['kept']:.1f}% of its value kept")]
    for e in report.get("emptied") or []:
        cost = e["measured_distortion"]
        rows.append(("branch removed", f"group {e['group']} ({e['size']} channels), "
                     + (f"measured distortion {cost:.3g}" if cost is not None else "distortion not measured")))
    if lat["measured"]:
        label = "latency (measured, weighted)" if lat.get("per_shape") else "latency (measured)"
        rows.append((label, f"{lat['dense_ms']:.2f} ms -> {lat['pruned_ms']:.2f} ms "
                                           f"({lat['pruned_ms'] / lat['dense_ms']:.3f}x, "
                                           f"{lat['dense_ms'] / lat['pruned_ms']:.2f}x faster)"))
    for shape in lat.get("per_shape") or []:
        rows.append((f"  at {shape['shapes']}", f"{shape['dense_ms']:.2f} ms -> {shape['pruned_ms']:.2f} ms "
                     f"({shape['ratio']:.3f}x, weight {shape['weight']:.2f})"))
    rows.append(("latency (predicted)", f"{lat['predicted_ms']:.2f} ms"
                 + (" (analytic estimate)" if report["lut"]["estimate"] else "")))
    rows.append(("MACs", f"{macs['dense']:.0f} M -> {macs['pruned']:.0f} M"))
    if params["pruned"] is not None:
        rows.append(("parameters", f"{params['dense'] / 1e6:.2f} M -> {params['pruned'] / 1e6:.2f} M"))
    rows.append(("rounds", f"{len(report['rounds'])} (kept round {report['chosen_round']})"))
    rows += fidelity_rows(report)
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows) + "\n"


def fidelity_rows(report: dict) -> list[tuple[str, str]]:
    fidelity = report.get("fidelity")
    if not fidelity:
        return [("accuracy", NO_DATA)]
    rows = []
    recon, tuned, schedule = report.get("reconstruction"), report.get("finetune"), report.get("schedule")
    staged = fidelity.get("before_finetune") is not None or (
        recon is not None and fidelity.get("before_reconstruction") is not None)
    if not staged:
        rows.append(("fidelity", describe(fidelity["final"])))
    else:
        if fidelity.get("before_reconstruction") is not None:
            rows.append(("fidelity, rewrite", describe(fidelity["before_reconstruction"])))
        if recon is not None and fidelity.get("after_reconstruction") is not None:
            rows.append(("fidelity, reconstructed", describe(fidelity["after_reconstruction"])
                         + f" ({len(recon['layers'])} layers refitted)"))
        how = ""
        if tuned and not tuned.get("skipped"):
            how = f" (after {tuned['epochs_run']:g} epochs of distillation, {tuned['stopped']})"
        elif schedule and not schedule.get("skipped"):
            how = f" (after the {schedule['steps']}-step schedule, {schedule['training']['stopped']})"
        elif recon is not None:
            how = f" (after reconstruction of {len(recon['layers'])} layers)"
        rows.append(("fidelity, final", describe(fidelity["final"]) + how))
    for name, entry in (("fine-tuning", tuned), ("schedule", schedule)):
        if entry and entry.get("skipped"):
            rows.append((name, f"skipped: {entry['skipped']}"))
    rows.append(("evaluated on", str(fidelity["final"]["source"]) if fidelity.get("final") else "-"))
    check = report.get("min_agreement")
    if check:
        rows.append(("min agreement", f"{100 * check['required']:.1f}% "
                     + ("kept" if check["met"] else "NOT kept")))
    return rows
