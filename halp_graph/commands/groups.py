"""`groups MODEL.onnx`: show the coupled channel groups of a model."""

from __future__ import annotations

from ..graph import analyze, load_model
from ..graph.group_formats import FORMATS, render
from ..onnx_io import write_text
from .common import add_force, add_input_shapes, with_shapes


def add_parser(sub) -> None:
    p = sub.add_parser("groups", help="find and show coupled channel groups",
                       description="Capture an ONNX model and print its coupled channel groups.")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text table (default), groups JSON (halp_graph.groups/1), dot or graphml")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    add_input_shapes(p)
    add_force(p)
    p.set_defaults(func=run)


def run(args) -> int:
    model = with_shapes(load_model(args.model), args)
    text = render(analyze(model), args.format)
    if args.output:
        write_text(args.output, text, inputs=(args.model,), force=args.force)
    else:
        print(text, end="")
    return 0
