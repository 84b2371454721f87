"""The passes inside onnx-ir pipelines: ir.Model in and out beside onnx-ir's own passes,
the same model the `apply` command writes, no state between calls, lazy external data
kept, protos through the one adapter. Every output check is halp_graph.equivalence's
(scale-aware tolerance, a vacuous comparison fails)."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import onnx_ir.passes.common as common
import pytest

from halp_graph.cli import main as cli
from halp_graph.equivalence import check_equivalence, compare_outputs
from halp_graph.errors import PlanError
from halp_graph.graph import analyze, from_proto, load_model
from halp_graph.models import edge_cases as ec
from halp_graph.passes import MaskChannelsPass, PruneChannelsPass, as_ir_model, mask_channels, prune_channels
from halp_graph.passes.adapter import to_loaded
from halp_graph.plan import PruningPlan
from halp_graph.runtime import random_inputs, session
from halp_graph.testing import random_plan


def outputs(model, feeds) -> list[np.ndarray]:
    """ONNX Runtime outputs of an ir.Model, ModelProto or LoadedModel."""
    return session(to_loaded(model) if isinstance(model, ir.Model) else model).run(None, feeds)


def assert_same_outputs(got, ref, feeds) -> None:
    a, b = outputs(got, feeds), outputs(ref, feeds)
    c = compare_outputs([f"output{i}" for i in range(len(b))], a, b)
    assert c.ok, c.summary()


def assert_outputs_differ(got, ref, feeds) -> None:
    """The plan changed what the model computes, so a passing comparison is not trivial."""
    a, b = outputs(got, feeds), outputs(ref, feeds)
    assert not compare_outputs([f"output{i}" for i in range(len(b))], a, b).ok


def reweighted(model: onnx.ModelProto, seed: int) -> onnx.ModelProto:
    """The same graph with other float weights."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    rng = np.random.default_rng(seed)
    for t in out.graph.initializer:
        a = onnx.numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size > 1:
            t.CopyFrom(onnx.numpy_helper.from_array((a * rng.uniform(0.5, 1.5, a.shape)).astype(np.float32), t.name))
    return out


def removing_plan(groups, seed: int) -> PruningPlan:
    plan = random_plan(groups, seed=seed, p_touch=1.0)
    assert plan.removes_anything(groups)
    return plan


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_pipeline_writes_what_apply_writes(zoo, tmp_path, exporter):
    path = zoo("resnet18", exporter)
    dense = load_model(path)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(random_plan(analyze(dense), seed=3).to_json()))
    assert cli(["apply", path, "--plan", str(plan_file), "-o", str(tmp_path / "apply.onnx")]) == 0

    pm = ir.passes.PassManager([common.ClearMetadataAndDocStringPass(),
                                PruneChannelsPass(PruningPlan.load(plan_file)),
                                common.RemoveUnusedNodesPass()])
    result = pm(ir.load(path))
    assert result.modified and isinstance(result.model, ir.Model)
    ir.save(result.model, str(tmp_path / "pipeline.onnx"))

    piped, applied = load_model(tmp_path / "pipeline.onnx"), load_model(tmp_path / "apply.onnx")
    shapes = sorted(tuple(t.dims) for t in piped.proto.graph.initializer)
    assert shapes == sorted(tuple(t.dims) for t in applied.proto.graph.initializer)
    assert [n.op_type for n in piped.proto.graph.node] == [n.op_type for n in applied.proto.graph.node]
    feeds = random_inputs(dense)
    assert_same_outputs(piped, applied, feeds)
    assert_outputs_differ(piped, dense, feeds)
    given = PruneChannelsPass(PruningPlan.load(plan_file), analyze(dense))(ir.load(path))  # the file's groups
    assert_same_outputs(given.model, applied, feeds)
    c = check_equivalence(dense, piped, PruningPlan.load(plan_file))
    assert c.ok, c.summary()


def test_a_reused_pass_gives_each_model_its_own_result():
    first = ec.residual_add()
    second = reweighted(first, seed=1)  # same groups, other weights
    plan = removing_plan(analyze(first), seed=2)
    p = PruneChannelsPass(plan)
    results = [p(as_ir_model(m)).model for m in (first, second)]
    for model, result in zip((first, second), results):
        c = check_equivalence(model, ir.to_proto(result), plan)
        assert c.ok, c.summary()
    feeds = random_inputs(from_proto(first))
    assert_outputs_differ(results[0], results[1], feeds)


@pytest.mark.parametrize("case", ["residual_add", "weight_batchnorm_standardized"])
def test_given_groups_are_checked_and_bound_to_the_model(case):
    first = ec.EDGE_CASES[case]()  # the second case computes a weight from its initializer
    groups = analyze(first)
    plan = removing_plan(groups, seed=2)
    second = reweighted(first, seed=1)
    c = check_equivalence(second, prune_channels(second, plan, groups), plan)
    assert c.ok, c.summary()  # the second model's own weights, through the first's groups
    with pytest.raises(PlanError, match="not found on this model"):
        PruneChannelsPass(plan, groups)(as_ir_model(ec.concat_branches()))


def test_a_plan_that_removes_nothing_is_accepted_by_onnx_ir():
    model = as_ir_model(ec.concat_branches())
    groups = analyze(ec.concat_branches())
    for plan in (PruningPlan({}), PruningPlan({g.id: list(range(g.size)) for g in groups.prunable()})):
        result = PruneChannelsPass(plan)(model)
        assert result.modified is False and result.model is not model
        assert ir.to_proto(result.model) == ir.to_proto(model)
        piped = ir.passes.PassManager([PruneChannelsPass(plan), common.RemoveUnusedNodesPass()])(model)
        assert piped.modified is False


def test_mask_channels_in_a_pass_manager(grouped):
    dense, groups = grouped("resnet18", "legacy")
    plan = removing_plan(groups, seed=4)
    masked = ir.passes.PassManager([MaskChannelsPass(plan), common.RemoveUnusedNodesPass()])(as_ir_model(dense))
    pruned = ir.passes.PassManager([PruneChannelsPass(plan), common.RemoveUnusedNodesPass()])(as_ir_model(dense))
    assert masked.modified and pruned.modified
    feeds = random_inputs(dense)
    assert_same_outputs(masked.model, mask_channels(dense, plan, groups), feeds)
    assert_same_outputs(pruned.model, masked.model, feeds)  # the invariant, through onnx-ir
    assert_outputs_differ(masked.model, dense, feeds)


def test_protos_go_through_the_adapter():
    proto = ec.squeeze_excite()
    before = proto.SerializeToString()
    plan = removing_plan(analyze(proto), seed=0)
    with pytest.raises(ir.passes.PreconditionError, match="as_ir_model"):
        PruneChannelsPass(plan)(proto)
    feeds = random_inputs(from_proto(proto))
    for given in (proto, from_proto(proto)):
        result = PruneChannelsPass(plan)(as_ir_model(given))
        assert_same_outputs(result.model, prune_channels(proto, plan), feeds)
    assert proto.SerializeToString() == before  # the input is not changed


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_external_data_stays_lazy_and_saves(tmp_path):
    dense = ec.residual_add()
    src = tmp_path / "src"
    src.mkdir()
    onnx.save(ec.residual_add(), str(src / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="m.data", size_threshold=64)
    data_hash = _sha(src / "m.data")
    groups = analyze(load_model(src / "m.onnx"))
    plan = PruningPlan({[g for g in groups.prunable() if not g.cut][0].id: [0, 2]})
    model = ir.load(str(src / "m.onnx"))
    external = {v.name for v in model.graph.initializers.values() if isinstance(v.const_value, ir.ExternalTensor)}
    assert len(external) >= 4

    result = PruneChannelsPass(plan)(model)
    still = {v.name for v in result.model.graph.initializers.values()
             if isinstance(v.const_value, ir.ExternalTensor)}
    sliced = [v for v in result.model.graph.initializers.values() if v.name not in external]
    assert still and still < external and sliced  # untouched weights stay on disk, lazy
    assert not any(isinstance(v.const_value, ir.ExternalTensor) for v in sliced)
    assert all(isinstance(v.const_value, ir.ExternalTensor) for v in model.graph.initializers.values()
               if v.name in external)  # the input model is untouched

    out = tmp_path / "out"
    out.mkdir()
    ir.save(result.model, str(out / "slim.onnx"), external_data="slim.data")  # elsewhere: data copied
    ir.save(result.model, str(src / "beside.onnx"))  # beside the original: still points at m.data
    assert _sha(src / "m.data") == data_hash
    feeds = random_inputs(from_proto(dense))
    expected = prune_channels(load_model(src / "m.onnx"), plan)
    for saved in (out / "slim.onnx", src / "beside.onnx"):
        loaded = load_model(saved)
        assert loaded.has_external_data
        assert_same_outputs(loaded, expected, feeds)
        c = check_equivalence(from_proto(dense), loaded, plan)
        assert c.ok, c.summary()


def test_reconstruction_in_a_pass_manager():
    pytest.importorskip("torch")
    from halp_graph.models.random_nets import build_random_net
    from halp_graph.passes.reconstruct import ReconstructPass, reconstruct
    from halp_graph.samples import Samples

    dense = from_proto(build_random_net(["residual", "bn", "concat"], [8, 8, 8], seed=0))
    groups = analyze(dense)
    plan = PruningPlan({g.id: list(range(g.size // 2)) for g in groups.prunable()[:2]})
    calib = Samples({"x": np.random.default_rng(1).standard_normal((64, 3, 6, 6)).astype(np.float32)}, None, "r")
    pm = ir.passes.PassManager([PruneChannelsPass(plan), ReconstructPass(as_ir_model(dense), plan, calib),
                                common.RemoveUnusedNodesPass()])
    result = pm(as_ir_model(dense))
    assert result.modified
    expected, info = reconstruct(dense, prune_channels(dense, plan, groups), plan, calib, groups)
    assert info["layers"]
    feeds = {"x": np.random.default_rng(2).standard_normal((4, 3, 6, 6)).astype(np.float32)}
    assert_same_outputs(result.model, expected, feeds)
    assert_outputs_differ(result.model, prune_channels(dense, plan, groups), feeds)


def test_passes_import_nothing_from_the_stages_above():
    """pruning and latency sit above the rewrite (LatencyPrunePass lives in pruning)."""
    root = Path(__file__).resolve().parents[2] / "passes"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):  # passes/ is halp_graph.passes
                package = ["halp_graph", "halp_graph.passes"][node.level == 1] if node.level else ""
                names = [".".join(p for p in (package, node.module or "") if p)]
            else:
                continue
            for name in names:
                assert not name.startswith(("halp_graph.pruning", "halp_graph.latency")), f"{path.name}: {name}"
