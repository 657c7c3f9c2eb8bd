"""What feeds the network: samples (a clip, the DIs of its inputs, a target) and their batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from realtime.dynamic_images.rank_pooling import DIInputConfig
from training.augment import AugmentConfig, jitter_phases
from training.clip_cache import CachedClip, network_inputs


@dataclass(frozen=True)
class Sample:
    """One training sample: a clip, the DIs that feed the model's inputs (in order), the target."""

    clip: CachedClip
    sources: tuple[str, ...]
    target: int


class NetworkInputs:
    """Network inputs of clips at their coded phases (memoised) or at jittered phases (fresh)."""

    def __init__(self, di_input: DIInputConfig) -> None:
        self.di_input = di_input
        self._memo: dict[tuple[str, str, tuple[str, ...]], tuple[np.ndarray, ...]] = {}

    def coded(self, clip: CachedClip, sources: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        key = (clip.stack_path.name, clip.clip_id, sources)
        if key not in self._memo:
            self._memo[key] = network_inputs(clip.dis, sources, self.di_input)
        return self._memo[key]

    def jittered(self, clip: CachedClip, sources: tuple[str, ...], rng: np.random.Generator,
                 augment: AugmentConfig) -> tuple[np.ndarray, ...]:
        phases = jitter_phases(clip.positions, clip.num_frames, rng, config=augment, fps=clip.fps)
        return network_inputs(clip.dynamic_images(phases), sources, self.di_input)


def batches(items: Sequence[Sample], inputs: NetworkInputs, *, batch_size: int, device: torch.device,
            rng: np.random.Generator | None = None,
            augment: AugmentConfig | None = None) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
    """Batches of (inputs, each (B, 1, S, S) float32, targets (B,) int64); shuffled and jittered when `rng` is given."""
    order = rng.permutation(len(items)) if rng is not None else np.arange(len(items))
    for start in range(0, len(order), batch_size):
        chosen = [items[i] for i in order[start:start + batch_size]]
        if rng is not None and len(chosen) == 1 and start > 0:
            break  # a batch of one breaks batch norm; it is reshuffled into the next epoch
        if rng is not None and augment is not None and augment.jitters:
            arrays = [inputs.jittered(item.clip, item.sources, rng, augment) for item in chosen]
        else:
            arrays = [inputs.coded(item.clip, item.sources) for item in chosen]
        stacked = tuple(torch.from_numpy(np.stack([a[j] for a in arrays])).to(device) for j in range(len(arrays[0])))
        targets = torch.tensor([item.target for item in chosen], dtype=torch.int64, device=device)
        yield stacked, targets
