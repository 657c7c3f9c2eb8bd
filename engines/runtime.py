"""`load` an engine folder or a model.pt and classify DI samples with any backend.

    with engines.load("runs/engine") as engine:          # or "runs/model.pt" (PyTorch)
        probs = engine.classify([{"di_onset": RawDI(di_on, t_on), "di_offset": RawDI(di_off, t_off)}])
        label = engine.classes[int(probs[0].argmax())]

The Engine owns the one preprocessing path (`prepare_inputs`, i.e. to_network_input with the
engine's DIInputConfig), checks names and shapes, and splits batches larger than the engine's
max batch; backends (engines.backends, chosen by name) only run ready network inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engines.backends import Backend, get_backend, list_backends
from engines.engine_spec import DEFAULT_MAX_BATCH, EngineSpec
from engines.inputs import Sample, check_network_inputs, prepare_inputs
from realtime.core.errors import EngineError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from training.checkpoint import load_checkpoint

log = logging.getLogger(__name__)

class Engine:
    """A classifier of DI samples: class names, input names, preprocessing and one backend.

    A context manager: `close()` releases the backend's session, plan or model.
    """

    def __init__(self, backend: Backend, *, classes: Sequence[str], input_names: Sequence[str],
                 input_shape: Sequence[int], di_input: DIInputConfig, alignment: Mapping[str, Any],
                 max_batch: int, source: Path, spec: EngineSpec | None = None, temperature: float = 1.0) -> None:
        self.backend = backend
        self.classes = tuple(classes)
        self.input_names = tuple(input_names)
        self.input_shape = tuple(input_shape)  # (C, S, S) of every input
        self.di_input = di_input
        self.alignment = dict(alignment)  # asdict(AlignConfig) the model was trained with
        self.max_batch = max_batch
        self.source = source
        self.spec = spec  # engine.json, or None for a model.pt
        self.temperature = temperature  # softmax(logits / T), applied inside the backend's model

    def classify(self, samples: Sequence[Sample]) -> np.ndarray:
        """Raw DI samples -> class probabilities (B, K) float32, one row per sample, columns in `classes` order.

        Each sample maps every name in `input_names` to RawDI(di (H, W, 1) raw float32, T);
        phase models take "di_onset" and "di_offset", clip models "di_clip".
        """
        return self.run(prepare_inputs(samples, self.input_names, self.di_input))

    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Ready network inputs {name: (B, C, S, S) float32} -> probabilities (B, K) float32."""
        batch = check_network_inputs(inputs, self.input_names, self.input_shape)
        parts = []
        for start in range(0, batch, self.max_batch):
            chunk = {name: np.ascontiguousarray(inputs[name][start:start + self.max_batch])
                     for name in self.input_names}
            parts.append(self.backend.run(chunk))
        return np.concatenate(parts).astype(np.float32, copy=False)

    @property
    def description(self) -> str:
        """One line for consoles and run summaries: what runs, where, on which classes."""
        built = "" if self.spec is None else f", {self.spec.precision}, built {self.spec.created}"
        return (f"{self.source} ({self.backend.name} on {self.backend.device}{built}); classes "
                f"{', '.join(self.classes)}; inputs {', '.join(self.input_names)}")

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Engine({str(self.source)!r}, backend={self.backend.name!r}, device={self.backend.device!r}, "
                f"classes={list(self.classes)}, inputs={list(self.input_names)})")


def load(path: str | Path, *, backend: str = "auto", threads: int = 2) -> Engine:
    """Open an engine folder (engine.json + model.onnx or a TensorRT plan) or a model.pt.

    backend: "auto" runs a folder with what it was built for (TensorRT plan or ONNX) and a
    model.pt in PyTorch; "onnx" runs any folder's ONNX graph in ONNX Runtime (CUDA provider where
    present, else `threads` CPU threads); "tensorrt" needs a folder built with a plan; "torch"
    needs a model.pt. Raises EngineError / CheckpointError with one line when it cannot.
    """
    path = Path(path)
    if backend != "auto":
        get_backend(backend, choices=("auto", *list_backends()))  # one line listing the names when unknown
    if path.is_dir():
        return _load_folder(path, backend=backend, threads=threads)
    if path.is_file():
        return _load_checkpoint(path, backend=backend, threads=threads)
    raise EngineError(f"{path} does not exist (expected an engine folder or a model.pt)")


def _load_checkpoint(path: Path, *, backend: str, threads: int) -> Engine:
    name = "torch" if backend == "auto" else backend
    entry = get_backend(name)
    if entry.open_checkpoint is None:
        raise EngineError(f"{path} is a checkpoint, which runs in PyTorch; build an engine folder for "
                          f"backend {backend!r} with: mer-build-engine {path} --out DIR --backend {backend}")
    net, meta = load_checkpoint(path)
    size = meta.di_input.size
    # A model.pt has no built batch limit; DEFAULT_MAX_BATCH bounds the memory of one forward pass.
    return Engine(entry.open_checkpoint(net, meta, threads), classes=meta.classes,
                  input_names=meta.input_names, input_shape=(meta.model.in_chans, size, size),
                  di_input=meta.di_input, alignment=meta.alignment, max_batch=DEFAULT_MAX_BATCH, source=path,
                  temperature=meta.temperature)


def _load_folder(folder: Path, *, backend: str, threads: int) -> Engine:
    spec = EngineSpec.read(folder)
    entry = get_backend(spec.backend if backend == "auto" else backend)
    if entry.open_folder is None:
        raise EngineError(f"{folder} is an engine folder; backend {entry.name!r} runs a model.pt "
                          f"(the folder's source was {spec.source.get('checkpoint', 'unknown')})")
    runtime = entry.open_folder(folder, spec, threads)
    log.info("loaded %s engine %s on %s", runtime.name, folder, runtime.device)
    return Engine(runtime, classes=spec.classes, input_names=spec.input_names, input_shape=spec.input_shape,
                  di_input=spec.di_input, alignment=spec.alignment, max_batch=spec.max_batch, source=folder,
                  spec=spec, temperature=spec.temperature)
