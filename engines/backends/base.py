"""The one small protocol every engine backend implements, and the registry that names them.

A backend runs ready network inputs and nothing else: the Engine (engines.runtime) owns the
preprocessing, the name and shape checks and the batch splitting. Backends are chosen by name
(`get_backend("onnx")`), as backbones are in training.models: each backend module registers a
`BackendEntry` saying what it opens (an engine folder, or a model.pt) and whether
mer-build-engine writes folders for it. Unknown names are refused in one line that lists the
known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from realtime.core.errors import EngineError

if TYPE_CHECKING:
    from torch import nn

    from engines.engine_spec import EngineSpec
    from training.checkpoint import CheckpointMeta


class Backend(Protocol):
    """Runs ready network inputs; knows nothing about DIs, classes or preprocessing.

    `run` takes {input name: (B, C, S, S)} with B at most the engine's max batch and returns
    class probabilities (B, K) float32 as a new host array. Each backend makes its inputs
    contiguous float32 itself (`host_inputs`), so a view or a float64 array cannot reach a
    runtime that reads raw memory.
    """

    name: str  # a registry name: "onnx" | "tensorrt" | "torch"
    device: str  # where it actually runs, in words, e.g. "cpu (2 threads)", "cuda:0 NVIDIA H100"

    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray: ...

    def close(self) -> None: ...


FolderOpener = Callable[[Path, "EngineSpec", int], Backend]  # (engine folder, its engine.json, CPU threads)
CheckpointOpener = Callable[["nn.Module", "CheckpointMeta", int], Backend]  # (network, its metadata, CPU threads)


@dataclass(frozen=True)
class BackendEntry:
    """One backend in the registry: what it opens, and whether engine folders are built for it."""

    name: str
    summary: str  # one line for help texts
    open_folder: FolderOpener | None = None  # runs an engine folder (engine.json + its model file)
    open_checkpoint: CheckpointOpener | None = None  # runs a model.pt as trained
    builds: bool = False  # mer-build-engine --backend NAME writes a folder this backend runs


_REGISTRY: dict[str, BackendEntry] = {}


def register_backend(entry: BackendEntry) -> BackendEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"backend {entry.name!r} registered twice")
    _REGISTRY[entry.name] = entry
    return entry


def list_backends(*, folders: bool = False, builds: bool = False) -> tuple[str, ...]:
    """Registered names, sorted; `folders`: only those that run engine folders; `builds`: only those built."""
    return tuple(sorted(name for name, entry in _REGISTRY.items()
                        if (not folders or entry.open_folder is not None) and (not builds or entry.builds)))


def get_backend(name: str, *, choices: Sequence[str] | None = None) -> BackendEntry:
    """The entry called `name`; EngineError listing `choices` (default: every backend) when unknown."""
    allowed = tuple(choices) if choices is not None else list_backends()
    if name not in _REGISTRY or name not in allowed:
        raise EngineError(f"unknown backend {name!r}; choose one of {', '.join(allowed)}")
    return _REGISTRY[name]


def host_inputs(inputs: Mapping[str, np.ndarray], names: Sequence[str]) -> list[np.ndarray]:
    """The named inputs in `names` order as C-contiguous float32 arrays (copies only where needed)."""
    return [np.ascontiguousarray(inputs[name], dtype=np.float32) for name in names]
