"""Capture of ONNX files: opsets, external data, symbolic batch, and clear failures."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import helper

from halp_graph.errors import CaptureError
from halp_graph.graph import analyze, capture, load_model
from halp_graph.models import edge_cases as ec


def save(model, path):
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize("opset", list(range(11, 22)))
def test_every_supported_opset_captures(opset):
    graph = capture(ec.residual_add(opset=opset))
    assert graph.opset == opset
    assert all(graph.shape(o) is not None for n in graph.nodes for o in n.outputs)


def test_symbolic_batch_stays_symbolic(tmp_path):
    graph = capture(load_model(save(ec.squeeze_excite(batch="N"), tmp_path / "m.onnx")))
    assert graph.shape("x")[0] == "N"
    assert len(analyze(ec.squeeze_excite(batch="N")).prunable()) == 3


def test_external_data_is_not_read_during_capture(tmp_path):
    model = ec.residual_add()
    path = str(tmp_path / "ext.onnx")
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.onnx.data", size_threshold=0)
    loaded = load_model(path)
    assert loaded.has_external_data
    groups = analyze(loaded)
    assert len(groups.prunable()) == 2
    w = groups.graph.const("stem_w_1")  # loaded on demand from the data file
    assert w.shape == (8, 3, 3, 3)


def test_missing_external_data_is_a_clear_error(tmp_path):
    path = str(tmp_path / "ext.onnx")
    onnx.save_model(ec.residual_add(), path, save_as_external_data=True, location="w.bin",
                    size_threshold=0)
    os.remove(tmp_path / "w.bin")
    with pytest.raises(CaptureError, match="external data file 'w.bin'.*missing"):
        load_model(path)


def test_truncated_file(tmp_path):
    data = ec.residual_add().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CaptureError, match="truncated"):
        load_model(str(path))


def test_not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n" * 10)
    with pytest.raises(CaptureError, match="not an ONNX model|cannot be read"):
        load_model(str(path))


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(CaptureError, match="empty"):
        load_model(str(tmp_path / "empty.onnx"))
    with pytest.raises(CaptureError, match="no such file"):
        load_model(str(tmp_path / "absent.onnx"))


def test_shape_inference_failure_is_reported():
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
    w = onnx.numpy_helper.from_array(np.zeros((8, 5, 3, 3), np.float32), "w")  # 5 != 3 inputs
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])
    model = helper.make_model(helper.make_graph([node], "bad", [x], [y], [w]),
                              opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(CaptureError, match="shape"):
        capture(model)


def test_old_opset_is_refused_with_advice():
    model = ec.residual_add(opset=11)
    model.opset_import[0].version = 9
    with pytest.raises(CaptureError, match="opset 9.*version_converter"):
        capture(model)
