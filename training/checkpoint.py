"""The `model.pt` checkpoint: a trained DIANet and everything needed to use it.

Format "dianet-mer", version 1: `torch.save` of a plain dict, readable with
`torch.load(path, weights_only=True)` (only str, int, float, bool, None, lists, tuples, dicts
and tensors; no pickled classes), so a checkpoint from anywhere can be opened without running
its code:

    format            "dianet-mer"
    version           1
    model             asdict(ModelConfig): architecture, enough to rebuild the network
    state_dict        {key: tensor} of DIANet, on CPU
    classes           [str, ...] class names in logit order
    input_names       [str, ...] forward()/ONNX input order, e.g. ["di_onset", "di_offset"]
    di_input          asdict(DIInputConfig): input size and normalisation of the dynamic images
    alignment         asdict(AlignConfig): face alignment the training crops were made with
    data_fingerprint  str identifying the training data (e.g. a sha256)
    training          {...} free-form record of how it was trained (plain values only)
    temperature       float T > 0, optional: probabilities are softmax(logits / T) (training.calibration);
                      a checkpoint without it (written before calibration) means T = 1

A reader refuses anything else (another format or version, an unknown architecture, a state dict
that does not fit its config, a truncated or corrupt file) with a one-line CheckpointError that
names the file. A new layout gets a new version number; version 1 files stay readable.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from realtime.core.errors import CheckpointError, InputError, MerError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from training.models import DIANet, ModelConfig, create_model, input_names
from training.models.pretrained import mismatches

FORMAT = "dianet-mer"
VERSION = 1
_KEYS = ("format", "version", "model", "state_dict", "classes", "input_names", "di_input", "alignment",
         "data_fingerprint", "training")
_PLAIN = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class CheckpointMeta:
    """Everything in a checkpoint besides the weights."""

    classes: tuple[str, ...]  # class names in logit order
    model: ModelConfig
    input_names: tuple[str, ...]  # must equal input_names(model)
    di_input: DIInputConfig
    alignment: dict[str, Any]  # asdict(AlignConfig)
    data_fingerprint: str
    training: dict[str, Any]  # plain values only (str, numbers, bool, None, lists, dicts)
    temperature: float = 1.0  # softmax(logits / T); fitted on held-out subjects (training.calibration)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "input_names", tuple(self.input_names))


def save_checkpoint(path: Path, model: DIANet, meta: CheckpointMeta) -> None:
    """Write `model` and `meta` to `path` atomically (a killed run never leaves half a file)."""
    path = Path(path)
    if model.config != meta.model:
        raise CheckpointError(f"{path}: model config {model.config} differs from the metadata's {meta.model}")
    _check_meta(path, meta)
    for name, value in (("alignment", meta.alignment), ("training", meta.training)):
        _check_plain(path, name, value)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": asdict(meta.model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "classes": list(meta.classes),
        "input_names": list(meta.input_names),
        "di_input": asdict(meta.di_input),
        "alignment": dict(meta.alignment),
        "data_fingerprint": meta.data_fingerprint,
        "training": dict(meta.training),
        "temperature": float(meta.temperature),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path, *, map_location: str | torch.device = "cpu") -> tuple[DIANet, CheckpointMeta]:
    """Read a `model.pt` -> (DIANet in eval mode on `map_location`, its metadata)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several unrelated types, and its text gives advice
        #                          (weights_only=False) that is not for our users: our line only
        raise CheckpointError(f"{path}: not a readable checkpoint, truncated or corrupt") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: not a {FORMAT} checkpoint (format {found!r})")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported {FORMAT} version {data.get('version')!r}; "
                              f"this build reads {VERSION}")
    missing = [k for k in _KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    try:
        config = _dataclass_from(ModelConfig, data["model"])
        meta = CheckpointMeta(classes=data["classes"], model=config, input_names=data["input_names"],
                              di_input=_dataclass_from(DIInputConfig, data["di_input"]),
                              alignment=data["alignment"], data_fingerprint=data["data_fingerprint"],
                              training=data["training"], temperature=data.get("temperature", 1.0))
    except (MerError, TypeError) as exc:
        raise CheckpointError(f"{path}: unknown architecture or metadata: {exc}") from exc
    _check_meta(path, meta)
    model = create_model(config)
    state = data["state_dict"]
    if isinstance(state, Mapping) and all(isinstance(v, torch.Tensor) for v in state.values()):
        problem = mismatches(model.state_dict(), state)
    else:
        problem = "state_dict is not a mapping of tensors"
    if problem is not None:
        raise CheckpointError(f"{path}: weights do not fit model {config.backbone}/{config.inputs}: {problem}")
    model.load_state_dict(state, strict=True)
    return model.to(map_location).eval(), meta


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    return digest.hexdigest()


def _dataclass_from(cls: type, values: object) -> Any:
    if not isinstance(values, dict):
        raise TypeError(f"{cls.__name__} must be a dict, got {type(values).__name__}")
    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
    return cls(**values)


def _check_meta(path: Path, meta: CheckpointMeta) -> None:
    if meta.input_names != input_names(meta.model):
        raise CheckpointError(f"{path}: input names {list(meta.input_names)} do not match model inputs "
                              f"{meta.model.inputs!r} {list(input_names(meta.model))}")
    if len(meta.classes) != meta.model.num_classes or not all(isinstance(c, str) for c in meta.classes):
        raise CheckpointError(f"{path}: {len(meta.classes)} class names for a {meta.model.num_classes}-class model")
    if not isinstance(meta.data_fingerprint, str):
        raise CheckpointError(f"{path}: data_fingerprint must be a str, got {type(meta.data_fingerprint).__name__}")
    if not isinstance(meta.alignment, dict) or not isinstance(meta.training, dict):
        raise CheckpointError(f"{path}: alignment and training must be dicts")
    if isinstance(meta.temperature, bool) or not isinstance(meta.temperature, (int, float)) \
            or not meta.temperature > 0 or not math.isfinite(meta.temperature):
        raise CheckpointError(f"{path}: temperature must be a finite number > 0, got {meta.temperature!r}")


def _check_plain(path: Path, where: str, value: object) -> None:
    """Refuse values that torch.load(weights_only=True) could not read back (Path, numpy, objects)."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(path, f"{where}[{i}]", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CheckpointError(f"{path}: {where} has a non-str key {key!r}")
            _check_plain(path, f"{where}[{key!r}]", item)
    else:
        raise CheckpointError(f"{path}: {where} is a {type(value).__name__}; checkpoint metadata must be plain "
                              f"values (str, int, float, bool, None, list, dict)")
