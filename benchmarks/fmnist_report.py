"""The Fashion-MNIST benchmark's outputs: a markdown table and the accuracy-vs-latency plot.

    python benchmarks/fmnist_report.py benchmarks/out/fmnist_results.json   # redraw from JSON
"""

from __future__ import annotations

import json
import os
import sys

METHOD_STYLE = {"HALP": ("tab:red", "o"), "uniform L1": ("tab:blue", "s"),
                "global magnitude (TP)": ("tab:green", "^"), "dense": ("black", "*")}


def markdown_table(rows: list[dict], dense_ms: float) -> str:
    lines = ["| target | method | test acc. (%) | latency (ms) | latency / dense | MMAC | params |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        target = "dense" if r["method"] == "dense" else f"{r['target']:.0%}"
        lines.append(f"| {target} | {r['method']} | {r['accuracy']:.2f} | {r['latency_ms']:.3f} | "
                     f"{r['latency_ms'] / dense_ms:.2f} | {r['mmacs']:.2f} | {r['params']:,} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: str, title: str = "Fashion-MNIST") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, (color, marker) in METHOD_STYLE.items():
        pts = sorted((r["latency_ms"], r["accuracy"]) for r in rows if r["method"] == method)
        if pts:
            ax.plot(*zip(*pts), marker=marker, color=color, label=method,
                    linestyle="none" if method == "dense" else "-", markersize=9 if method == "dense" else 6)
    ax.set_xlabel("measured latency, ONNX Runtime CPU, 1 thread, batch 32 (ms)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "out", "fmnist_results.json")
    with open(src) as f:
        data = json.load(f)
    dense = next(r for r in data["rows"] if r["method"] == "dense")
    print(markdown_table(data["rows"], dense["latency_ms"]))
    plot(data["rows"], os.path.splitext(src)[0].replace("results", "accuracy_latency") + ".png")
