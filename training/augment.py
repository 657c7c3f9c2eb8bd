"""Training-time augmentation: spatial (flip, rotation), dual-phase samples and phase jitter.

- Spatial: a horizontal flip and a rotation within +-10 degrees (the paper's), drawn once per
  sample and applied identically to every image of it, so the two phase DIs of a pair stay
  registered with each other. A DI is linear in its frames, so flipping or rotating the DI
  equals the DI of flipped or rotated frames; it is done on the network inputs, as a batch, on
  whatever device they live on. The rotation fills with 0, the mean of a standardised input.
- Dual-phase temporal augmentation (Khuong et al., arXiv 2510.15466): a model that reads the
  whole-clip DI also trains on the clip's DI-Onset and DI-Offset as extra samples of the same
  class. It applies to the single-stream whole-clip model only: for the two-stream models each
  stream already has its phase, and for the DI-Onset / DI-Offset rows adding the other phase
  would change what the row measures.
- Phase jitter: live DIs are cut at the spotter's onset, apex and offset, not at a coder's, so
  training moves each of the three by up to `jitter_fraction` of the clip's length (or
  `jitter_ms`, whichever is more), uniformly and independently, and recomputes the DIs from
  the cached aligned frames. The spotter's onsets and offsets land where the motion re-enters
  the noise band, a few tens of ms from the coded ones; 15 % of a 200-500 ms clip is 30-75 ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from realtime.core.errors import InputError
from realtime.core.interval import Interval


@dataclass(frozen=True)
class AugmentConfig:
    """What the training loader does to a sample; saved with every run and checkpoint."""

    flip: bool = True  # faces are near-symmetric: a mirrored micro-expression keeps its class
    max_rotation_deg: float = 10.0  # the paper's +-10 degrees; covers residual roll after alignment
    dual_phase: bool = True  # arXiv 2510.15466; active for the single-stream whole-clip DI model only
    jitter_fraction: float = 0.15  # of onset..offset: the spotter's boundary error at IoU >= 0.5
    jitter_ms: float = 0.0  # absolute floor for the shift, in ms (needs the dataset's frame rate)

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_rotation_deg <= 180.0:
            raise InputError(f"max_rotation_deg must be in [0, 180], got {self.max_rotation_deg}")
        if not 0.0 <= self.jitter_fraction <= 1.0:
            raise InputError(f"jitter_fraction must be in [0, 1], got {self.jitter_fraction}")
        if self.jitter_ms < 0.0:
            raise InputError(f"jitter_ms must be >= 0, got {self.jitter_ms}")

    @property
    def jitters(self) -> bool:
        return self.jitter_fraction > 0.0 or self.jitter_ms > 0.0


def dual_phase_applies(inputs: str) -> bool:
    """Whether the dual-phase samples are added for a model reading `inputs` (ModelConfig.inputs)."""
    return inputs == "clip"


def jitter_phases(phases: Interval, num_frames: int, rng: np.random.Generator, *,
                  config: AugmentConfig, fps: float | None) -> Interval:
    """Move onset, apex and offset independently by up to the configured shift; keep them ordered in 0..T-1."""
    onset, apex, offset = phases.onset, phases.apex, phases.offset
    if apex is None or offset >= num_frames:
        raise InputError(f"phases need 0 <= onset <= apex <= offset < T, got {onset}, {apex}, {offset}, T={num_frames}")
    shift = config.jitter_fraction * phases.length
    if config.jitter_ms > 0.0:
        if fps is None:
            raise InputError("jitter_ms needs the frame rate of the dataset; use jitter_fraction instead")
        shift = max(shift, config.jitter_ms * fps / 1000.0)
    limit = int(math.floor(shift))
    if limit == 0:
        return phases
    d_onset, d_apex, d_offset = rng.integers(-limit, limit + 1, size=3)
    new_apex = int(np.clip(apex + d_apex, 0, num_frames - 1))
    new_onset = int(np.clip(onset + d_onset, 0, new_apex))
    new_offset = int(np.clip(offset + d_offset, new_apex, num_frames - 1))
    return Interval(new_onset, new_apex, new_offset)


def spatial_augment(inputs: tuple[torch.Tensor, ...], config: AugmentConfig,
                    generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Flip and rotate each sample of a batch, the same way for all of its images.

    inputs: images of one batch, each (B, C, S, S) float; returns the same shapes. The random
    draws come from `generator` (CPU) so a seeded run is reproducible on any device.
    """
    if not config.flip and config.max_rotation_deg == 0.0:
        return inputs
    batch = inputs[0].shape[0]
    if any(x.shape[0] != batch for x in inputs):
        raise InputError(f"images of a batch differ in batch size: {[tuple(x.shape) for x in inputs]}")
    angle = (torch.rand(batch, generator=generator) * 2.0 - 1.0) * math.radians(config.max_rotation_deg)
    if config.flip:
        mirror = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0)
    else:
        mirror = torch.ones(batch)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Output pixel (x, y) samples input at R(angle) @ (mirror * x, y): flip first, then rotate.
    theta = torch.stack([torch.stack([cos * mirror, -sin, torch.zeros(batch)], dim=1),
                         torch.stack([sin * mirror, cos, torch.zeros(batch)], dim=1)], dim=1)  # (B, 2, 3)
    first = inputs[0]
    grid = F.affine_grid(theta.to(device=first.device, dtype=first.dtype), list(first.shape), align_corners=False)
    return tuple(F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
                 for x in inputs)
