"""The ONNX Runtime backend: no spinning threads, its graph signature read back, bad files refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engines.engine_spec import TensorSpec
from engines.onnx_backend import OnnxBackend, session_options
from realtime.core.errors import EngineError


def tiny_graph(path: Path) -> None:
    """(batch, 1, 4, 4) -> flatten -> matmul (16, 3) -> softmax: a graph shaped like an engine's."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, (16, 3), np.linspace(-1, 1, 48, dtype=np.float32))
    shape = helper.make_tensor("s", TensorProto.INT64, (2,), np.array([-1, 16], np.int64))
    nodes = [helper.make_node("Reshape", ["di_clip", "s"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["z"]),
             helper.make_node("Softmax", ["z"], ["probabilities"], axis=-1)]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("di_clip", TensorProto.FLOAT, ["batch", 1, 4, 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])], [weight, shape])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def test_cpu_sessions_do_not_spin_and_use_the_given_threads() -> None:
    options = session_options(3)
    assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    with pytest.raises(EngineError, match="threads must be >= 1"):
        session_options(0)


def test_runs_and_reports_its_signature(tmp_path: Path) -> None:
    tiny_graph(tmp_path / "m.onnx")
    backend = OnnxBackend(tmp_path / "m.onnx", threads=1, device="cpu")
    assert backend.inputs == (TensorSpec("di_clip", ("batch", 1, 4, 4)),)
    assert backend.output == TensorSpec("probabilities", ("batch", 3))
    x = np.random.default_rng(0).normal(size=(5, 1, 4, 4)).astype(np.float32)
    p = backend.run({"di_clip": x})
    assert p.shape == (5, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-6)
    backend.close()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing"])
def test_unreadable_models_are_refused_in_one_line(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "m.onnx"
    tiny_graph(path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(range(256)) * 8)
    elif damage == "missing":
        path.unlink()
    with pytest.raises(EngineError, match=r"ONNX Runtime cannot load .*m\.onnx") as info:
        OnnxBackend(path, threads=1, device="cpu")
    assert "\n" not in str(info.value)


def test_devices(tmp_path: Path) -> None:
    tiny_graph(tmp_path / "m.onnx")
    with pytest.raises(EngineError, match="unknown ONNX Runtime device 'tpu'"):
        OnnxBackend(tmp_path / "m.onnx", device="tpu")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(EngineError, match="no CUDAExecutionProvider"):
            OnnxBackend(tmp_path / "m.onnx", device="cuda")
