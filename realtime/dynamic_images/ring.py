"""A fixed-size ring of the last few seconds of aligned grey face crops, on the device.

The spotter decides where a micro-expression started only after it has ended (and after a
bounded look-ahead), so the frames of an event must still be at hand when it closes; the ring
keeps them, with their times, addressed by the source's absolute frame index. It is allocated
once (no allocation per frame, so memory stays flat over hours) on the GPU when there is one,
where the DI builder reads it without a host round trip.

On the GPU a push must not wait for the device: a blocking `copy_` from pageable memory on the
legacy default stream would wait for everything queued before it there (a classifier's forward
pass included). `_Upload` copies each crop into a pinned staging buffer and queues the
host-to-device copy on a stream of the ring's own; the reader's stream (the one current at the
push, where the DI builder folds the frame) waits for that copy on the device, not on the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from realtime.core.device import resolve_device
from realtime.core.errors import InputError
from realtime.core.frame import seconds_to_frames

MAX_CAPACITY = 4096  # frames; the DI builder's int32 sums are exact for windows up to this long
UPLOAD_DEPTH = 4  # pinned staging buffers: a push waits only if the copy from 4 pushes ago is still queued


@dataclass(frozen=True)
class FrameRingConfig:
    """How much of the stream the ring keeps, at what crop size, on which device."""

    seconds: float = 2.0  # longest micro-expression (0.5 s) + spotter look-ahead (0.5 s) + 1 s of slack
    max_frames: int = 512  # hard cap: 2.56 s at 200 fps; the capacity when the rate is unknown
    size: int = 224  # aligned crop side in px (AlignConfig.size)
    device: str = "auto"  # realtime.core.device.DEVICES: "auto" (CUDA when present), "cpu", "cuda[:N]"


def ring_capacity(config: FrameRingConfig, fps: float | None) -> int:
    """Frames needed to hold `config.seconds` at `fps` (+1 so both ends fit), capped by max_frames.

    An unknown rate (None or not positive) gets the cap. For a variable rate pass the highest
    rate expected: at lower rates the ring then simply holds more seconds.
    """
    if not 1 <= config.max_frames <= MAX_CAPACITY:
        raise InputError(f"ring max_frames must be in 1..{MAX_CAPACITY}, got {config.max_frames}")
    if config.seconds <= 0:
        raise InputError(f"ring seconds must be positive, got {config.seconds}")
    if fps is None or not math.isfinite(fps) or fps <= 0:
        return config.max_frames
    return min(config.max_frames, seconds_to_frames(config.seconds, fps) + 1)


class FrameRing:
    """The last `capacity` aligned crops, their times, by absolute frame index.

    Indices must arrive consecutively (a frame without a face is pushed as the previous crop by
    the caller): slot = index % capacity, so push and lookup are O(1). The first push may carry
    any index (a stream resumed or started late). `epoch` changes on `reset`, so a consumer that
    keeps per-slot state (the DI builder) knows when to start over.
    """

    def __init__(self, config: FrameRingConfig = FrameRingConfig(), *, fps: float | None = None) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.capacity = ring_capacity(config, fps)
        size = config.size
        self._frames = torch.zeros((self.capacity, size, size), dtype=torch.uint8, device=self.device)  # (N, S, S) grey
        self._upload = _Upload(self.device, (size, size)) if self.device.type == "cuda" else None
        self._times = np.zeros(self.capacity, np.float64)  # (N,) seconds, host side: read by the spotter on the host
        self._newest = -1
        self._count = 0
        self.epoch = 0

    def __len__(self) -> int:
        return self._count

    @property
    def newest(self) -> int:
        """Absolute index of the last frame pushed; InputError when empty."""
        if self._count == 0:
            raise InputError("the frame ring is empty")
        return self._newest

    @property
    def oldest(self) -> int:
        """Absolute index of the oldest frame still held; InputError when empty."""
        return self.newest - self._count + 1

    def __contains__(self, index: object) -> bool:
        return isinstance(index, (int, np.integer)) and self._count > 0 and self.oldest <= index <= self._newest

    def slot(self, index: int) -> int:
        """Ring position of a held frame."""
        self._check_held(index, index)
        return index % self.capacity

    def push(self, crop: np.ndarray | torch.Tensor, *, index: int, t_s: float) -> int:
        """Store one (S, S) or (S, S, 1) grey uint8 crop as frame `index`; returns its slot."""
        size = self.config.size
        if tuple(crop.shape) not in ((size, size), (size, size, 1)):
            raise InputError(f"ring expects ({size}, {size}) grey crops, got shape {tuple(crop.shape)}")
        if crop.dtype not in (np.uint8, torch.uint8):
            raise InputError(f"ring expects uint8 crops, got {crop.dtype}")
        if self._count and index != self._newest + 1:
            raise InputError(f"frame {index} pushed after frame {self._newest}; indices must be consecutive")
        slot = index % self.capacity
        source = torch.from_numpy(np.ascontiguousarray(crop)) if isinstance(crop, np.ndarray) else crop
        if self._upload is not None:
            self._upload(self._frames[slot], source.reshape(size, size))
        else:
            self._frames[slot].copy_(source.reshape(size, size))
        self._times[slot] = t_s
        self._newest = index
        self._count = min(self._count + 1, self.capacity)
        return slot

    def frame(self, index: int) -> torch.Tensor:
        """(S, S) uint8 view of frame `index` (valid until the ring wraps over it)."""
        return self._frames[self.slot(index)]

    def time(self, index: int) -> float:
        return float(self._times[self.slot(index)])

    def window(self, first: int, last: int, *, copy: bool = False) -> torch.Tensor:
        """(T, S, S) uint8 frames first..last (inclusive), on the ring's device.

        A view when the frames are contiguous in the ring and `copy` is False (it changes when
        the ring wraps over them); a new tensor when they wrap around the end, or on request.
        """
        self._check_held(first, last)
        start, stop = first % self.capacity, last % self.capacity
        if start <= stop:
            frames = self._frames[start:stop + 1]
            return frames.clone() if copy else frames
        return torch.cat((self._frames[start:], self._frames[:stop + 1]))

    def times(self, first: int, last: int) -> np.ndarray:
        """(T,) float64 seconds of frames first..last (inclusive), a copy."""
        self._check_held(first, last)
        slots = np.arange(first, last + 1) % self.capacity
        return self._times[slots]

    def reset(self) -> None:
        """Forget every frame (a new stream or a face lost for good); memory stays allocated."""
        self._newest = -1
        self._count = 0
        self.epoch += 1

    def _check_held(self, first: int, last: int) -> None:
        if first > last:
            raise InputError(f"frame window {first}..{last} is empty")
        if self._count == 0:
            raise InputError(f"frames {first}..{last} requested from an empty ring")
        if first < self.oldest or last > self._newest:
            raise InputError(f"frames {first}..{last} are not in the ring (it holds {self.oldest}..{self._newest})")


class _Upload:
    """Host -> GPU copies of crops off the frame thread's stream, from pinned staging buffers.

    Order on the device is kept both ways: the copy waits for work already queued on the
    reader's stream (a fold may still read the slot being overwritten), and the reader's stream
    waits for the copy before anything queued after the push. The host waits only when it is
    about to refill a staging buffer whose copy has not run yet (`UPLOAD_DEPTH` pushes ago).
    """

    def __init__(self, device: torch.device, shape: tuple[int, int]) -> None:
        self.stream = torch.cuda.Stream(device)
        self._staging = [torch.empty(shape, dtype=torch.uint8, pin_memory=True) for _ in range(UPLOAD_DEPTH)]
        self._done: list[torch.cuda.Event | None] = [None] * UPLOAD_DEPTH
        self._next = 0

    def __call__(self, destination: torch.Tensor, source: torch.Tensor) -> None:
        reader = torch.cuda.current_stream(destination.device)
        staged: int | None = None  # the staging buffer used, for a host source
        if source.is_cuda:
            source.record_stream(self.stream)  # the caller may free it before the copy runs
        else:
            staged, self._next = self._next, (self._next + 1) % UPLOAD_DEPTH
            if self._done[staged] is not None:
                self._done[staged].synchronize()
            self._staging[staged].copy_(source)  # host to pinned host memory
            source = self._staging[staged]
        self.stream.wait_stream(reader)
        with torch.cuda.stream(self.stream):
            destination.copy_(source, non_blocking=True)
            if staged is not None:
                self._done[staged] = torch.cuda.Event()
                self._done[staged].record(self.stream)
        reader.wait_stream(self.stream)
