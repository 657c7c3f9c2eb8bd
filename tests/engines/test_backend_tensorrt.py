"""The TensorRT backend on CPU: refusals that need no GPU, and its builder and runtime call sequences
against a stand-in `tensorrt` module that follows TensorRT 10's documented Python API.

The stand-in (tests/support/fake_tensorrt.py) runs the plan's ONNX graph in ONNX Runtime on the
host memory at the addresses the backend binds, so a wrong address, stride, dtype or shape gives
wrong probabilities here, and parity is measured for real (fp16 plans go through float16).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

import engines
from engines.backends.tensorrt import (WORKSPACE_BYTES, TensorRTBackend, build_plan, check_target, import_tensorrt,
                                       tensorrt_usable)
from engines.backends.torch import TorchBackend
from engines.builder import TENSORRT_TOLERANCE, build_engine
from engines.engine_spec import EngineSpec, TensorRTTarget, TensorSpec
from engines.export import measure_parity
from engines.inputs import synthetic_samples
from realtime.core.errors import EngineError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from support import fake_tensorrt
from support.engine_graphs import write_linear_graph
from training.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from training.models import ModelConfig, create_model, input_names

H100 = TensorRTTarget(version="10.3.0", gpu_name="NVIDIA H100 80GB HBM3", compute_capability=(9, 0))
no_tensorrt = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed")
NAMES = ("di_onset", "di_offset")
SIZE = 4
K = 3
INPUTS = tuple(TensorSpec(n, ("batch", 1, SIZE, SIZE)) for n in NAMES)
OUTPUT = TensorSpec("probabilities", ("batch", K))
WEIGHT = np.linspace(-1, 1, 2 * SIZE * SIZE * K, dtype=np.float32).reshape(-1, K)


@pytest.mark.parametrize(("here", "message"), [
    (TensorRTTarget("10.7.0", H100.gpu_name, (9, 0)), "built with TensorRT 10.3.0, this machine has 10.7.0"),
    (TensorRTTarget("10.3.0", "NVIDIA A100-SXM4-80GB", (8, 0)),
     "built for NVIDIA H100 80GB HBM3 (compute capability 9.0), this machine has NVIDIA A100-SXM4-80GB (8.0)"),
    (TensorRTTarget("10.3.0", H100.gpu_name, (9, 1)), "compute capability 9.0), this machine has"),
])
def test_plans_for_another_gpu_or_version_are_refused(here: TensorRTTarget, message: str) -> None:
    with pytest.raises(EngineError, match="rebuild it here with mer-build-engine") as info:
        check_target(H100, here, "engine/model.plan")
    assert message in str(info.value) and str(info.value).startswith("engine/model.plan was built")


def test_the_same_target_passes() -> None:
    check_target(H100, TensorRTTarget("10.3.0", H100.gpu_name, (9, 0)), "model.plan")


@no_tensorrt
def test_missing_tensorrt_says_what_to_install(tmp_path: Path) -> None:
    assert not tensorrt_usable()
    with pytest.raises(EngineError, match=r"TensorRT is not installed here: pip install 'tensorrt>=10,<11' "
                                          r"\(the project's optional dependency group 'tensorrt'\)"):
        import_tensorrt()
    spec = TensorSpec("di_clip", ("batch", 1, 64, 64))
    with pytest.raises(EngineError, match="TensorRT is not installed"):
        build_plan(tmp_path / "m.onnx", tmp_path / "m.plan", inputs=[spec], max_batch=2, fp16=False,
                   timing_cache=tmp_path / "timing.cache")
    with pytest.raises(EngineError, match="TensorRT is not installed"):
        TensorRTBackend(tmp_path / "m.plan", built_for=H100, inputs=[spec],
                        output=TensorSpec("probabilities", ("batch", 3)))


@pytest.fixture
def trt() -> Iterator[ModuleType]:
    with fake_tensorrt.installed() as module:
        yield module


@pytest.fixture
def graph(tmp_path: Path) -> Path:
    """softmax(concat(flatten(di_onset), flatten(di_offset)) @ WEIGHT): two inputs, batch dynamic."""
    path = tmp_path / "model.onnx"
    write_linear_graph(path, NAMES, SIZE, WEIGHT)
    return path


def expected(inputs: dict[str, np.ndarray]) -> np.ndarray:
    z = np.concatenate([inputs[n].reshape(len(inputs[n]), -1) for n in NAMES], axis=1).astype(np.float64) @ WEIGHT
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def methods(trt: ModuleType) -> list[str]:
    return [call[0] for call in trt.calls]


def build(trt: ModuleType, graph: Path, *, fp16: bool = False, max_batch: int = 4) -> tuple[Path, TensorRTTarget]:
    plan = graph.with_suffix(".plan")
    target, precision = build_plan(graph, plan, inputs=INPUTS, max_batch=max_batch, fp16=fp16,
                                   timing_cache=graph.parent / "timing.cache")
    assert precision == ("fp16" if fp16 else "fp32")
    return plan, target


@pytest.mark.parametrize("fp16", [False, True])
def test_build_follows_the_documented_sequence(trt: ModuleType, graph: Path, fp16: bool) -> None:
    """Builder -> network -> parser -> config (workspace, fp16) -> one profile -> timing cache -> build -> cache out."""
    build(trt, graph, fp16=fp16, max_batch=4)
    assert methods(trt) == [
        "Logger", "Builder", "create_network", "OnnxParser", "parse", "create_builder_config", "set_memory_pool_limit",
        *(["set_flag"] if fp16 else []), "create_optimization_profile", "set_shape", "set_shape",
        "add_optimization_profile", "create_timing_cache", "set_timing_cache", "build_serialized_network",
        "get_timing_cache", "serialize"]
    assert ("create_network", 0) in trt.calls  # TensorRT 10: explicit batch is the only mode, flags 0
    assert ("set_memory_pool_limit", trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES) in trt.calls
    for name in NAMES:  # batch 1..4, optimum 1 (the live recognizer classifies one event at a time)
        assert ("set_shape", name, (1, 1, SIZE, SIZE), (1, 1, SIZE, SIZE), (4, 1, SIZE, SIZE)) in trt.calls
    assert ("set_timing_cache", trt.GPU_NAME, False) in trt.calls
    assert (graph.parent / "timing.cache").read_bytes().endswith(trt.GPU_NAME.encode())


def test_runs_bind_every_tensor_then_execute_on_the_stream(trt: ModuleType, graph: Path) -> None:
    plan, target = build(trt, graph)
    backend = TensorRTBackend(plan, built_for=target, inputs=INPUTS, output=OUTPUT)
    del trt.calls[:]
    rng = np.random.default_rng(0)
    inputs = {n: rng.normal(size=(3, 1, SIZE, SIZE)).astype(np.float32) for n in NAMES}
    probabilities = backend.run(inputs)
    assert probabilities.shape == (3, K) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, expected(inputs), atol=1e-6)
    assert trt.calls == [
        ("set_input_shape", "di_onset", (3, 1, SIZE, SIZE)), ("set_tensor_address", "di_onset"),
        ("set_input_shape", "di_offset", (3, 1, SIZE, SIZE)), ("set_tensor_address", "di_offset"),
        ("get_tensor_shape", "probabilities"), ("set_tensor_address", "probabilities"), ("execute_async_v3", 0)]
    # Views and float64 arrays are made contiguous float32 by the backend, not read as raw memory.
    wide = {n: np.repeat(x.astype(np.float64), 2, axis=3)[..., ::2] for n, x in inputs.items()}  # strided views
    assert not wide["di_onset"].flags.c_contiguous
    np.testing.assert_allclose(backend.run(wide), probabilities, atol=1e-7)
    with pytest.raises(EngineError, match=r"TensorRT refused input 'di_onset' of shape \(5, 1, 4, 4\)"):
        backend.run({n: np.zeros((5, 1, SIZE, SIZE), np.float32) for n in NAMES})  # above the profile's batch 4
    backend.close()


def test_refused_addresses_and_profiles_are_errors(trt: ModuleType, graph: Path) -> None:
    plan, target = build(trt, graph)
    backend = TensorRTBackend(plan, built_for=target, inputs=INPUTS, output=OUTPUT)
    trt.failures.add("set_tensor_address")
    with pytest.raises(EngineError, match=r"TensorRT refused the address of tensor 'di_onset' \(1, 1, 4, 4\)"):
        backend.run({n: np.zeros((1, 1, SIZE, SIZE), np.float32) for n in NAMES})
    trt.failures.add("add_optimization_profile")
    with pytest.raises(EngineError, match=r"TensorRT refused the optimisation profile batch 1\.\.4 for inputs "
                                          r"di_onset, di_offset of .*model\.onnx"):
        build(trt, graph)
    trt.failures.clear()
    trt.failures.add("build_serialized_network")
    with pytest.raises(EngineError, match=r"TensorRT could not build a plan from .*model\.onnx"):
        build(trt, graph)


@pytest.mark.parametrize("cache", [b"FAKE-TRT-TIMING\nNVIDIA GeForce RTX 4090", b"\x00damaged\xff"])
def test_a_timing_cache_from_another_gpu_is_dropped_and_rebuilt(trt: ModuleType, graph: Path, cache: bytes,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    (graph.parent / "timing.cache").write_bytes(cache)
    with caplog.at_level(logging.WARNING, logger="engines.backends.tensorrt"):
        plan, target = build(trt, graph)
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.endswith("timing.cache was made on another GPU or TensorRT version (or is damaged): dropped, "
                            "rebuilding it")
    assert [c for c in trt.calls if c[0] in ("create_timing_cache", "set_timing_cache")][-2:] == [
        ("create_timing_cache", 0), ("set_timing_cache", trt.GPU_NAME, False)]
    assert (graph.parent / "timing.cache").read_bytes().endswith(trt.GPU_NAME.encode())  # rebuilt for this GPU
    assert TensorRTBackend(plan, built_for=target, inputs=INPUTS, output=OUTPUT).run(
        {n: np.ones((1, 1, SIZE, SIZE), np.float32) for n in NAMES}).shape == (1, K)


def test_a_plan_that_is_not_a_plan_is_refused(trt: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "model.plan").write_bytes(b"not a plan")
    target = TensorRTTarget(trt.__version__, trt.GPU_NAME, trt.COMPUTE_CAPABILITY)
    with pytest.raises(EngineError, match=r"TensorRT cannot deserialize .*model\.plan"):
        TensorRTBackend(tmp_path / "model.plan", built_for=target, inputs=INPUTS, output=OUTPUT)


def checkpoint(path: Path) -> Path:
    """A small resnet18 DIANet (32 px phases) whose head is scaled so probabilities are far from uniform."""
    config = ModelConfig(backbone="resnet18", num_classes=K, inputs="phases", feature_dim=16, hidden_dim=8)
    torch.manual_seed(3)
    model = create_model(config)
    with torch.no_grad():
        model.head[-1].weight.mul_(40.0)
    meta = CheckpointMeta(classes=("a", "b", "c"), model=config, input_names=input_names(config),
                          di_input=DIInputConfig(size=32), alignment={"size": 48}, data_fingerprint="x", training={})
    save_checkpoint(path, model, meta)
    return path


@pytest.mark.slow
def test_mer_build_engine_checks_tensorrt_parity(trt: ModuleType, tmp_path: Path) -> None:
    """fp16 and fp32 plans are built, checked against PyTorch with their bounds, written and loaded."""
    model = checkpoint(tmp_path / "model.pt")
    spec = build_engine(model, tmp_path / "fp16", backend="tensorrt", precision="fp16", max_batch=2, threads=1)
    assert spec == EngineSpec.read(tmp_path / "fp16") and spec.backend == "tensorrt" and spec.precision == "fp16"
    assert spec.tensorrt == TensorRTTarget(trt.__version__, trt.GPU_NAME, trt.COMPUTE_CAPABILITY)
    fp16 = max(spec.parity["tensorrt"].values())
    assert 1e-6 < fp16 <= TENSORRT_TOLERANCE["fp16"]  # float16 rounding shows, within its bound
    with engines.load(tmp_path / "fp16") as engine, engines.load(model, threads=1) as reference:
        assert engine.backend.name == "tensorrt" and engine.backend.device == f"cpu:0 {trt.GPU_NAME}"
        samples = synthetic_samples(engine.input_names, batch=5, raw_size=48, seed=5)  # 5 > max batch 2: split
        assert np.abs(engine.classify(samples) - reference.classify(samples)).max() <= TENSORRT_TOLERANCE["fp16"]

    # fp32 from the same ONNX graph: parity at ONNX Runtime's level, far inside its 1e-3 bound.
    plan = tmp_path / "fp32.plan"
    target, precision = build_plan(tmp_path / "fp16" / "model.onnx", plan, inputs=spec.inputs, max_batch=2,
                                   fp16=False, timing_cache=tmp_path / "fp16" / "timing.cache")
    assert precision == "fp32" and [c for c in trt.calls if c[0] == "set_flag"] == [("set_flag", trt.BuilderFlag.FP16)]
    net, meta = load_checkpoint(model)
    fp32 = measure_parity(TorchBackend(net, meta.input_names, threads=1, device="cpu"),
                          TensorRTBackend(plan, built_for=target, inputs=spec.inputs, output=spec.output),
                          input_names=meta.input_names, di_input=meta.di_input, raw_size=48, batches=[1, 2],
                          tolerance=TENSORRT_TOLERANCE["fp32"])
    assert max(fp32.values()) < min(1e-5, fp16)

    trt.failures.add("fp16_overflow")  # NaN/inf probabilities: refused, and no engine.json is left behind
    with pytest.raises(EngineError, match=r"tensorrt returned 3 NaN or inf probabilities at batch 1"):
        build_engine(model, tmp_path / "fp16", backend="tensorrt", precision="fp16", max_batch=2, threads=1)
    assert not (tmp_path / "fp16" / "engine.json").exists()
