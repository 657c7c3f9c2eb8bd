"""engines.load: one classify path for every backend, and one-line refusals for every bad input.

The engine folders here hold a small hand-written ONNX graph (so these tests do not depend on the
exporter, which test_builder.py covers): two 8x8 inputs -> a fixed linear map -> softmax.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import engines
from engines import RawDI
from engines.engine_spec import EngineSpec, TensorRTTarget, TensorSpec
from engines.inputs import prepare_inputs, synthetic_samples
from realtime.core.errors import CheckpointError, EngineError, InputError
from realtime.dynamic_images.rank_pooling import DIInputConfig, to_network_input
from training.checkpoint import CheckpointMeta, file_sha256, save_checkpoint
from training.models import ModelConfig, create_model, input_names

NAMES = ("di_onset", "di_offset")
CLASSES = ("negative", "positive", "surprise")
SIZE = 8
WEIGHT = np.linspace(-0.2, 0.2, 2 * SIZE * SIZE * len(CLASSES), dtype=np.float32).reshape(-1, len(CLASSES))


def write_graph(path: Path) -> None:
    """softmax(concat(flatten(di_onset), flatten(di_offset)) @ WEIGHT), batch dynamic."""
    shape = helper.make_tensor("shape", TensorProto.INT64, (2,), np.array([-1, SIZE * SIZE], np.int64))
    weight = helper.make_tensor("w", TensorProto.FLOAT, WEIGHT.shape, WEIGHT.ravel())
    nodes = [helper.make_node("Reshape", [NAMES[0], "shape"], ["a"]),
             helper.make_node("Reshape", [NAMES[1], "shape"], ["b"]),
             helper.make_node("Concat", ["a", "b"], ["ab"], axis=1),
             helper.make_node("MatMul", ["ab", "w"], ["z"]),
             helper.make_node("Softmax", ["z"], ["probabilities"], axis=-1)]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 1, SIZE, SIZE]) for n in NAMES],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(CLASSES)])], [shape, weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def expected_probabilities(samples: list[dict[str, RawDI]], config: DIInputConfig) -> np.ndarray:
    x = np.stack([np.concatenate([to_network_input(*s[n], config).ravel() for n in NAMES]) for s in samples])
    z = x @ WEIGHT
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An ONNX engine folder whose engine.json matches its graph."""
    folder = tmp_path / "engine"
    folder.mkdir()
    write_graph(folder / "model.onnx")
    sha = file_sha256(folder / "model.onnx")
    EngineSpec(
        backend="onnx", model_file="model.onnx", model_sha256=sha, onnx_file="model.onnx", onnx_sha256=sha,
        classes=CLASSES, inputs=tuple(TensorSpec(n, ("batch", 1, SIZE, SIZE)) for n in NAMES),
        output=TensorSpec("probabilities", ("batch", len(CLASSES))), max_batch=2, precision="fp32",
        di_input=DIInputConfig(size=SIZE, noise_floor=0.5, clip=3.0), alignment={"size": 32}, model={},
        source={}, versions={}, parity={}, created="2026-01-01T00:00:00+00:00").write(folder)
    return folder


def edit_json(folder: Path, **changes: object) -> None:
    path = folder / "engine.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_classify_applies_to_network_input_with_the_engine_config(folder: Path) -> None:
    with engines.load(folder, threads=1) as engine:
        assert engine.classes == CLASSES and engine.input_names == NAMES and engine.backend.name == "onnx"
        assert engine.di_input == DIInputConfig(size=SIZE, noise_floor=0.5, clip=3.0)
        assert engine.alignment == {"size": 32} and engine.max_batch == 2 and engine.input_shape == (1, SIZE, SIZE)
        samples = synthetic_samples(NAMES, batch=5, raw_size=32)  # 32 px DIs: the engine resizes them to 8
        probabilities = engine.classify(samples)
        assert probabilities.shape == (5, 3) and probabilities.dtype == np.float32  # 5 > max batch: split
        np.testing.assert_allclose(probabilities, expected_probabilities(samples, engine.di_input), atol=1e-5)
        np.testing.assert_array_equal(engine.run(prepare_inputs(samples, NAMES, engine.di_input)), probabilities)
        assert "onnx" in repr(engine) and "cpu (1 threads)" in repr(engine)
        assert engine.description.endswith("(onnx on cpu (1 threads), fp32, built 2026-01-01T00:00:00+00:00); "
                                           "classes negative, positive, "
                                           "surprise; inputs di_onset, di_offset")


def test_bad_samples_and_inputs_are_input_errors(folder: Path) -> None:
    with engines.load(folder, threads=1) as engine:
        sample = synthetic_samples(NAMES, batch=1, raw_size=32)[0]
        with pytest.raises(InputError, match=r"sample 0 has no 'di_offset'"):
            engine.classify([{"di_onset": sample["di_onset"], "di_clip": sample["di_onset"]}])
        with pytest.raises(InputError, match=r"the engine takes float32 \(B, 1, 8, 8\)"):
            engine.run({n: np.zeros((1, 1, 16, 16), np.float32) for n in NAMES})


def damage(folder: Path, how: str) -> None:
    path = folder / "model.onnx"
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif how == "corrupted":
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "sha256":
        edit_json(folder, model_sha256="0" * 64, onnx_sha256="0" * 64)
    elif how == "classes":
        edit_json(folder, classes=["negative", "positive"], output={"name": "probabilities", "shape": ["batch", 2],
                                                                   "dtype": "float32"})
    elif how == "input names":
        edit_json(folder, inputs=[{"name": n, "shape": ["batch", 1, SIZE, SIZE], "dtype": "float32"}
                                  for n in ("di_clip", "di_offset")])
    elif how == "input shape":
        edit_json(folder, inputs=[{"name": n, "shape": ["batch", 1, 16, 16], "dtype": "float32"} for n in NAMES],
                  di_input={"size": 16, "noise_floor": 0.5, "clip": 3.0})
    elif how == "version":
        edit_json(folder, version=2)
    elif how == "no engine.json":
        (folder / "engine.json").unlink()
    else:
        raise ValueError(how)


@pytest.mark.parametrize(("how", "message"), [
    ("truncated", r"model\.onnx has sha256 \w+\.\.\., but engine\.json records \w+\.\.\.: the file is truncated, "
                  r"corrupted or from another build"),
    ("corrupted", r"model\.onnx has sha256 .* the file is truncated, corrupted or from another build"),
    ("sha256", r"model\.onnx has sha256 .*, but engine\.json records 000000000000\.\.\."),
    ("classes", r"model\.onnx returns probabilities float32 \(batch, 3\), but engine\.json says probabilities "
                r"float32 \(batch, 2\) \(2 classes\)"),
    ("input names", r"model\.onnx takes di_onset float32 \(batch, 1, 8, 8\), di_offset .*, but engine\.json says "
                    r"di_clip float32"),
    ("input shape", r"model\.onnx takes di_onset float32 \(batch, 1, 8, 8\).* but engine\.json says di_onset "
                    r"float32 \(batch, 1, 16, 16\)"),
    ("version", r"engine\.json version 2 is not supported"),
    ("no engine.json", r"is not an engine folder: it has no engine\.json"),
])
def test_damaged_engines_are_refused_in_one_line(folder: Path, how: str, message: str) -> None:
    damage(folder, how)
    with pytest.raises(EngineError, match=message) as info:
        engines.load(folder, threads=1)
    assert "\n" not in str(info.value)


def tensorrt_folder(folder: Path) -> Path:
    """Turn the fixture into a TensorRT engine folder (a plan next to the ONNX it came from)."""
    (folder / "model.plan").write_bytes(b"serialized plan bytes")
    target = {"version": "10.3.0", "gpu_name": "NVIDIA H100 80GB HBM3", "compute_capability": [9, 0]}
    edit_json(folder, backend="tensorrt", model_file="model.plan", model_sha256=file_sha256(folder / "model.plan"),
              tensorrt=target, precision="fp16")
    return folder


def test_tensorrt_folders(folder: Path) -> None:
    tensorrt_folder(folder)
    spec = EngineSpec.read(folder)
    assert spec.tensorrt == TensorRTTarget("10.3.0", "NVIDIA H100 80GB HBM3", (9, 0))
    with engines.load(folder, backend="onnx", threads=1) as engine:  # the ONNX graph next to the plan still runs
        assert engine.backend.name == "onnx" and engine.classes == CLASSES
    with pytest.raises(EngineError) as info:
        engines.load(folder)  # auto runs what the folder was built for: a plan this machine cannot run
    if importlib.util.find_spec("tensorrt") is None:
        assert re.fullmatch(r"TensorRT is not installed here: pip install .*; or run .*engine's ONNX graph with "
                            r"backend 'onnx'", str(info.value))
    (folder / "model.plan").write_bytes(b"serialized plan by")  # truncated: refused before TensorRT sees it
    with pytest.raises(EngineError, match=r"model\.plan has sha256 .* truncated, corrupted"):
        engines.load(folder, backend="tensorrt")


def test_backend_names_are_checked(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"unknown backend 'openvino'; choose one of auto, onnx, tensorrt, torch"):
        engines.load(folder, backend="openvino")
    with pytest.raises(EngineError, match=r"holds an ONNX engine, not a TensorRT plan; rebuild it with "
                                          r"mer-build-engine MODEL\.pt --out .* --backend tensorrt"):
        engines.load(folder, backend="tensorrt")
    with pytest.raises(EngineError, match="the PyTorch backend runs a model.pt"):
        engines.load(folder, backend="torch")
    with pytest.raises(EngineError, match="does not exist"):
        engines.load(tmp_path / "nothing")


def checkpoint(path: Path, inputs: str = "clip") -> Path:
    config = ModelConfig(backbone="resnet18", num_classes=3, inputs=inputs, feature_dim=16, hidden_dim=8)
    meta = CheckpointMeta(classes=CLASSES, model=config, input_names=input_names(config),
                          di_input=DIInputConfig(size=32), alignment={"size": 48}, data_fingerprint="x", training={})
    save_checkpoint(path, create_model(config), meta)
    return path


def test_a_checkpoint_runs_in_pytorch(tmp_path: Path) -> None:
    with engines.load(checkpoint(tmp_path / "model.pt"), threads=1) as engine:
        assert engine.backend.name == "torch" and engine.spec is None
        assert engine.classes == CLASSES and engine.input_names == ("di_clip",) and engine.input_shape == (1, 32, 32)
        probabilities = engine.classify(synthetic_samples(engine.input_names, batch=2, raw_size=48))
        assert probabilities.shape == (2, 3)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    with pytest.raises(EngineError, match=r"is a checkpoint, which runs in PyTorch; build an engine folder for "
                                          r"backend 'onnx' with: mer-build-engine .*model\.pt --out DIR "
                                          r"--backend onnx"):
        engines.load(tmp_path / "model.pt", backend="onnx")


@pytest.mark.parametrize(("change", "message"), [
    ({"version": 7}, r"unsupported dianet-mer version 7"),
    ({"format": "timm"}, r"not a dianet-mer checkpoint \(format 'timm'\)"),
    ({"model": {"backbone": "vgg99", "inputs": "clip", "num_classes": 3}}, r"unknown architecture.*vgg99"),
    (None, r"not a readable checkpoint, truncated or corrupt"),
])
def test_bad_checkpoints_are_refused_in_one_line(tmp_path: Path, change: dict | None, message: str) -> None:
    path = checkpoint(tmp_path / "model.pt")
    if change is None:
        path.write_bytes(path.read_bytes()[:1000])
    else:
        data = torch.load(path, weights_only=True)
        data.update(change)
        torch.save(data, path)
    with pytest.raises(CheckpointError, match=message) as info:
        engines.load(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)

