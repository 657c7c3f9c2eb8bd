"""TensorRT 10 backend: build a serialized plan from the engine's ONNX graph, run it on torch CUDA tensors.

Written against the TensorRT 10 Python API (name-based tensors, `execute_async_v3`); buffers are
torch CUDA tensors passed by `data_ptr()`, so no pycuda. TensorRT is imported lazily: nothing
here is imported before a TensorRT engine is built or loaded. A plan only runs on the GPU model
and TensorRT version it was built for; engine.json records both and a mismatch is refused here,
before the plan is handed to TensorRT.

TensorRT cannot be installed on the development machines, so this module has not run there;
everything it consumes (the ONNX file, its input/output names, the dynamic batch axis and the
static C, S, S dims) is checked with ONNX Runtime in the tests.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from engines.engine_spec import BATCH_AXIS, TensorRTTarget, TensorSpec
from realtime.core.errors import EngineError

log = logging.getLogger(__name__)

# No square brackets: the CLI prints errors through rich, which would read "[tensorrt]" as markup.
INSTALL_HINT = "pip install 'tensorrt>=10,<11' (the project's optional dependency group 'tensorrt')"
WORKSPACE_BYTES = 1 << 30  # DIANet's layers need far less; caps the builder's scratch memory
FP16_MIN_CAPABILITY = (7, 0)  # tensor-core GPUs; every GPU TensorRT 10 supports (7.5+) has fast fp16
_TRT_MAJOR = 10


def import_tensorrt() -> ModuleType:
    """The tensorrt module, or an EngineError saying what to install."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise EngineError(f"TensorRT is not installed here: {INSTALL_HINT}") from exc
    major = int(trt.__version__.split(".")[0])
    if major != _TRT_MAJOR:
        raise EngineError(f"TensorRT {trt.__version__} is installed, this project needs TensorRT {_TRT_MAJOR}: "
                          f"{INSTALL_HINT}")
    return trt


@functools.cache
def _logger(trt: ModuleType) -> object:
    """One trt.Logger for the process: TensorRT keeps the first one it is given and warns about others."""
    return trt.Logger(trt.Logger.WARNING)


def tensorrt_usable() -> bool:
    """True where TensorRT imports and torch sees a CUDA GPU (what backend 'auto' asks)."""
    if not torch.cuda.is_available():
        return False
    try:
        import_tensorrt()
    except EngineError:
        return False
    return True


def current_target(trt: ModuleType) -> TensorRTTarget:
    if not torch.cuda.is_available():
        raise EngineError("TensorRT needs a CUDA GPU, and torch sees none here")
    major, minor = torch.cuda.get_device_capability(0)
    return TensorRTTarget(version=trt.__version__, gpu_name=torch.cuda.get_device_name(0),
                          compute_capability=(major, minor))


def check_target(built_for: TensorRTTarget, here: TensorRTTarget, where: str) -> None:
    """Refuse a plan built for another TensorRT version or GPU (TensorRT plans are not portable)."""
    if built_for.version != here.version:
        raise EngineError(f"{where} was built with TensorRT {built_for.version}, this machine has "
                          f"{here.version}; rebuild it here with mer-build-engine")
    if built_for.gpu_name != here.gpu_name or built_for.compute_capability != here.compute_capability:
        raise EngineError(
            f"{where} was built for {built_for.gpu_name} (compute capability "
            f"{'.'.join(map(str, built_for.compute_capability))}), this machine has {here.gpu_name} "
            f"({'.'.join(map(str, here.compute_capability))}); rebuild it here with mer-build-engine")


def build_plan(onnx_path: Path, plan_path: Path, *, inputs: Sequence[TensorSpec], max_batch: int, fp16: bool,
               timing_cache: Path) -> tuple[TensorRTTarget, str]:
    """Build and write a serialized plan; return the target it was built for and its precision.

    One optimisation profile covers batch 1..max_batch with batch 1 as the optimum (the live
    recognizer classifies one event at a time). The timing cache is read from and written back
    to `timing_cache`, so rebuilding on the same machine skips most layer timing.
    """
    trt = import_tensorrt()
    target = current_target(trt)
    logger = _logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10 networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(parser.get_error(i).desc() for i in range(parser.num_errors))
        raise EngineError(f"TensorRT cannot parse {onnx_path}: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    precision = "fp32"
    if fp16:
        if target.compute_capability >= FP16_MIN_CAPABILITY:
            config.set_flag(trt.BuilderFlag.FP16)
            precision = "fp16"
        else:
            log.warning("%s has no fast fp16 (compute capability %s); building fp32", target.gpu_name,
                        target.compute_capability)
    profile = builder.create_optimization_profile()
    for tensor in inputs:
        static = tuple(int(d) for d in tensor.shape[1:])  # (C, S, S)
        profile.set_shape(tensor.name, (1, *static), (1, *static), (max_batch, *static))
    config.add_optimization_profile(profile)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)

    log.info("building a TensorRT %s plan for %s (batch 1..%d)", precision, target.gpu_name, max_batch)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineError(f"TensorRT could not build a plan from {onnx_path} (see the TensorRT log above)")
    plan_path.write_bytes(plan)
    timing_cache.write_bytes(config.get_timing_cache().serialize())
    return target, precision


class TensorRTBackend:
    """A deserialized plan and one execution context, fed torch CUDA tensors on its own stream."""

    name = "tensorrt"

    def __init__(self, plan_path: Path, *, built_for: TensorRTTarget, inputs: Sequence[TensorSpec],
                 output: TensorSpec) -> None:
        trt = import_tensorrt()
        here = current_target(trt)
        check_target(built_for, here, str(plan_path))
        self._runtime = trt.Runtime(_logger(trt))
        self._engine = self._runtime.deserialize_cuda_engine(plan_path.read_bytes())
        if self._engine is None:
            raise EngineError(f"TensorRT cannot deserialize {plan_path}: corrupted, or built by another "
                              f"TensorRT version")
        self._check_io(trt, plan_path, inputs, output)
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise EngineError(f"TensorRT could not create an execution context for {plan_path}")
        self._stream = torch.cuda.Stream()  # not the legacy default stream, which TensorRT would sync on
        self._input_names = tuple(t.name for t in inputs)
        self._output_name = output.name
        self.device = f"cuda:0 {here.gpu_name}"

    def _check_io(self, trt: ModuleType, plan_path: Path, inputs: Sequence[TensorSpec], output: TensorSpec) -> None:
        """The plan's I/O tensors must be the engine.json ones, float32, batch dynamic."""
        expected = {t.name: (trt.TensorIOMode.INPUT, t) for t in inputs}
        expected[output.name] = (trt.TensorIOMode.OUTPUT, output)
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        if sorted(names) != sorted(expected):
            raise EngineError(f"{plan_path} has tensors {names}, engine.json lists {sorted(expected)}")
        for name in names:
            mode, spec = expected[name]
            shape = tuple(BATCH_AXIS if d == -1 else int(d) for d in self._engine.get_tensor_shape(name))
            if self._engine.get_tensor_mode(name) != mode or shape != spec.shape:
                raise EngineError(f"{plan_path}: tensor {name!r} has shape {shape}, engine.json says {spec.shape}")
            if self._engine.get_tensor_dtype(name) != trt.DataType.FLOAT:
                raise EngineError(f"{plan_path}: tensor {name!r} is {self._engine.get_tensor_dtype(name)}, "
                                  f"expected float32")

    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        with torch.cuda.stream(self._stream):
            device_inputs = [torch.from_numpy(inputs[name]).to("cuda") for name in self._input_names]
            for name, tensor in zip(self._input_names, device_inputs, strict=True):
                if not self._context.set_input_shape(name, tuple(tensor.shape)):
                    raise EngineError(f"TensorRT refused input {name!r} of shape {tuple(tensor.shape)}")
                self._context.set_tensor_address(name, tensor.data_ptr())
            shape = tuple(self._context.get_tensor_shape(self._output_name))  # (B, K)
            probabilities = torch.empty(shape, dtype=torch.float32, device="cuda")
            self._context.set_tensor_address(self._output_name, probabilities.data_ptr())
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise EngineError("TensorRT execute_async_v3 failed (see the TensorRT log)")
            return probabilities.cpu().numpy()  # the copy waits for the stream: (B, K) float32

    def close(self) -> None:
        self._context = None
        self._engine = None
        self._runtime = None
