"""bench/gpu_check.py --dry: every step of the GPU check runs on the CPU (TensorRT through the stand-in
module), so the script that will first meet a GPU is known to work up to the CUDA calls themselves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_dry_run_exercises_every_step() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--dry"], capture_output=True,
                            text=True, timeout=600, env=env, cwd=ROOT)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert out.startswith("gpu_check: DRY RUN on the CPU")
    for precision, bound in (("fp16", "1e-02"), ("fp32", "1e-03")):
        assert re.search(rf"TensorRT {precision}: built in [\d.]+ s on Stand-in GPU .* \(bound {bound}\)", out)
    assert re.search(r"close an event of T = 20 at 64 px: CPU [\d.]+ ms, CUDA [\d.]+ ms", out)
    for backend in ("torch cpu", "onnxruntime cpu", "torch cuda", "onnxruntime cuda", "tensorrt fp16", "tensorrt fp32"):
        assert re.search(rf"  {backend} +p50 +[\d.]+ ms +p95 +[\d.]+ ms", out), backend
    for compared in ("torch cuda", "onnxruntime cuda", "tensorrt fp16", "tensorrt fp32"):
        assert re.search(rf"{compared} probabilities vs torch cpu: max difference \S+ \(bound \S+\) ok", out)
    assert re.search(r"6 clips: CPU [\d.]+ clips/s, CUDA [\d.]+ clips/s", out)
    # The pipeline spotted the synthetic micro-expressions and the stand-in TensorRT engine labelled them.
    events = re.search(r"(\d+) micro-expressions: DIs on CPU [\d.]+ ms/frame, on CUDA [\d.]+ ms/frame", out)
    assert events and int(events.group(1)) >= 1
    assert "events and labels, CUDA vs CPU: the same" in out
    assert re.search(r"the same \(\[\(\d+, \d+, \d+, '(negative|positive|surprise)'\)", out)
    assert re.search(r"6\. every CUDA path agrees with the CPU \(\d+ s in all\)", out)


def test_without_a_gpu_it_says_so_in_one_line() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: the full check runs instead")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py")], capture_output=True, text=True,
                            timeout=120, env=env, cwd=ROOT)
    assert result.returncode == 2
    assert result.stdout == "gpu_check: torch sees no CUDA GPU here; run it on an NVIDIA machine, or with --dry\n"
