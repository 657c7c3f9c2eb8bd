"""A stand-in `tensorrt` module for CPU machines: TensorRT 10's Python API as documented, recording calls.

TensorRT needs an NVIDIA GPU, so engines/backends/tensorrt.py cannot run on the CI machines.
This module is installed as `tensorrt` by `installed()` (the tests, and bench/gpu_check.py
--dry) and implements the part of TensorRT 10's Python API that the backend uses, with the
documented signatures, results and failure values:

- Builder(logger): create_network(flags), create_builder_config(), create_optimization_profile(),
  build_serialized_network(network, config) -> IHostMemory | None.
- OnnxParser(network, logger).parse(bytes) -> bool, num_errors, get_error(i).desc().
- IBuilderConfig: set_memory_pool_limit, set_flag, add_optimization_profile(profile) -> index
  or -1 when invalid, create_timing_cache(bytes) -> ITimingCache, set_timing_cache(cache,
  ignore_mismatch) -> bool (False for a cache from another device unless ignore_mismatch),
  get_timing_cache() -> ITimingCache | None (None when none was set).
- Runtime(logger).deserialize_cuda_engine(bytes) -> ICudaEngine | None; ICudaEngine:
  num_io_tensors, get_tensor_name/mode/shape/dtype, create_execution_context().
- IExecutionContext: set_input_shape(name, shape) -> bool (False outside the profile),
  get_tensor_shape(name) (-1 where not yet known), set_tensor_address(name, ptr) -> bool (False
  for a null address or an unknown name), execute_async_v3(stream) -> bool (False unless every
  input shape and every I/O address is set).

The "plan" is the ONNX graph behind a small header. execute_async_v3 reads the inputs from the
bound host addresses as contiguous float32, runs the graph in ONNX Runtime and writes the
probabilities to the bound output address, going through float16 when the plan was built with
BuilderFlag.FP16, so addresses, strides, dtypes, shapes and the parity check are all exercised.
Every call is appended to `calls` as (method, *arguments) so call sequences can be compared with
the documented order. Names in `failures` make the matching call report failure the documented
way (e.g. {"add_optimization_profile"} -> -1); "fp16_overflow" makes fp16 plans return inf.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__version__ = "10.8.0"
GPU_NAME = "Stand-in GPU (tests/support/fake_tensorrt.py)"
COMPUTE_CAPABILITY = (8, 9)
_PLAN_MAGIC = b"FAKE-TRT-PLAN\n"
_CACHE_MAGIC = b"FAKE-TRT-TIMING\n"

calls: list[tuple[Any, ...]] = []
failures: set[str] = set()


def _record(*call: Any) -> None:
    calls.append(call)


class Logger:
    WARNING = "WARNING"

    def __init__(self, severity: str) -> None:
        _record("Logger", severity)


class MemoryPoolType(Enum):
    WORKSPACE = "WORKSPACE"


class BuilderFlag(Enum):
    FP16 = "FP16"
    TF32 = "TF32"


class TensorIOMode(Enum):
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


class DataType(Enum):
    FLOAT = "FLOAT"
    HALF = "HALF"


class IHostMemory(bytes):
    """Serialized bytes (the real one supports the buffer protocol, as bytes does)."""


class INetworkDefinition:
    def __init__(self) -> None:
        self.onnx: bytes | None = None
        self.inputs: dict[str, tuple[int, ...]] = {}  # name -> shape, -1 for the dynamic batch
        self.outputs: dict[str, tuple[int, ...]] = {}


class _ParserError:
    def __init__(self, text: str) -> None:
        self._text = text

    def desc(self) -> str:
        return self._text


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: Logger) -> None:
        _record("OnnxParser")
        self._network = network
        self._errors: list[str] = []

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int) -> _ParserError:
        return _ParserError(self._errors[index])

    def parse(self, model: bytes) -> bool:
        _record("parse", len(model))
        import onnx

        try:
            graph = onnx.load_from_string(bytes(model)).graph
        except Exception as exc:  # onnx raises DecodeError and others for bad bytes
            self._errors.append(f"cannot read the ONNX model: {exc}")
            return False

        def dims(value: Any) -> tuple[int, ...]:
            return tuple(-1 if d.dim_param else int(d.dim_value) for d in value.type.tensor_type.shape.dim)

        self._network.onnx = bytes(model)
        self._network.inputs = {v.name: dims(v) for v in graph.input}
        self._network.outputs = {v.name: dims(v) for v in graph.output}
        return True


class IOptimizationProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}

    def set_shape(self, input: str, min: tuple[int, ...], opt: tuple[int, ...], max: tuple[int, ...]) -> None:  # noqa: A002
        _record("set_shape", input, tuple(min), tuple(opt), tuple(max))
        self.shapes[input] = (tuple(min), tuple(opt), tuple(max))


class ITimingCache:
    def __init__(self, device: str) -> None:
        self.device = device

    def serialize(self) -> IHostMemory:
        _record("serialize")
        return IHostMemory(_CACHE_MAGIC + self.device.encode())


class IBuilderConfig:
    def __init__(self) -> None:
        self.flags: set[BuilderFlag] = set()
        self.profiles: list[IOptimizationProfile] = []
        self.cache: ITimingCache | None = None

    def set_memory_pool_limit(self, pool: MemoryPoolType, pool_size: int) -> None:
        _record("set_memory_pool_limit", pool, pool_size)

    def set_flag(self, flag: BuilderFlag) -> None:
        _record("set_flag", flag)
        self.flags.add(flag)

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        _record("add_optimization_profile")
        valid = bool(profile.shapes) and all(
            len(lo) == len(opt) == len(hi) and all(a <= b <= c for a, b, c in zip(lo, opt, hi, strict=True))
            for lo, opt, hi in profile.shapes.values())
        if not valid or "add_optimization_profile" in failures:
            return -1
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def create_timing_cache(self, serialized_timing_cache: bytes) -> ITimingCache | None:
        data = bytes(serialized_timing_cache)
        _record("create_timing_cache", len(data))
        if not data:
            return ITimingCache(GPU_NAME)
        if not data.startswith(_CACHE_MAGIC):
            return None
        return ITimingCache(data[len(_CACHE_MAGIC):].decode())

    def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool) -> bool:
        _record("set_timing_cache", cache.device, ignore_mismatch)
        if cache.device != GPU_NAME and not ignore_mismatch:
            return False
        self.cache = cache
        return True

    def get_timing_cache(self) -> ITimingCache | None:
        _record("get_timing_cache")
        return self.cache


class Builder:
    def __init__(self, logger: Logger) -> None:
        _record("Builder")

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        _record("create_network", flags)
        return INetworkDefinition()

    def create_builder_config(self) -> IBuilderConfig:
        _record("create_builder_config")
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        _record("create_optimization_profile")
        return IOptimizationProfile()

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> IHostMemory | None:
        _record("build_serialized_network")
        dynamic = [name for name, shape in network.inputs.items() if -1 in shape]
        if network.onnx is None or (dynamic and not config.profiles) or "build_serialized_network" in failures:
            return None  # TensorRT logs why and returns None
        profile = config.profiles[0].shapes if config.profiles else {}
        header = json.dumps({"fp16": BuilderFlag.FP16 in config.flags, "device": GPU_NAME,
                             "inputs": network.inputs, "outputs": network.outputs,
                             "profile": {name: [list(s) for s in shapes] for name, shapes in profile.items()}})
        return IHostMemory(_PLAN_MAGIC + header.encode() + b"\n" + network.onnx)


class Runtime:
    def __init__(self, logger: Logger) -> None:
        _record("Runtime")

    def deserialize_cuda_engine(self, serialized_engine: bytes) -> ICudaEngine | None:
        data = bytes(serialized_engine)
        _record("deserialize_cuda_engine", len(data))
        if not data.startswith(_PLAN_MAGIC):
            return None
        header, _, model = data[len(_PLAN_MAGIC):].partition(b"\n")
        try:
            return ICudaEngine(json.loads(header), model)
        except ValueError:
            return None


class ICudaEngine:
    def __init__(self, header: dict[str, Any], model: bytes) -> None:
        self._header = header
        self._model = model
        self._io = [(name, TensorIOMode.INPUT, tuple(shape)) for name, shape in header["inputs"].items()]
        self._io += [(name, TensorIOMode.OUTPUT, tuple(shape)) for name, shape in header["outputs"].items()]

    @property
    def num_io_tensors(self) -> int:
        return len(self._io)

    def get_tensor_name(self, index: int) -> str:
        return self._io[index][0]

    def _find(self, name: str) -> tuple[str, TensorIOMode, tuple[int, ...]]:
        return next(io for io in self._io if io[0] == name)

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return self._find(name)[1]

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self._find(name)[2]

    def get_tensor_dtype(self, name: str) -> DataType:
        return DataType.FLOAT

    def create_execution_context(self) -> IExecutionContext:
        _record("create_execution_context")
        return IExecutionContext(self)


class IExecutionContext:
    def __init__(self, engine: ICudaEngine) -> None:
        import onnxruntime as ort

        self._engine = engine
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(engine._model, options, providers=["CPUExecutionProvider"])
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._addresses: dict[str, int] = {}

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        _record("set_input_shape", name, tuple(shape))
        bounds = self._engine._header["profile"].get(name)
        if bounds is None or "set_input_shape" in failures:
            return False
        lo, _, hi = bounds
        if len(shape) != len(lo) or not all(a <= d <= b for a, d, b in zip(lo, shape, hi, strict=True)):
            return False
        self._shapes[name] = tuple(shape)
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        _record("get_tensor_shape", name)
        name_, mode, shape = self._engine._find(name)
        if mode == TensorIOMode.INPUT:
            return self._shapes.get(name, shape)
        batches = {s[0] for s in self._shapes.values()}
        inputs = [n for n, m, _ in self._engine._io if m == TensorIOMode.INPUT]
        if len(batches) != 1 or set(self._shapes) != set(inputs):
            return shape  # not inferable yet: -1 stays
        return (batches.pop(), *shape[1:])

    def set_tensor_address(self, name: str, memory: int) -> bool:
        _record("set_tensor_address", name)
        if memory == 0 or name not in [io[0] for io in self._engine._io] or "set_tensor_address" in failures:
            return False
        self._addresses[name] = memory
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        _record("execute_async_v3", stream_handle)
        names = [io[0] for io in self._engine._io]
        inputs = [io[0] for io in self._engine._io if io[1] == TensorIOMode.INPUT]
        if set(self._addresses) != set(names) or set(self._shapes) != set(inputs) or not isinstance(stream_handle, int):
            return False
        fp16 = self._engine._header["fp16"]
        feed = {name: _host_array(self._addresses[name], self._shapes[name]).copy() for name in inputs}
        if fp16:
            feed = {name: x.astype(np.float16).astype(np.float32) for name, x in feed.items()}
        (output_name,) = [n for n in names if n not in inputs]
        (result,) = self._session.run([output_name], feed)
        if fp16:
            result = result.astype(np.float16).astype(np.float32)
            if "fp16_overflow" in failures:
                result[:] = np.inf
        _host_array(self._addresses[output_name], result.shape)[...] = result
        return True


def _host_array(address: int, shape: tuple[int, ...]) -> np.ndarray:
    """The contiguous float32 array at `address` (what TensorRT assumes a bound tensor is)."""
    count = int(np.prod(shape))
    return np.ctypeslib.as_array((ctypes.c_float * count).from_address(address)).reshape(shape)


def load() -> ModuleType:
    """A fresh copy of this module (empty `calls` and `failures`), to be installed as `tensorrt`."""
    spec = importlib.util.spec_from_file_location("tensorrt", Path(__file__))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def installed() -> Iterator[ModuleType]:
    """Run engines.backends.tensorrt on the CPU against a fresh stand-in: `import tensorrt` finds it,
    the current target is the stand-in GPU, and plan tensors live in host memory."""
    import torch

    from engines.backends import tensorrt as backend
    from engines.engine_spec import TensorRTTarget

    fake = load()
    saved = sys.modules.get("tensorrt"), backend.current_target, backend.tensor_device
    sys.modules["tensorrt"] = fake
    backend.current_target = lambda trt: TensorRTTarget(trt.__version__, GPU_NAME, COMPUTE_CAPABILITY)
    backend.tensor_device = lambda: torch.device("cpu")
    try:
        yield fake
    finally:
        previous, backend.current_target, backend.tensor_device = saved
        if previous is None:
            sys.modules.pop("tensorrt", None)
        else:
            sys.modules["tensorrt"] = previous
