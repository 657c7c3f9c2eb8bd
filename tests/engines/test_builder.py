"""Engines built from small checkpoints of every input kind match PyTorch, and describe themselves.

Everything a TensorRT build consumes is checked here with ONNX Runtime and onnx: one
self-contained ONNX file, the checkpoint's input names in order, (batch, 1, S, S) inputs with a
symbolic batch axis, (batch, K) probabilities out, and the same results at batch 1 and max batch.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import engines
from engines.builder import build_engine, resolve_backend
from engines.engine_spec import ENGINE_JSON, EngineSpec
from engines.export import measure_parity
from engines.inputs import synthetic_samples
from realtime.core.errors import EngineError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from training.checkpoint import CheckpointMeta, file_sha256, save_checkpoint
from training.models import ModelConfig, create_model, input_names

KINDS = ("phases", "clip_both", "clip", "onset", "offset")
CLASSES = ("negative", "positive", "surprise")
SIZE = 64
MAX_BATCH = 3


def make_checkpoint(path: Path, inputs: str) -> Path:
    """A resnet18 DIANet at 64 px whose head is scaled so probabilities are far from uniform."""
    config = ModelConfig(backbone="resnet18", num_classes=len(CLASSES), inputs=inputs, feature_dim=32, hidden_dim=16)
    torch.manual_seed(KINDS.index(inputs))
    model = create_model(config)
    with torch.no_grad():
        model.head[-1].weight.mul_(40.0)
    meta = CheckpointMeta(classes=CLASSES, model=config, input_names=input_names(config),
                          di_input=DIInputConfig(size=SIZE), alignment={"size": 96, "grey": True},
                          data_fingerprint="synthetic", training={"epochs": 0})
    save_checkpoint(path, model, meta)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """{kind: (model.pt, engine folder)}, each engine built for ONNX with max batch 3."""
    root = tmp_path_factory.mktemp("engines")
    result = {}
    for kind in KINDS:
        checkpoint = make_checkpoint(root / f"{kind}.pt", kind)
        if kind == "onset":  # a rebuild into an old folder: stale files must not survive
            (root / kind).mkdir()
            (root / kind / "model.plan").write_bytes(b"stale plan")
            (root / kind / ENGINE_JSON).write_text(json.dumps({"stale": True}))
        spec = build_engine(checkpoint, root / kind, backend="onnx", max_batch=MAX_BATCH, threads=1)
        assert EngineSpec.read(root / kind) == spec
        result[kind] = (checkpoint, root / kind)
    return result


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_engine_folder_describes_the_checkpoint(built: dict[str, tuple[Path, Path]], kind: str) -> None:
    checkpoint, folder = built[kind]
    # No external-data side file, and no stale plan from an earlier build (the "onset" folder had one).
    assert sorted(p.name for p in folder.iterdir()) == ["engine.json", "model.onnx"]
    spec = EngineSpec.read(folder)
    assert spec.backend == "onnx" and spec.model_file == spec.onnx_file == "model.onnx"
    assert spec.classes == CLASSES and spec.input_names == input_names(ModelConfig(backbone="resnet18", inputs=kind))
    assert spec.input_shape == (1, SIZE, SIZE) and spec.max_batch == MAX_BATCH and spec.precision == "fp32"
    assert spec.di_input == DIInputConfig(size=SIZE) and spec.alignment == {"size": 96, "grey": True}
    assert spec.model["inputs"] == kind and spec.model["backbone"] == "resnet18"
    assert spec.source == {"checkpoint": checkpoint.name, "sha256": file_sha256(checkpoint),
                           "data_fingerprint": "synthetic"}
    assert spec.model_sha256 == file_sha256(folder / "model.onnx")
    assert spec.tensorrt is None and {"exporter", "opset", "onnx", "onnxruntime", "torch"} <= set(spec.versions)
    assert set(spec.parity["onnxruntime_cpu"]) == {"1", str(MAX_BATCH)}
    assert all(0 <= d <= 1e-4 for d in spec.parity["onnxruntime_cpu"].values())


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_onnx_graph_is_what_tensorrt_consumes(built: dict[str, tuple[Path, Path]], kind: str) -> None:
    _, folder = built[kind]
    model = onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)

    def dims(value: onnx.ValueInfoProto) -> list[int | str]:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    names = list(EngineSpec.read(folder).input_names)
    assert [v.name for v in model.graph.input] == names
    assert all(dims(v) == ["batch", 1, SIZE, SIZE] for v in model.graph.input)
    assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in model.graph.input)
    assert [(v.name, dims(v)) for v in model.graph.output] == [("probabilities", ["batch", len(CLASSES)])]
    assert model.graph.node[-1].op_type == "Softmax"  # probabilities come out of the graph


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_onnx_runtime_matches_pytorch_at_batch_1_and_max_batch(built: dict[str, tuple[Path, Path]], kind: str) -> None:
    checkpoint, folder = built[kind]
    with engines.load(folder, backend="onnx", threads=1) as onnx_engine, \
            engines.load(checkpoint, threads=1) as torch_engine:
        assert onnx_engine.backend.name == "onnx" and torch_engine.backend.name == "torch"
        assert onnx_engine.classes == torch_engine.classes == CLASSES
        assert onnx_engine.input_names == torch_engine.input_names
        for batch in (1, MAX_BATCH):
            samples = synthetic_samples(onnx_engine.input_names, batch=batch, raw_size=96, seed=7 + batch)
            p_onnx = onnx_engine.classify(samples)
            p_torch = torch_engine.classify(samples)
            assert p_onnx.shape == (batch, len(CLASSES)) and p_onnx.dtype == np.float32
            np.testing.assert_allclose(p_onnx.sum(axis=1), 1, atol=1e-5)
            assert np.abs(p_onnx - p_torch).max() <= 1e-4
        assert np.ptp(p_onnx, axis=0).max() > 1e-3  # samples differ by 10x the tolerance: the check means something


@pytest.mark.slow
def test_parity_check_fails_and_says_by_how_much(built: dict[str, tuple[Path, Path]]) -> None:
    """The build's parity check, given a runtime that drifts by 1e-3, refuses with the difference."""
    from engines.onnx_backend import OnnxBackend
    from engines.torch_backend import TorchBackend
    from training.checkpoint import load_checkpoint

    class Drifting(OnnxBackend):
        def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
            return super().run(inputs) + np.float32(1e-3)

    checkpoint, folder = built["clip"]
    net, meta = load_checkpoint(checkpoint)
    args = dict(input_names=meta.input_names, di_input=meta.di_input, raw_size=96, batches=[1, MAX_BATCH])
    reference = TorchBackend(net, meta.input_names, threads=1, device="cpu")
    assert max(measure_parity(reference, OnnxBackend(folder / "model.onnx", threads=1), tolerance=1e-4,
                              **args).values()) <= 1e-4
    with pytest.raises(EngineError, match=r"onnx probabilities differ from torch by 1\.00\de-03 at batch 1 "
                                          r"\(tolerance 1e-04\)"):
        measure_parity(reference, Drifting(folder / "model.onnx", threads=1), tolerance=1e-4, **args)


@pytest.mark.slow
def test_engine_splits_batches_larger_than_max_batch(built: dict[str, tuple[Path, Path]]) -> None:
    _, folder = built["phases"]
    with engines.load(folder, threads=1) as engine:
        samples = synthetic_samples(engine.input_names, batch=2 * MAX_BATCH + 1, raw_size=96, seed=3)
        together = engine.classify(samples)
        one_by_one = np.concatenate([engine.classify([s]) for s in samples])
    assert together.shape == (2 * MAX_BATCH + 1, len(CLASSES))
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)


def test_backend_choice() -> None:
    assert resolve_backend("onnx", "fp32") == ("onnx", "fp32")
    with pytest.raises(EngineError, match="--precision fp16 needs --backend tensorrt"):
        resolve_backend("onnx", "fp16")
    with pytest.raises(EngineError, match="unknown backend 'openvino'; choose one of auto, tensorrt, onnx"):
        resolve_backend("openvino", "fp32")
    with pytest.raises(EngineError, match="unknown precision 'int8'"):
        resolve_backend("onnx", "int8")
    if importlib.util.find_spec("tensorrt") is None or not torch.cuda.is_available():
        assert resolve_backend("auto", "fp16") == ("onnx", "fp32")  # fp16 falls back with a warning
