"""What one leave-one-subject-out run trains on and with: clips, classes, model, device, samples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from rich.progress import Progress

from realtime.core.device import resolve_device
from realtime.core.errors import InputError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from training.augment import dual_phase_applies
from training.clip_cache import CachedClip
from training.loso.folds import data_fingerprint, subject_keys
from training.loso.samples import NetworkInputs, Sample
from training.loso.trainer import Trainer
from training.metrics import compute_metrics
from training.models import ModelConfig, input_names
from training.presets import TrainConfig

RUN_FORMAT = 2  # version of the RUN_DIR layout (run.json, folds/*.json); 2: folds keep logits and temperature


class RunContext:
    """The settled inputs of one run, and what follows from them (model config, targets, samples)."""

    def __init__(self, clips: Sequence[CachedClip], classes: Sequence[str], config: TrainConfig, *,
                 alignment: dict, device: str = "auto", pretrained: Path | None = None,
                 progress: Progress | None = None, description: dict | None = None) -> None:
        unknown = sorted({clip.label for clip in clips} - set(classes))
        if unknown:
            raise InputError(f"clip labels {unknown} are not among the classes {list(classes)}")
        self.clips = list(clips)
        self.classes = tuple(classes)
        self.config = config
        self.alignment = alignment
        self.device = resolve_device(device)
        self.pretrained = pretrained
        self.progress = progress
        self.description = description or {}
        self.subjects = subject_keys(self.clips)
        self.fingerprint = data_fingerprint(self.clips)
        self.model_config = ModelConfig(backbone=config.backbone, num_classes=len(self.classes), inputs=config.inputs,
                                        fusion=config.fusion, shared_backbone=config.shared_backbone)
        self.names = tuple(input_names(self.model_config))
        self.di_input = DIInputConfig(size=config.size)
        self.inputs = NetworkInputs(self.di_input)
        self.target = {name: i for i, name in enumerate(self.classes)}
        self.dual_phase = config.augment.dual_phase and dual_phase_applies(config.inputs)

    def identity(self) -> dict:
        """What run.json pins: a resumed run must match it."""
        return {"format": RUN_FORMAT, "config": self.config.to_dict(), "classes": list(self.classes),
                "data_fingerprint": self.fingerprint, "alignment": self.alignment,
                "pretrained": str(self.pretrained) if self.pretrained else None}

    def configuration(self) -> dict:
        """What metrics.json and config.json record of the run's settings."""
        return {**self.config.to_dict(), "model": asdict(self.model_config), "input_names": list(self.names),
                "di_input": asdict(self.di_input), "alignment": self.alignment, "device": str(self.device),
                "dual_phase_active": self.dual_phase, "pretrained": str(self.pretrained) if self.pretrained else None,
                **self.description}

    def items(self, indices: Sequence[int], *, train: bool, seed: int = 0) -> list[Sample]:
        """Samples of the clips at `indices`; training adds the dual-phase samples where they apply, and
        with `shuffle_labels` (a control that must stay at chance) permutes their labels, seeded by `seed`."""
        targets = [self.target[self.clips[i].label] for i in indices]
        if train and self.config.shuffle_labels:
            targets = [int(t) for t in np.random.default_rng(seed).permutation(targets)]
        items = []
        for i, target in zip(indices, targets, strict=True):
            clip = self.clips[i]
            items.append(Sample(clip, self.names, target))
            if train and self.dual_phase:
                items += [Sample(clip, ("di_onset",), target), Sample(clip, ("di_offset",), target)]
        return items

    def trainer(self, seed: int) -> Trainer:
        return Trainer(self.config, self.model_config, self.device, pretrained=self.pretrained, seed=seed)

    def score(self, trainer: Trainer, items: Sequence[Sample]) -> tuple[float, float, float, np.ndarray]:
        """(UF1, mean loss, accuracy, logits) of `trainer`'s model on `items`."""
        logits, loss = trainer.predict(items, self.inputs)
        labels = [self.classes[item.target] for item in items]
        predicted = [self.classes[k] for k in logits.argmax(axis=1)]
        m = compute_metrics(labels, predicted, self.classes)
        return m.uf1, loss, m.accuracy, logits
