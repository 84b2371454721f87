"""Exceptions halp_graph raises for bad input, each carrying one clear line for the user.

The CLI turns these into a single `error: ...` line and a distinct exit code, so scripts
can tell bad input (a truncated file, a bad plan) from a bug.
"""


class HalpError(Exception):
    """Base class: a problem with what the user gave us, explained in one line."""

    exit_code = 2


class CaptureError(HalpError):
    """The model file cannot be read or understood (not ONNX, truncated, shapes unknown)."""

    exit_code = 3


class PlanError(HalpError):
    """A pruning plan is malformed or does not fit the model's groups."""

    exit_code = 4


class RewriteError(HalpError):
    """A rewrite could not produce a valid model (the pass's own postcondition failed)."""

    exit_code = 5


class OutputExistsError(HalpError):
    """The output path exists (and --force was not given), or it is the input itself."""

    exit_code = 6


class BackendUnavailable(HalpError):
    """An optional latency backend cannot run here: its package or device is missing."""

    exit_code = 7


class TargetError(HalpError):
    """An unknown target, a budget out of range, or a LUT that does not fit the model."""

    exit_code = 8


class DataError(HalpError):
    """Calibration, evaluation or fine-tuning data, or per-channel scores, that do not fit
    the model (shapes, names, labels, group sizes) or cannot be read. It shares exit 8
    with TargetError: both are bad input to `prune` rather than a bad model or plan."""

    exit_code = 8


class SettingsError(HalpError):
    """Options out of range or contradicting each other (training epochs, a schedule with
    nothing to train, a non-positive temperature)."""

    exit_code = 2
