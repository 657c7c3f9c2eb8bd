"""engine.json round-trips exactly and every malformed field is refused with one line naming it."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from engines.engine_spec import ENGINE_JSON, EngineSpec, TensorRTTarget, TensorSpec
from realtime.core.errors import EngineError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from realtime.dynamic_images.representation_config import RepresentationConfig
from training.checkpoint import file_sha256


def make_spec(**changes: object) -> EngineSpec:
    spec = EngineSpec(
        backend="onnx", model_file="model.onnx", model_sha256="a" * 64, onnx_file="model.onnx",
        onnx_sha256="a" * 64, classes=("negative", "positive", "surprise"),
        inputs=(TensorSpec("di_onset", ("batch", 1, 64, 64)), TensorSpec("di_offset", ("batch", 1, 64, 64))),
        output=TensorSpec("probabilities", ("batch", 3)), max_batch=4, precision="fp32",
        di_input=DIInputConfig(size=64, noise_floor=0.25, clip=3.0), alignment={"size": 96, "grey": True},
        model={"backbone": "resnet18", "inputs": "phases"}, source={"checkpoint": "model.pt", "sha256": "b" * 64},
        versions={"opset": 18}, parity={"onnxruntime_cpu": {"1": 1e-8, "4": 2e-8}}, created="2026-01-01T00:00:00+00:00")
    return replace(spec, **changes)


def test_engine_json_round_trips(tmp_path: Path) -> None:
    spec = make_spec()
    spec.write(tmp_path)
    assert EngineSpec.read(tmp_path) == spec
    data = json.loads((tmp_path / ENGINE_JSON).read_text())
    assert data["inputs"][0] == {"name": "di_onset", "shape": ["batch", 1, 64, 64], "dtype": "float32"}
    assert data["di_input"] == {"size": 64, "noise_floor": 0.25, "clip": 3.0,
                                "representation": asdict(RepresentationConfig())}  # the sibling methods' choices
    assert spec.input_names == ("di_onset", "di_offset") and spec.input_shape == (1, 64, 64)


def test_tensorrt_target_round_trips(tmp_path: Path) -> None:
    target = TensorRTTarget(version="10.3.0", gpu_name="NVIDIA H100 80GB HBM3", compute_capability=(9, 0))
    spec = make_spec(backend="tensorrt", model_file="model.plan", precision="fp16", tensorrt=target)
    spec.write(tmp_path)
    assert EngineSpec.read(tmp_path).tensorrt == target


def edit(tmp_path: Path, key: str, value: object) -> None:
    make_spec().write(tmp_path)
    path = tmp_path / ENGINE_JSON
    data = json.loads(path.read_text())
    if value is KeyError:
        del data[key]
    else:
        data[key] = value
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(("key", "value", "message"), [
    ("version", 99, "version 99 is not supported"),
    ("format", "something-else", "format is 'something-else'"),
    ("classes", KeyError, "missing field 'classes'"),
    ("classes", ["negative", "positive"], "output shape ['batch', 3] does not match the 2 classes"),
    ("max_batch", "4", "field 'max_batch' should be int"),
    ("backend", "tflite", "backend 'tflite' is not one of onnx, tensorrt"),
    ("precision", "int8", "precision 'int8' is not fp32 or fp16"),
    ("di_input", {"size": 64, "gamma": 1}, "does not match DIInputConfig"),
    ("inputs", [{"name": "di_onset", "shape": [1, 1, 64, 64], "dtype": "float32"}], "is not ['batch', C, S, S]"),
    ("tensorrt", {"version": "10.3", "gpu_name": "x", "compute_capability": [9, 0]}, "an ONNX engine has none"),
])
def test_malformed_fields_are_refused(tmp_path: Path, key: str, value: object, message: str) -> None:
    edit(tmp_path, key, value)
    with pytest.raises(EngineError, match="engine.json") as info:
        EngineSpec.read(tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_and_invalid_engine_json(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="is not an engine folder: it has no engine.json"):
        EngineSpec.read(tmp_path)
    (tmp_path / ENGINE_JSON).write_text('{"format": "dianet-mer-engine", ')
    with pytest.raises(EngineError, match="is not valid JSON"):
        EngineSpec.read(tmp_path)


def test_check_file_refuses_a_changed_file(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"0123456789")
    spec = make_spec(model_sha256=file_sha256(tmp_path / "model.onnx"))
    assert spec.check_file(tmp_path, "model.onnx", spec.model_sha256) == tmp_path / "model.onnx"
    (tmp_path / "model.onnx").write_bytes(b"01234")
    with pytest.raises(EngineError, match="truncated, corrupted or from another build"):
        spec.check_file(tmp_path, "model.onnx", spec.model_sha256)
    with pytest.raises(EngineError, match="model.plan is missing"):
        spec.check_file(tmp_path, "model.plan", spec.model_sha256)


def test_check_signature_names_the_difference() -> None:
    spec = make_spec()
    spec.check_signature(spec.inputs, spec.output, "model.onnx")
    renamed = (TensorSpec("di_clip", ("batch", 1, 64, 64)),)
    with pytest.raises(EngineError, match=r"model.onnx takes di_clip float32 \(batch, 1, 64, 64\), but engine.json"):
        spec.check_signature(renamed, spec.output, "model.onnx")
    with pytest.raises(EngineError, match=r"returns probabilities float32 \(batch, 5\).*\(3 classes\)"):
        spec.check_signature(spec.inputs, TensorSpec("probabilities", ("batch", 5)), "model.onnx")
