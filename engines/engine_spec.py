"""engine.json: what an engine folder holds, read back and checked before anything runs it.

An engine folder is self-describing: the pipelines load it without the checkpoint, so the
classes, the input names and shapes, the one preprocessing configuration (`DIInputConfig`), the
alignment it was trained with and the provenance (source checkpoint hash, exporter and runtime
versions, the GPU and TensorRT version a plan was built for) all live here. Every field is
checked on reading, so a hand-edited or half-written file is refused with one line, not a
KeyError deep inside a backend.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from realtime.core.errors import EngineError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from training.checkpoint import file_sha256

ENGINE_JSON = "engine.json"
ENGINE_FORMAT = "dianet-mer-engine"
ENGINE_VERSION = 1
ONNX_FILE = "model.onnx"
PLAN_FILE = "model.plan"
OUTPUT_NAME = "probabilities"
BATCH_AXIS = "batch"  # the symbolic name of the dynamic batch dimension in the ONNX graph
DEFAULT_MAX_BATCH = 8  # offline runs batch a few events; the live recognizer classifies one at a time


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, shape with BATCH_AXIS for the dynamic batch, dtype."""

    name: str
    shape: tuple[int | str, ...]  # e.g. ("batch", 1, 224, 224)
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TensorSpec:
        name = _typed(data, "name", str, where)
        shape = _typed(data, "shape", list, where)
        if not all(isinstance(d, int) and not isinstance(d, bool) or d == BATCH_AXIS for d in shape):
            raise EngineError(f"{where}: tensor {name!r} has shape {shape}; dimensions must be integers "
                              f"or {BATCH_AXIS!r}")
        return cls(name=name, shape=tuple(shape), dtype=_typed(data, "dtype", str, where))


@dataclass(frozen=True)
class TensorRTTarget:
    """The machine a TensorRT plan was built for; a plan runs only on the same GPU and version."""

    version: str  # tensorrt.__version__
    gpu_name: str  # torch.cuda.get_device_name()
    compute_capability: tuple[int, int]  # torch.cuda.get_device_capability()

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "gpu_name": self.gpu_name,
                "compute_capability": list(self.compute_capability)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TensorRTTarget:
        capability = _typed(data, "compute_capability", list, where)
        if len(capability) != 2 or not all(isinstance(v, int) for v in capability):
            raise EngineError(f"{where}: compute_capability must be [major, minor], got {capability}")
        return cls(version=_typed(data, "version", str, where), gpu_name=_typed(data, "gpu_name", str, where),
                   compute_capability=(capability[0], capability[1]))


@dataclass(frozen=True)
class EngineSpec:
    """The contents of engine.json (schema version ENGINE_VERSION)."""

    backend: str  # "onnx" | "tensorrt": which file `model_file` is
    model_file: str  # file name inside the folder: model.onnx or model.plan
    model_sha256: str  # of model_file; a truncated, corrupted or replaced file is refused
    onnx_file: str  # the ONNX graph (for TensorRT: the one the plan was built from)
    onnx_sha256: str
    classes: tuple[str, ...]
    inputs: tuple[TensorSpec, ...]  # in the graph's order; names as the checkpoint names them
    output: TensorSpec  # class probabilities (softmax inside the graph)
    max_batch: int  # the largest batch built and checked; the runtime splits larger ones
    precision: str  # "fp32" | "fp16" (fp16 only for TensorRT plans)
    di_input: DIInputConfig  # the one preprocessing path: to_network_input(di, T, di_input)
    alignment: dict[str, Any]  # asdict(AlignConfig) of the checkpoint
    model: dict[str, Any]  # asdict(ModelConfig) of the checkpoint
    source: dict[str, Any]  # checkpoint file name, sha256, data fingerprint
    versions: dict[str, Any]  # exporter, opset, onnx, onnxruntime, torch (and tensorrt)
    parity: dict[str, Any]  # measured max |p_runtime - p_torch| per runtime and batch size
    tensorrt: TensorRTTarget | None = None  # set exactly when backend == "tensorrt"
    created: str = ""  # ISO 8601 UTC time of the build
    temperature: float = 1.0  # the checkpoint's T, inside the graph (softmax(logits / T)); absent = 1
    format: str = field(default=ENGINE_FORMAT)
    version: int = field(default=ENGINE_VERSION)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(C, S, S) of every input (all inputs share it)."""
        return tuple(int(d) for d in self.inputs[0].shape[1:])

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "version": self.version, "backend": self.backend,
            "model_file": self.model_file, "model_sha256": self.model_sha256,
            "onnx_file": self.onnx_file, "onnx_sha256": self.onnx_sha256,
            "classes": list(self.classes), "inputs": [t.to_dict() for t in self.inputs],
            "output": self.output.to_dict(), "max_batch": self.max_batch, "precision": self.precision,
            "di_input": asdict(self.di_input), "alignment": self.alignment, "model": self.model,
            "source": self.source, "versions": self.versions, "parity": self.parity,
            "tensorrt": None if self.tensorrt is None else self.tensorrt.to_dict(), "created": self.created,
            "temperature": self.temperature,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> EngineSpec:
        """Check every field; `where` names the file in error messages."""
        if not isinstance(data, dict):
            raise EngineError(f"{where}: expected a JSON object, got {type(data).__name__}")
        fmt = data.get("format")
        if fmt != ENGINE_FORMAT:
            raise EngineError(f"{where}: format is {fmt!r}, expected {ENGINE_FORMAT!r}")
        version = data.get("version")
        if version != ENGINE_VERSION:
            raise EngineError(f"{where}: engine.json version {version!r} is not supported (this build reads "
                              f"version {ENGINE_VERSION}); rebuild the engine with mer-build-engine")
        from engines.backends import list_backends  # here: the backend modules import this one

        backend = _typed(data, "backend", str, where)
        if backend not in list_backends(folders=True):  # PyTorch runs a model.pt, never a folder
            raise EngineError(f"{where}: backend {backend!r} is not one of {', '.join(list_backends(folders=True))}")
        precision = _typed(data, "precision", str, where)
        if precision not in ("fp32", "fp16"):
            raise EngineError(f"{where}: precision {precision!r} is not fp32 or fp16")
        classes = _typed(data, "classes", list, where)
        if not classes or not all(isinstance(c, str) for c in classes):
            raise EngineError(f"{where}: classes must be a non-empty list of names, got {classes}")
        inputs = tuple(TensorSpec.from_dict(t, where) for t in _typed(data, "inputs", list, where))
        if not inputs:
            raise EngineError(f"{where}: no inputs listed")
        di_fields = _typed(data, "di_input", dict, where)
        try:
            di_input = DIInputConfig(**di_fields)
        except TypeError as exc:
            raise EngineError(f"{where}: di_input {di_fields} does not match DIInputConfig ({exc})") from exc
        max_batch = _typed(data, "max_batch", int, where)
        if max_batch < 1:
            raise EngineError(f"{where}: max_batch must be >= 1, got {max_batch}")
        trt_data = data.get("tensorrt")
        tensorrt = None if trt_data is None else TensorRTTarget.from_dict(trt_data, where)
        if (backend == "tensorrt") != (tensorrt is not None):
            raise EngineError(f"{where}: backend {backend!r} with tensorrt target {trt_data!r}; a TensorRT engine "
                              f"needs one, an ONNX engine has none")
        temperature = data.get("temperature", 1.0)  # engines built before calibration: T = 1
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise EngineError(f"{where}: temperature must be a number > 0, got {temperature!r}")
        output = TensorSpec.from_dict(_typed(data, "output", dict, where), where)
        if output.shape != (BATCH_AXIS, len(classes)):
            raise EngineError(f"{where}: output shape {list(output.shape)} does not match the {len(classes)} "
                              f"classes listed ({classes})")
        for tensor in inputs:
            if len(tensor.shape) != 4 or tensor.shape[0] != BATCH_AXIS or BATCH_AXIS in tensor.shape[1:]:
                raise EngineError(f"{where}: input {tensor.name!r} shape {list(tensor.shape)} is not "
                                  f"[{BATCH_AXIS!r}, C, S, S]")
        return cls(
            backend=backend, model_file=_typed(data, "model_file", str, where),
            model_sha256=_typed(data, "model_sha256", str, where), onnx_file=_typed(data, "onnx_file", str, where),
            onnx_sha256=_typed(data, "onnx_sha256", str, where), classes=tuple(classes), inputs=inputs,
            output=output, max_batch=max_batch,
            precision=precision, di_input=di_input, alignment=_typed(data, "alignment", dict, where),
            model=_typed(data, "model", dict, where), source=_typed(data, "source", dict, where),
            versions=_typed(data, "versions", dict, where), parity=_typed(data, "parity", dict, where),
            tensorrt=tensorrt, created=_typed(data, "created", str, where), temperature=float(temperature),
        )

    def write(self, folder: Path) -> Path:
        path = folder / ENGINE_JSON
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, folder: Path) -> EngineSpec:
        path = folder / ENGINE_JSON
        if not path.is_file():
            raise EngineError(f"{folder} is not an engine folder: it has no {ENGINE_JSON} "
                              f"(build one with mer-build-engine, or pass a model.pt)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EngineError(f"{path} is not valid JSON: {exc}") from exc
        return cls.from_dict(data, str(path))

    def check_signature(self, inputs: tuple[TensorSpec, ...], output: TensorSpec, where: str) -> None:
        """Refuse a model whose graph inputs/output differ from engine.json (names, order, shapes, dtype)."""
        if inputs != self.inputs:
            raise EngineError(f"{where} takes {_describe(inputs)}, but {ENGINE_JSON} says {_describe(self.inputs)}")
        if output != self.output:
            raise EngineError(f"{where} returns {_describe((output,))}, but {ENGINE_JSON} says "
                              f"{_describe((self.output,))} ({len(self.classes)} classes)")

    def check_file(self, folder: Path, name: str, sha256: str) -> Path:
        """The path of `name` in `folder`, refused if missing or if its hash differs from engine.json."""
        path = folder / name
        if not path.is_file():
            raise EngineError(f"{path} is missing (listed in {folder / ENGINE_JSON})")
        actual = file_sha256(path)
        if actual != sha256:
            raise EngineError(f"{path} has sha256 {actual[:12]}..., but {ENGINE_JSON} records {sha256[:12]}...: "
                              f"the file is truncated, corrupted or from another build")
        return path


def _describe(tensors: tuple[TensorSpec, ...]) -> str:
    return ", ".join(f"{t.name} {t.dtype} ({', '.join(str(d) for d in t.shape)})" for t in tensors)


def _typed(data: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise EngineError(f"{where}: missing field {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise EngineError(f"{where}: field {key!r} should be {kind.__name__}, got {value!r}")
    return value
