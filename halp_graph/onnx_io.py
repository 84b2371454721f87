"""Reading and writing ONNX files (and text outputs) safely: atomic writes, external data,
no overwrites.

A write goes to a temporary file or directory beside the destination and is moved into place
only when complete, so a crash never leaves half a model. The input file is never a
valid destination, and an existing output is refused unless the caller forces it.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import onnx
from onnx import external_data_helper

from .errors import OutputExistsError, RewriteError
from .graph.capture_onnx import LoadedModel

TWO_GB = 2**31 - 1


def check_output_path(path: str | os.PathLike, *, inputs: tuple = (), force: bool = False) -> str:
    """Refuse to write over an input, or over an existing file unless forced."""
    path = os.fspath(path)
    real = os.path.realpath(path)
    for src in inputs:
        if src and os.path.exists(src) and os.path.realpath(src) == real:
            raise OutputExistsError(f"{path}: refusing to overwrite the input model")
    if os.path.exists(path) and not force:
        raise OutputExistsError(f"{path}: already exists (pass --force to replace it)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise OutputExistsError(f"{path}: directory {parent} does not exist")
    return path


def write_text(path: str | os.PathLike, text: str, *, inputs: tuple = (), force: bool = False) -> None:
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


def materialize(model: LoadedModel) -> onnx.ModelProto:
    """A copy of the model with all external data read into memory."""
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    if model.has_external_data:
        external_data_helper.load_external_data_for_model(proto, model.base_dir)
    return proto


def save_model(model: LoadedModel | onnx.ModelProto, path: str | os.PathLike, *,
               external: bool | None = None, inputs: tuple = (), force: bool = False) -> str:
    """Write `model` to `path` atomically; large or externally stored models keep their
    weights in `<path>.data` beside it."""
    path = check_output_path(path, inputs=inputs, force=force)
    if isinstance(model, onnx.ModelProto):
        model = LoadedModel(model, ".")
    proto = materialize(model)
    if external is None:
        external = model.has_external_data or proto.ByteSize() > TWO_GB
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    tmpdir = tempfile.mkdtemp(prefix=f".{name}.", dir=directory)
    try:
        tmp_model = os.path.join(tmpdir, name)
        data_name = name + ".data"
        if external:
            onnx.save_model(proto, tmp_model, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=data_name, size_threshold=1024)  # shape vectors stay inline
            final_data = os.path.join(directory, data_name)
            if os.path.exists(final_data) and not force:
                raise OutputExistsError(f"{final_data}: already exists (pass --force to replace it)")
            if os.path.exists(os.path.join(tmpdir, data_name)):
                _default_mode(os.path.join(tmpdir, data_name))
                os.replace(os.path.join(tmpdir, data_name), final_data)
        else:
            onnx.save_model(proto, tmp_model)
        _default_mode(tmp_model)
        os.replace(tmp_model, path)
    except OSError as exc:
        raise RewriteError(f"cannot write {path}: {exc}") from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path


def _default_mode(path: str) -> None:
    """The permissions a plain open() would give (some writers create private files)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def check_full(model: LoadedModel | onnx.ModelProto) -> None:
    """onnx.checker with full check (strict shape inference); large models via a file."""
    proto = model.proto if isinstance(model, LoadedModel) else model
    try:
        if not (isinstance(model, LoadedModel) and model.has_external_data) and proto.ByteSize() < TWO_GB:
            onnx.checker.check_model(proto, full_check=True)
            return
        with tempfile.TemporaryDirectory() as tmp:
            target = os.path.join(tmp, "model.onnx")
            loaded = model if isinstance(model, LoadedModel) else LoadedModel(proto, ".")
            save_model(loaded, target, external=True)
            onnx.checker.check_model(target, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise RewriteError(f"the rewritten model fails onnx.checker: {first}") from None
