"""The one small protocol every runtime implements (ONNX Runtime, TensorRT, PyTorch eager)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np


class Backend(Protocol):
    """Runs ready network inputs; knows nothing about DIs, classes or preprocessing.

    `run` takes {input name: (B, C, S, S) float32} with B at most the engine's max batch (the
    Engine splits larger batches and checks names and shapes first) and returns class
    probabilities (B, K) float32 as a new host array.
    """

    name: str  # "onnx" | "tensorrt" | "torch"
    device: str  # where it runs, in words, e.g. "cpu (2 threads)", "cuda:0 NVIDIA H100"

    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray: ...

    def close(self) -> None: ...
