"""ONNX Runtime backend: CUDA execution provider where present, else CPU without busy-spinning.

ONNX Runtime's CPU thread pools spin while waiting for work by default. In the live recognizer
the capture and alignment threads share a few cores with the classifier, and spinning pool
threads would steal them between classifications, so spinning is switched off for the intra-op
and inter-op pools and the intra-op pool gets an explicit, small thread count.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import (Fail, InvalidArgument, InvalidGraph, InvalidProtobuf,
                                                         NoSuchFile, RuntimeException)

from engines.engine_spec import TensorSpec
from realtime.core.errors import EngineError

log = logging.getLogger(__name__)

# ONNX Runtime raises these pybind classes (they share no base below Exception) for unreadable,
# truncated or invalid models and for failed runs.
ORT_ERRORS = (Fail, InvalidArgument, InvalidGraph, InvalidProtobuf, NoSuchFile, RuntimeException)
ORT_DEVICES = ("auto", "cpu", "cuda")
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64"}


def cuda_provider_available() -> bool:
    return "CUDAExecutionProvider" in ort.get_available_providers()


def session_options(threads: int) -> ort.SessionOptions:
    """CPU session options: `threads` intra-op threads, one inter-op thread, no spinning pools."""
    if threads < 1:
        raise EngineError(f"threads must be >= 1, got {threads}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1  # the graph is one chain; parallel branches gain nothing
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise
    return options


class OnnxBackend:
    """An ONNX Runtime session over one self-contained ONNX file."""

    name = "onnx"

    def __init__(self, path: Path, *, threads: int = 2, device: str = "auto") -> None:
        if device == "auto":
            use_cuda = cuda_provider_available()
        elif device == "cuda":
            if not cuda_provider_available():
                raise EngineError(f"ONNX Runtime here has no CUDAExecutionProvider (providers: "
                                  f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu "
                                  f"or use device 'cpu'")
            use_cuda = True
        elif device == "cpu":
            use_cuda = False
        else:
            raise EngineError(f"unknown ONNX Runtime device {device!r}; choose one of {', '.join(ORT_DEVICES)}")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]
        try:
            self._session = ort.InferenceSession(str(path), session_options(threads), providers=providers)
        except ORT_ERRORS as exc:
            raise EngineError(f"ONNX Runtime cannot load {path}: {_first_line(exc)}") from exc
        self.path = path
        self.device = "cuda" if use_cuda else f"cpu ({threads} threads)"
        self.inputs = tuple(_tensor_spec(arg) for arg in self._session.get_inputs())
        outputs = self._session.get_outputs()
        if len(outputs) != 1:
            raise EngineError(f"{path} has {len(outputs)} outputs; an engine graph has exactly one "
                              f"(class probabilities)")
        self.output = _tensor_spec(outputs[0])
        log.debug("ONNX Runtime session for %s on %s", path, self._session.get_providers())

    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        try:
            (probabilities,) = self._session.run([self.output.name], dict(inputs))
        except ORT_ERRORS as exc:
            raise EngineError(f"ONNX Runtime failed on {self.path}: {_first_line(exc)}") from exc
        return probabilities  # (B, K) float32

    def close(self) -> None:
        self._session = None


def _tensor_spec(arg: ort.NodeArg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else str(d) for d in arg.shape)
    return TensorSpec(name=arg.name, shape=shape, dtype=_ORT_DTYPES.get(arg.type, arg.type))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
