"""TensorRT refusals that need no GPU: missing TensorRT, and plans built for another GPU or version.

TensorRT itself cannot be installed on the CI machines; what a plan build consumes (the ONNX
graph, its names, the dynamic batch) is checked with ONNX Runtime in test_builder.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from engines.engine_spec import TensorRTTarget, TensorSpec
from engines.tensorrt_backend import TensorRTBackend, build_plan, check_target, import_tensorrt, tensorrt_usable
from realtime.core.errors import EngineError

H100 = TensorRTTarget(version="10.3.0", gpu_name="NVIDIA H100 80GB HBM3", compute_capability=(9, 0))
no_tensorrt = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed")


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
