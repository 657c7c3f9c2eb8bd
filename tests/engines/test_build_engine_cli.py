"""`mer-build-engine` end to end, and its one-line failures with exit code 2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import engines
from engines.cli import app
from engines.inputs import synthetic_samples
from realtime.dynamic_images.rank_pooling import DIInputConfig
from training.checkpoint import CheckpointMeta, save_checkpoint
from training.models import ModelConfig, create_model, input_names

runner = CliRunner()


def checkpoint(path: Path) -> Path:
    config = ModelConfig(backbone="resnet18", num_classes=4, inputs="clip", feature_dim=16, hidden_dim=8)
    torch.manual_seed(1)
    meta = CheckpointMeta(classes=("a", "b", "c", "d"), model=config, input_names=input_names(config),
                          di_input=DIInputConfig(size=32), alignment={"size": 48}, data_fingerprint="x", training={})
    save_checkpoint(path, create_model(config), meta)
    return path


def error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.slow
def test_builds_an_engine_that_matches_pytorch(tmp_path: Path) -> None:
    model = checkpoint(tmp_path / "model.pt")
    result = runner.invoke(app, [str(model), "--out", str(tmp_path / "engine"), "--backend", "onnx",
                                 "--max-batch", "2"])
    assert result.exit_code == 0, result.output
    assert "onnx engine (fp32) written to" in result.output and "onnxruntime_cpu batch 2:" in result.output
    with engines.load(tmp_path / "engine", threads=1) as built, engines.load(model, threads=1) as reference:
        assert built.classes == ("a", "b", "c", "d") and built.input_names == ("di_clip",)
        samples = synthetic_samples(built.input_names, batch=3, raw_size=48)
        assert np.abs(built.classify(samples) - reference.classify(samples)).max() <= 1e-4


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_tensorrt_without_tensorrt_fails_at_once(tmp_path: Path) -> None:
    result = runner.invoke(app, [str(tmp_path / "missing.pt"), "--out", str(tmp_path / "engine"),
                                 "--backend", "tensorrt"])
    assert result.exit_code == 2
    line = error_line(result.output)
    assert line.startswith("error: TensorRT is not installed here: pip install 'tensorrt>=10,<11'")
    assert "optional dependency group 'tensorrt'" in line
    assert not (tmp_path / "engine").exists()  # refused before reading the checkpoint or writing anything


@pytest.mark.parametrize(("args", "message"), [
    (["--precision", "fp16", "--backend", "onnx"], "error: --precision fp16 needs --backend tensorrt"),
    (["--backend", "openvino"], "error: unknown backend 'openvino'; choose one of auto, onnx, tensorrt"),
])
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, [str(tmp_path / "model.pt"), "--out", str(tmp_path / "engine"), *args])
    assert result.exit_code == 2 and error_line(result.output).startswith(message)


def test_a_bad_checkpoint_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    result = runner.invoke(app, [str(tmp_path / "model.pt"), "--out", str(tmp_path / "engine"), "--backend", "onnx"])
    assert result.exit_code == 2
    assert "model.pt: not a readable checkpoint, truncated or corrupt" in error_line(result.output)


def test_help_names_every_option() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert all(option in result.output for option in ("--out", "--backend", "--precision", "--max-batch"))
