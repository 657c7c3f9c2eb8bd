"""Optimisers and learning-rate schedules by name, as registries (like the backbones').

`TrainConfig.optimizer` and `.schedule` name an entry here; the trainer builds them with
`create_optimiser` and `create_schedule`, and an unknown name is refused with the known ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from realtime.core.registry import Registry

OptimiserFactory = Callable[[Iterable[nn.Parameter], float, float], torch.optim.Optimizer]  # params, lr, weight decay
ScheduleFactory = Callable[[torch.optim.Optimizer, int], torch.optim.lr_scheduler.LRScheduler | None]  # opt, epochs

OPTIMISERS: Registry[OptimiserFactory] = Registry("optimizer", sort=True)
# fused: one kernel over every parameter. On the CPU torch otherwise loops over the tensors one by one, and
# that loop was 8-20 % of a small model's training step (bench/bench_training.py prints the ratio).
OPTIMISERS.add("adam", lambda params, lr, weight_decay: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay,
                                                                         fused=True))
OPTIMISERS.add("adamw", lambda params, lr, weight_decay: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay,
                                                                           fused=True))
list_optimisers = OPTIMISERS.names
check_optimiser = OPTIMISERS.check

SCHEDULES: Registry[ScheduleFactory] = Registry("schedule", sort=True)
SCHEDULES.add("constant", lambda optimiser, epochs: None)  # the paper names no schedule
# Cosine decay to 0 over the configured epochs, the same curve in every fold and in the final
# model (which stops at the folds' median epoch, where their learning rate had decayed to).
SCHEDULES.add("cosine", lambda optimiser, epochs: torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs))
list_schedules = SCHEDULES.names
check_schedule = SCHEDULES.check


def create_optimiser(name: str, params: Iterable[nn.Parameter], *, lr: float,
                     weight_decay: float) -> torch.optim.Optimizer:
    return OPTIMISERS[name](params, lr, weight_decay)


def create_schedule(name: str, optimiser: torch.optim.Optimizer, *,
                    epochs: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The per-epoch scheduler, or None for a constant rate."""
    return SCHEDULES[name](optimiser, epochs)
