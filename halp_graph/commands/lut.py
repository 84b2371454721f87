"""`lut build MODEL.onnx --target T -o LUT.json` and `lut show LUT.json`: latency tables."""

from __future__ import annotations

import os
import warnings

from ..errors import TargetError
from ..graph import load_model
from ..input_shapes import fix_input_shapes
from ..latency import LatencyLUT
from ..latency.cli_args import add_target_args, target_from_args
from ..latency.lut_report import plot_entries, select_entries, summary_text
from ..latency.sampler import QUICK_SAMPLING, SamplingConfig
from ..latency.timing import DEFAULT, MODEL, QUICK, QUICK_MODEL
from ..onnx_io import check_output_path
from ..pruning.lut_calibration import build_calibrated_lut
from .common import add_force, add_input_shapes, note, shape_profiles


def add_parser(sub) -> None:
    p = sub.add_parser("lut", help="build or show a latency lookup table",
                       description="Latency lookup tables: what each layer costs on a target "
                                   "as its channel counts change (staircase-aware).")
    lut_sub = p.add_subparsers(dest="lut_command", metavar="ACTION")
    lut_sub.required = True

    b = lut_sub.add_parser("build", help="time a model's layers on a target into a LUT file",
                           description="Cut every layer with what the backend fuses into it, time "
                                       "it at the channel counts that matter (staircase edges), "
                                       "and time the whole model. Progress goes to stderr.")
    b.add_argument("model", help="ONNX model file")
    add_target_args(b)
    b.add_argument("-o", "--output", required=True, help="LUT file to write (JSON)")
    b.add_argument("--update", metavar="LUT.json",
                   help="reuse the entries of an existing LUT built for the same target")
    b.add_argument("--quick", action="store_true",
                   help="fewer timings per layer and shorter runs (a rough table, fast)")
    add_input_shapes(b, several=True)
    add_force(b)
    b.set_defaults(func=run_build)

    s = lut_sub.add_parser("show", help="summarise a LUT; plot latency against channels",
                           description="Print what a LUT holds and where it was measured; "
                                       "with --plot, draw latency versus channel count with the "
                                       "detected steps for the chosen layers.")
    s.add_argument("lut", help="LUT file (JSON)")
    s.add_argument("--plot", nargs="+", metavar="LAYER",
                   help="layer names, entry keys, or #N (row N of the table) to plot")
    s.add_argument("-o", "--output", help="PNG file for --plot")
    add_force(s)
    s.set_defaults(func=run_show)


def run_build(args) -> int:
    target = target_from_args(args)
    check_output_path(args.output, inputs=(args.model, args.update), force=args.force)
    model = load_model(args.model)
    profiles = shape_profiles(args, several=True)
    models = [(p.label(), fix_input_shapes(model, p.shapes)) for p in profiles] or [(None, model)]
    lut = LatencyLUT.load(args.update, target=target) if args.update else None
    name = os.path.basename(args.model)
    for label, shaped in models:  # one table covering every shape profile
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lut = build_calibrated_lut(shaped, target,
                                       sampling=QUICK_SAMPLING if args.quick else SamplingConfig(),
                                       timing=QUICK if args.quick else DEFAULT,
                                       model_timing=QUICK_MODEL if args.quick else MODEL,
                                       existing=lut, progress=True,
                                       name=f"{name} {label}" if label else name)
        for w in caught:
            note(f"warning: {w.message}")
    lut.save(args.output, force=args.force, inputs=(args.model,))
    kind = "ESTIMATE" if lut.is_estimate else "measured"
    for record in list(lut.models.values())[-len(models):]:
        print(f"wrote {args.output}: {len(lut.entries)} entries for {len(record.layers)} layers, "
              f"{lut.meta.get('timed_points', 0)} timings in {lut.meta.get('build_seconds', 0):.0f} s; "
              f"dense latency {record.dense.median_ms:.3f} ms ({kind}, {target.summary()})"
              + (f" [{record.name}]" if len(models) > 1 else ""))
    return 0


def run_show(args) -> int:
    lut = LatencyLUT.load(args.lut)
    if args.plot:
        if not args.output:
            raise TargetError("--plot needs -o PNG to write the plot to")
        check_output_path(args.output, inputs=(args.lut,), force=args.force)
        entries = select_entries(lut, args.plot)
        plot_entries(lut, entries, args.output)
        note(f"wrote {args.output} ({len(entries)} layer(s))")
    print(summary_text(lut), end="")
    return 0
