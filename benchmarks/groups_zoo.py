"""Channel groups across the torchvision classification zoo, under both ONNX exporters.

For every model that exports: number of groups, prunable groups, the share of conv/gemm
MACs whose output channels are prunable, and capture + grouping time (median and min of
three runs, model file already on disk).

    python benchmarks/groups_zoo.py [--exporters legacy,dynamo] [--models a,b] [--resolution 224]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import add_zoo_arguments, over_zoo, save_json, table, timed  # noqa: E402

from halp_graph.cost_model import MacsCostModel  # noqa: E402
from halp_graph.graph import analyze, load_model  # noqa: E402
from halp_graph.models import zoo  # noqa: E402


def prunable_mac_share(groups) -> float:
    macs = MacsCostModel(groups)
    prunable = {g.id for g in groups.prunable()}
    total = share = 0.0
    for layer in groups.layers:
        cost = macs.layer_cost(layer, layer.in_channels, layer.out_channels)
        out = sum(s.stop - s.start for s in layer.out_segments)
        live = sum(s.stop - s.start for s in layer.out_segments if s.group in prunable)
        total += cost
        share += cost * live / out if out else 0.0
    return share / total if total else 0.0


def run(name: str, exporter: str, resolution: int) -> dict:
    path = zoo.export(name, exporter, resolution=resolution)
    groups, median, fastest = timed(lambda: analyze(load_model(path)))
    size_mb = sum(os.path.getsize(os.path.join(os.path.dirname(path), f))
                  for f in os.listdir(os.path.dirname(path)) if f.startswith(os.path.basename(path)))
    return {"model": name, "exporter": exporter, "MB": round(size_mb / 1e6),
            "groups": len(groups), "prunable": len(groups.prunable()),
            "prunable MACs": f"{100 * prunable_mac_share(groups):.0f}%",
            "capture+group s (median)": round(median, 3), "min s": round(fastest, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_zoo_arguments(ap)
    args = ap.parse_args()
    rows, failures = over_zoo(args, lambda name, exporter: run(name, exporter, args.resolution))
    cols = ["model", "exporter", "MB", "groups", "prunable", "prunable MACs",
            "capture+group s (median)", "min s"]
    print(table(rows, cols, f"{len({r['model'] for r in rows})} models, {len(rows)} exports"))
    if failures:
        print(table(failures, ["model", "exporter", "cause"], "Did not export or capture"))
    save_json("groups_zoo.json", {"rows": rows, "failures": failures})


if __name__ == "__main__":
    main()
