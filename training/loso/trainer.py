"""One model in training: its optimiser, schedule and mixed-precision state, one epoch, predictions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from realtime.core.errors import InputError
from realtime.dynamic_images.representations import REPRESENTATIONS
from training.augment import spatial_augment
from training.loso.samples import NetworkInputs, Sample, batches
from training.models import ModelConfig, create_model, dianet_loss, input_names
from training.optim import create_optimiser, create_schedule
from training.presets import TrainConfig


class Trainer:
    """The model, optimiser and mixed-precision state of one fold (or of the final model).

    Everything random in it (weights, shuffling, jitter, spatial augmentation) derives from `seed`.
    """

    def __init__(self, config: TrainConfig, model_config: ModelConfig, device: torch.device, *,
                 pretrained: Path | None, seed: int) -> None:
        self.config = config
        self.device = device
        torch.manual_seed(seed)
        self.model = create_model(model_config, pretrained=pretrained).to(device)
        self.vectors = tuple(REPRESENTATIONS[name].vector for name in input_names(model_config))  # flows' (u, v)
        self.optimiser = create_optimiser(config.optimizer, self.model.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay)
        self.scheduler = create_schedule(config.schedule, self.optimiser, epochs=config.epochs)
        self.amp = device.type == "cuda"  # fp16 autocast + loss scaling on CUDA only
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.generator = torch.Generator().manual_seed(seed)  # spatial augmentation draws
        self.rng = np.random.default_rng(seed)  # shuffling and phase jitter

    def train_epoch(self, items: Sequence[Sample], inputs: NetworkInputs) -> tuple[float, float]:
        """One pass over `items` -> (mean training loss, samples per second)."""
        self.model.train()
        total, count, start = 0.0, 0, time.perf_counter()
        for x, y in batches(items, inputs, batch_size=self.config.batch_size, device=self.device,
                            rng=self.rng, augment=self.config.augment):
            x = spatial_augment(x, self.config.augment, self.generator, self.vectors)
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                loss = dianet_loss(self.model(*x), y, cos_lambda=self.config.cos_lambda)
            self.optimiser.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimiser)
            self.scaler.update()
            total += float(loss.detach()) * len(y)
            count += len(y)
        if count == 0:
            raise InputError("no training samples in this fold")
        if self.scheduler is not None:
            self.scheduler.step()
        return total / count, count / (time.perf_counter() - start)

    @torch.no_grad()
    def predict(self, items: Sequence[Sample], inputs: NetworkInputs) -> tuple[np.ndarray, float]:
        """Logits (N, K) float64 of `items` in order (training.calibration.softmax makes probabilities),
        and their mean loss."""
        self.model.eval()
        logits, total = [], 0.0
        for x, y in batches(items, inputs, batch_size=max(self.config.batch_size, 64), device=self.device):
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                output = self.model(*x)
                loss = dianet_loss(output, y, cos_lambda=self.config.cos_lambda)
            logits.append(output.logits.float().cpu().numpy().astype(np.float64))
            total += float(loss) * len(y)
        return np.concatenate(logits), total / len(items)
