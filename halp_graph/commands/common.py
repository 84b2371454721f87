"""Helpers shared by subcommands: writing outputs atomically, printing to stderr."""

from __future__ import annotations

import os
import sys
import tempfile

from ..onnx_io import check_output_path


def write_text(path: str, text: str, *, inputs: tuple = (), force: bool = False) -> None:
    """Write `text` to `path` atomically, refusing to overwrite inputs or existing files."""
    path = check_output_path(path, inputs=inputs, force=force)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def note(message: str) -> None:
    print(message, file=sys.stderr)


def add_force(parser) -> None:
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
