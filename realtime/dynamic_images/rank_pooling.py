"""Dynamic images by approximate rank pooling: the one implementation used everywhere.

A dynamic image (DI) summarises frames F_1..F_T as sum_t a_t F_t (Bilen et al.). DIANet splits
each micro-expression at its apex and pools each phase with its own weights (eq. 1-3):

    DI-Onset  over onset..apex:  a_t = 2t - T - 1   (t = 1..T)
    DI-Offset over apex..offset: a_t = T + 1 - 2t

The raw functions below compute exactly these sums on raw pixel values, per channel, with no
scaling or resampling, on whatever torch device the frames live on (numpy in, numpy out).
Two documented steps follow them and are shared by training, offline and live inference:

1. `rate_normalise`: multiplies by 6 / (T (T + 1)). For a linear ramp of total amplitude A
   over T frames the raw DI is A * T (T + 1) / 6, so after this factor the same movement gives
   the same DI whether it was filmed at 30 or at 200 fps. It is a scalar, so the sums stay
   linear and the live DI builder can still compute them incrementally.
2. `to_network_input`: resizes to the network's input size and standardises per image with a
   noise floor (below), the mapping every backend and the training loader use.

A phase of one frame (onset == apex, or apex == offset; the real CASME-II sheet has both) has
the single weight a_1 = 0, so its DI is an all-zero image. We keep that: no frames, no motion,
and `to_network_input` maps a zero DI to an all-zero input (the noise floor stops it from
being blown up), which the network learns to read as "this phase carries no information".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import cv2
import numpy as np
import torch

from realtime.core.errors import InputError
from realtime.dynamic_images.representation_config import RepresentationConfig

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def rank_pooling_weights(num_frames: int, *, reverse: bool = False, device: torch.device | str = "cpu",
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """a_t = 2t - T - 1 for t = 1..T (or its negation, T + 1 - 2t, when `reverse`)."""
    if num_frames < 1:
        raise InputError(f"a dynamic image needs at least one frame, got T={num_frames}")
    t = torch.arange(1, num_frames + 1, device=device, dtype=dtype)
    weights = 2 * t - num_frames - 1
    return -weights if reverse else weights


# Frames are reduced in chunks of about this many float32 bytes: on a CPU the reduction is
# memory-bound, and a chunk that stays in cache is ~8x faster than one pass over a (T, H, W, C)
# float copy. GPU memory is fast enough that bigger chunks only save kernel launches.
_CHUNK_BYTES = {"cpu": 1 << 20, "cuda": 1 << 26}


def dynamic_image(frames: Array, *, reverse: bool = False) -> Array:
    """Raw sum_t a_t F_t over a (T, H, W, C) array or tensor -> (H, W, C) float32.

    The weights sum to zero, so subtracting the first frame changes nothing mathematically;
    it removes the large constant background before the float32 reduction, which keeps the
    result accurate to ~1e-6 relative even for T in the hundreds.
    """
    as_numpy = isinstance(frames, np.ndarray)
    x = torch.from_numpy(np.ascontiguousarray(frames)) if as_numpy else frames
    if x.ndim != 4:
        raise InputError(f"dynamic_image expects (T, H, W, C) frames, got shape {tuple(x.shape)}")
    weights = rank_pooling_weights(x.shape[0], reverse=reverse, device=x.device)
    reference = x[0].to(torch.float32, copy=True)
    per_chunk = max(1, _CHUNK_BYTES.get(x.device.type, 1 << 20) // (4 * reference.numel()))
    di = torch.zeros_like(reference)  # (H, W, C)
    for start in range(0, x.shape[0], per_chunk):
        chunk = x[start:start + per_chunk].to(torch.float32, copy=True)  # never alter the caller's frames
        chunk -= reference
        di += torch.tensordot(weights[start:start + per_chunk], chunk, dims=1)
    return di.numpy() if as_numpy else di


def _check_phases(num_frames: int, onset: int, apex: int, offset: int) -> None:
    if not 0 <= onset <= apex <= offset < num_frames:
        raise InputError(
            f"phases need 0 <= onset <= apex <= offset < T, got onset={onset}, apex={apex}, "
            f"offset={offset}, T={num_frames}")


def phase_dynamic_images(frames: Array, onset: int, apex: int, offset: int) -> tuple[Array, Array]:
    """(DI-Onset over onset..apex, DI-Offset over apex..offset), inclusive 0-based positions."""
    _check_phases(frames.shape[0], onset, apex, offset)
    di_onset = dynamic_image(frames[onset:apex + 1])
    di_offset = dynamic_image(frames[apex:offset + 1], reverse=True)
    return di_onset, di_offset


def clip_dynamic_image(frames: Array, onset: int, offset: int) -> Array:
    """The whole-clip DI over onset..offset (inclusive), with the forward weights."""
    _check_phases(frames.shape[0], onset, onset, offset)
    return dynamic_image(frames[onset:offset + 1])


def rate_normalise(di: Array, num_frames: int) -> Array:
    """Scale a raw DI of T frames so that a movement gives the same DI at any frame rate."""
    if num_frames < 1:
        raise InputError(f"rate_normalise needs T >= 1, got {num_frames}")
    return di * (6.0 / (num_frames * (num_frames + 1)))


@dataclass(frozen=True)
class DIInputConfig:
    """How a rate-normalised DI becomes a network input; saved in every checkpoint."""

    size: int = 224  # network input side in pixels (the paper's); the CPU preset uses 112
    noise_floor: float = 0.5  # grey levels: a DI whose spread is below this is not amplified
    clip: float = 4.0  # standardised values beyond +-clip carry no extra information
    representation: RepresentationConfig = field(default_factory=RepresentationConfig)  # MI-DI, flows, COF, MESTI

    def __post_init__(self) -> None:
        if isinstance(self.representation, dict):  # read back from a checkpoint or engine.json
            try:
                object.__setattr__(self, "representation", RepresentationConfig(**self.representation))
            except TypeError as exc:
                raise InputError(f"representation {self.representation} does not match RepresentationConfig "
                                 f"({exc})") from exc


def to_network_input(di: np.ndarray, num_frames: int, config: DIInputConfig = DIInputConfig(), *,
                     pooled: bool = True) -> np.ndarray:
    """Raw (H, W, C) DI of `num_frames` frames -> (C, size, size) float32 network input.

    `pooled=False` is for images that are frame-rate independent already (a flow, a frame,
    MESTI's normalised sum; realtime.dynamic_images.representations says which): they skip
    the rate normalisation and take the rest of the path unchanged.

    Rate-normalise, resize (area interpolation: a DI is linear in the frames, so resizing the DI
    equals the DI of resized frames), then standardise per image. Per-image standardisation
    makes inputs comparable across cameras and datasets whose expressions differ in strength;
    the noise floor keeps a phase with no motion (or T = 1) near zero instead of amplifying noise.
    """
    if di.ndim == 2:
        di = di[:, :, None]
    x = di.astype(np.float32, copy=False)
    if pooled:
        x = rate_normalise(x, num_frames)
    if x.shape[0] != config.size or x.shape[1] != config.size:
        resized = cv2.resize(x, (config.size, config.size), interpolation=cv2.INTER_AREA)
        x = resized.reshape(config.size, config.size, -1)
    x = (x - x.mean()) / max(float(x.std()), config.noise_floor)
    x = np.clip(x, -config.clip, config.clip)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)  # (C, size, size)
