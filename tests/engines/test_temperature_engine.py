"""A checkpoint's temperature reaches every backend the same way; files written before it read as T = 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import engines
from engines.builder import build_engine
from engines.engine_spec import ENGINE_JSON, OUTPUT_NAME, EngineSpec
from engines.inputs import synthetic_samples
from realtime.core.errors import CheckpointError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from training.calibration import softmax
from training.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from training.models import ModelConfig, create_model, input_names

CLASSES = ("negative", "positive", "surprise")
TEMPERATURE = 2.5


def checkpoint(path: Path, temperature: float) -> Path:
    """A small confident resnet18 DIANet at 32 px (same weights whatever the temperature)."""
    config = ModelConfig(backbone="resnet18", num_classes=len(CLASSES), feature_dim=16, hidden_dim=8)
    torch.manual_seed(0)
    model = create_model(config)
    with torch.no_grad():
        model.head[-1].weight.mul_(200.0)
    meta = CheckpointMeta(classes=CLASSES, model=config, input_names=input_names(config),
                          di_input=DIInputConfig(size=32), alignment={"size": 64, "grey": True},
                          data_fingerprint="synthetic", training={}, temperature=temperature)
    save_checkpoint(path, model, meta)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("temperature")
    scaled = checkpoint(root / "scaled.pt", TEMPERATURE)
    build_engine(scaled, root / "engine", backend="onnx", max_batch=4, threads=1)
    return {"plain": checkpoint(root / "plain.pt", 1.0), "scaled": scaled, "engine": root / "engine"}


def test_temperature_is_stored_and_applied_identically_by_onnx_and_torch(files) -> None:
    assert load_checkpoint(files["scaled"])[1].temperature == TEMPERATURE
    assert EngineSpec.read(files["engine"]).temperature == TEMPERATURE
    samples = synthetic_samples(("di_onset", "di_offset"), batch=4, raw_size=64)
    with engines.load(files["plain"]) as plain, engines.load(files["scaled"]) as torch_engine, \
            engines.load(files["engine"]) as onnx_engine:
        assert (torch_engine.temperature, onnx_engine.temperature, plain.temperature) == (TEMPERATURE, TEMPERATURE, 1)
        p1 = plain.classify(samples).astype(np.float64)
        expected = softmax(np.log(p1), TEMPERATURE)  # log p differs from the logits by a per-row constant
        p_torch, p_onnx = torch_engine.classify(samples), onnx_engine.classify(samples)
    assert p1.max() > 0.95  # the untempered model is over-confident ...
    assert p_torch.max(axis=1).mean() < p1.max(axis=1).mean() - 0.05  # ... the tempered one much less
    np.testing.assert_allclose(p_torch, expected, atol=1e-5)
    np.testing.assert_allclose(p_onnx, p_torch, atol=1e-4)
    assert (p_onnx.argmax(1) == p1.argmax(1)).all()


def test_the_graph_scales_by_1_over_t_before_the_softmax(files) -> None:
    graph = onnx.load(str(files["engine"] / "model.onnx")).graph
    (output,) = [n for n in graph.node if OUTPUT_NAME in n.output]  # (the fusion has softmaxes of its own)
    assert output.op_type == "Softmax"
    producer = next(n for n in graph.node if output.input[0] in n.output)
    assert producer.op_type in ("Div", "Mul")  # an exporter may fold / T into * (1 / T)
    constants = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    constants |= {n.output[0]: onnx.numpy_helper.to_array(n.attribute[0].t) for n in graph.node
                  if n.op_type == "Constant"}
    factor = float(constants[producer.input[1]])
    assert (factor if producer.op_type == "Div" else 1.0 / factor) == pytest.approx(TEMPERATURE)


def test_files_without_a_temperature_read_as_one(files, tmp_path) -> None:
    payload = torch.load(files["scaled"], weights_only=True)
    del payload["temperature"]
    torch.save(payload, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")[1].temperature == 1.0
    payload["temperature"] = -1.0
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="bad.pt: temperature must be"):
        load_checkpoint(tmp_path / "bad.pt")

    old = json.loads((files["engine"] / ENGINE_JSON).read_text())
    del old["temperature"]
    folder = tmp_path / "old_engine"
    folder.mkdir()
    (folder / ENGINE_JSON).write_text(json.dumps(old))
    assert EngineSpec.read(folder).temperature == 1.0
