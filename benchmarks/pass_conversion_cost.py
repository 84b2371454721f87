"""What running the rewrite as an onnx-ir pass costs over the proto path, on a big model.

    python benchmarks/pass_conversion_cost.py [--gb 1.1] [--dir /tmp/halp_conversion] [--inline]

Builds a chain of 1024-channel 3x3 convs (1x1024x4x4 input, ReLU between) whose weights
add up to `--gb` GB, saved with external data (or inline, `--inline`, below 2 GB), and
times, median of 3 (OS page cache warm after the first build):

  * onnx.load (external data not read, as capture does) and with all external data;
  * the capture path as it is: load_model + analyze;
  * the onnx-ir route: ir.load, then the pass boundary's conversion to a proto
    (passes/adapter.py to_loaded), then the same analyze;
  * the whole rewrite of a plan that halves one group: prune_channels(load_model(...))
    (with and without its onnx.checker full check, which writes the model to a temporary
    directory) against PruneChannelsPass(plan)(ir.load(...)) (conversion both ways included);
  * from_loaded, the conversion of the result back to an ir.Model.

Writes benchmarks/out/pass_conversion_cost.json (_inline.json with --inline).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import onnx
import onnx_ir as ir
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import save_json, table, timed  # noqa: E402

from halp_graph.graph import analyze, load_model  # noqa: E402
from halp_graph.passes import PruneChannelsPass, prune_channels  # noqa: E402
from halp_graph.passes.adapter import from_loaded, to_loaded  # noqa: E402
from halp_graph.plan import PruningPlan  # noqa: E402

WIDTH = 1024


def build(path: str, gb: float, inline: bool) -> int:
    """Write the conv chain; returns its initializer bytes."""
    per_layer = WIDTH * WIDTH * 9 * 4
    layers = max(2, round(gb * 1e9 / per_layer))
    rng = np.random.default_rng(0)
    nodes, inits, x = [], [], "x"
    for i in range(layers):
        w = (rng.standard_normal((WIDTH, WIDTH, 3, 3), dtype=np.float32) / 96).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"),
                  numpy_helper.from_array(rng.standard_normal(WIDTH).astype(np.float32), f"b{i}")]
        nodes += [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x = f"r{i}"
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, WIDTH, 4, 4])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, WIDTH, 4, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if inline:
        onnx.save(model, path)
    else:
        onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                  location=os.path.basename(path) + ".data", size_threshold=1024)
    return sum(t.ByteSize() for t in inits)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=1.1)
    ap.add_argument("--dir", default="/tmp/halp_conversion")
    ap.add_argument("--inline", action="store_true")
    args = ap.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    path = os.path.join(args.dir, "inline.onnx" if args.inline else "chain.onnx")
    start = time.perf_counter()
    size = build(path, args.gb, args.inline)
    print(f"built {path}: {size / 1e9:.2f} GB of initializers in {time.perf_counter() - start:.0f}s",
          file=sys.stderr)

    groups = analyze(load_model(path))
    group = max(groups.prunable(), key=lambda g: g.size)
    plan = PruningPlan({group.id: list(range(group.size // 2))})
    ir_model = ir.load(path)
    loaded = to_loaded(ir_model)
    pruned = prune_channels(load_model(path), plan)
    cases = {
        "onnx.load (no external data)": lambda: onnx.load(path, load_external_data=False),
        "onnx.load (all data)": lambda: onnx.load(path),
        "load_model + analyze (capture now)": lambda: analyze(load_model(path)),
        "ir.load": lambda: ir.load(path),
        "to_loaded (ir -> proto)": lambda: to_loaded(ir_model),
        "ir.load + to_loaded + analyze": lambda: analyze(to_loaded(ir.load(path))),
        "prune_channels(load_model)": lambda: prune_channels(load_model(path), plan),
        "  the same, check=False": lambda: prune_channels(load_model(path), plan, check=False),
        "PruneChannelsPass(ir.load)": lambda: PruneChannelsPass(plan)(ir.load(path)),
        "from_loaded (result -> ir)": lambda: from_loaded(pruned),
    }
    del loaded
    rows = []
    for name, fn in cases.items():
        _, median, best = timed(fn)
        rows.append({"step": name, "median ms": round(1000 * median, 1), "min ms": round(1000 * best, 1)})
        print(f"{name}: {1000 * median:.1f} ms", file=sys.stderr)
    title = (f"{size / 1e9:.2f} GB of initializers, {'inline' if args.inline else 'external data'}, "
             f"{len(groups.layers)} convs")
    print(table(rows, ["step", "median ms", "min ms"], title))
    save_json(f"pass_conversion_cost{'_inline' if args.inline else ''}.json", {"model": title, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
