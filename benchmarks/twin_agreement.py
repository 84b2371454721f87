"""Agreement of the torch twin with ONNX Runtime across the torchvision zoo and the
bundled Fashion-MNIST model, under both exporters.

For every export: whether check_twin passes (max |twin - ort| / max |ort| <= 1e-4 per
output, random inputs), the error, the ops that stopped the twin if it could not be
built, and the time to build and check it. "ORT noise" is how far ONNX Runtime is from
itself (all graph optimizations against none, same inputs): on a model whose float32
rounding is amplified that much, no float32 twin can be closer than about that.

With --third-party the same check runs instead over real models that pip packages ship
(benchmarks/third_party.py: OCR, detection, speech...), fed random inputs of each entry's
shapes; a model the twin cannot build or run reports the op or error that stopped it.

    python benchmarks/twin_agreement.py [--exporters legacy,dynamo] [--models a,b] [--resolution 224]
    python benchmarks/twin_agreement.py --third-party [name,name]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import add_zoo_arguments, over_zoo, progress, save_json, table  # noqa: E402

from halp_graph.models import zoo  # noqa: E402
from halp_graph.twin import TwinUnsupported, build_twin, check_twin  # noqa: E402

FMNIST = os.path.join(os.path.dirname(os.path.abspath(zoo.__file__)), "fmnist_resnet.onnx")


def ort_noise(path: str, feeds: dict | None = None) -> float:
    """max rel error between ORT with all graph optimizations and with none."""
    import onnxruntime as ort

    from halp_graph.testing import random_inputs
    from halp_graph.twin.check import relative_error

    feeds = random_inputs(path) if feeds is None else feeds
    outs = []
    for level in (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.log_severity_level, opts.graph_optimization_level = 1, 3, level
        outs.append(ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"]).run(None, feeds))
    return max(relative_error(a, b) for a, b in zip(*outs))


def agreement(name: str, exporter: str, path: str, feeds: dict | None = None, why: bool = False) -> dict:
    """One row; `why` adds what about an implemented op's variant stopped the twin."""
    row = {"model": name, "exporter": exporter}
    start = time.perf_counter()
    try:
        twin = build_twin(path)
        report = check_twin(twin, path, feeds=feeds)
        row.update(ok="yes" if report.ok else "NO", **{"max rel error": report.max_rel})
        if report.vacuous:
            row["ok"] += " (vacuous)"
        row["ORT noise"] = ort_noise(path, feeds)
    except TwinUnsupported as exc:
        stopped = ", ".join(f"{op} ({exc.details[op][:120]})" if why and op in exc.details else op
                            for op in exc.ops)
        row.update(ok="unsupported", **{"stopped by": stopped})
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def third_party_agreement(names: str | None) -> None:
    """The agreement table over the models of third_party.py (all, or the named ones)."""
    import third_party

    entries = [third_party.BY_NAME[n] for n in names.split(",")] if names else third_party.ENTRIES
    rows = []
    for entry in entries:
        progress(f"third-party {entry.name}")
        row = {"model": entry.name, "exporter": entry.exporter, "kind": entry.kind,
               "fed": "; ".join(f"{k} = {entry.values[k]}" if k in entry.values else f"{k} {v}"
                                for k, v in entry.shapes.items())}
        start = time.perf_counter()
        try:
            path = third_party.fetch(entry)
            row.update(agreement(entry.name, entry.exporter, path, third_party.random_feeds(entry, path), why=True))
        except Exception as exc:  # a fetch, twin run or ORT failure: one line, then the next model
            row.update(ok="error", **{"stopped by": f"{type(exc).__name__}: {_first_line(exc)}",
                                      "seconds": round(time.perf_counter() - start, 2)})
        rows.append(row)
    cols = ["model", "kind", "exporter", "fed", "ok", "max rel error", "ORT noise", "stopped by", "seconds"]
    passed = sum(r["ok"] == "yes" for r in rows)
    print(table(rows, cols, f"Twin vs ONNX Runtime on third-party models: {passed} of {len(rows)} agree (rtol 1e-4)"))
    save_json("twin_agreement_third_party.json", {"rows": rows})


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [""])[0][:200]


def main() -> None:
    torch.set_num_threads(1)  # like check_twin's ORT session; small ops thrash on a busy machine
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_zoo_arguments(ap)
    ap.set_defaults(resolution=None)
    ap.add_argument("--no-fmnist", action="store_true", help="skip the bundled Fashion-MNIST model")
    ap.add_argument("--third-party", nargs="?", const="", metavar="NAMES",
                    help="check the models of third_party.py (all, or these comma-separated) instead of the zoo")
    args = ap.parse_args()
    if args.third_party is not None:
        third_party_agreement(args.third_party or None)
        return

    def run(name: str, exporter: str) -> dict:
        resolution = args.resolution or zoo.small_resolution(name)
        return agreement(name, exporter, zoo.export(name, exporter, resolution=resolution))

    rows = []
    if not args.no_fmnist:
        progress("bundled fmnist_resnet")
        rows.append(agreement("fmnist_resnet (bundled)", "-", FMNIST))
    zoo_rows, failures = over_zoo(args, run)
    rows += zoo_rows
    cols = ["model", "exporter", "ok", "max rel error", "ORT noise", "stopped by", "seconds"]
    passed = sum(r["ok"] == "yes" for r in rows)
    print(table(rows, cols, f"Twin vs ONNX Runtime: {passed} of {len(rows)} exports agree (rtol 1e-4)"))
    if failures:
        print(table(failures, ["model", "exporter", "cause"], "Did not export, build or run"))
    save_json("twin_agreement.json", {"rows": rows, "failures": failures})


if __name__ == "__main__":
    main()
