from __future__ import annotations

import numpy as np
import pytest
import torch

from realtime.core.errors import InputError
from realtime.dynamic_images.ring import UPLOAD_DEPTH, FrameRing, FrameRingConfig, ring_capacity
from support.devices import DEVICES

SIZE = 8


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Ring tests run on each device torch sees (CUDA pushes go through pinned staging on their own stream)."""
    return request.param


def crops(count: int, *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, SIZE, SIZE), dtype=np.uint8)  # (T, S, S) grey


def filled(capacity: int, count: int, *, start: int = 0, device: str = "cpu") -> tuple[FrameRing, np.ndarray]:
    ring = FrameRing(FrameRingConfig(size=SIZE, max_frames=capacity, device=device))
    frames = crops(count)
    for offset, crop in enumerate(frames):
        ring.push(crop, index=start + offset, t_s=(start + offset) / 100)
    return ring, frames


def test_capacity_follows_the_rate_in_seconds_and_the_hard_cap() -> None:
    config = FrameRingConfig(seconds=2.0, max_frames=512)
    assert ring_capacity(config, 30.0) == 61
    assert ring_capacity(config, 200.0) == 401
    assert ring_capacity(config, 1000.0) == 512  # capped
    assert ring_capacity(config, None) == 512  # unknown rate
    assert ring_capacity(config, 0.0) == 512
    assert ring_capacity(config, float("nan")) == 512
    with pytest.raises(InputError, match="max_frames"):
        ring_capacity(FrameRingConfig(max_frames=5000), 30.0)


def test_preallocated_on_the_requested_device() -> None:
    ring = FrameRing(FrameRingConfig(size=SIZE, device="cpu"), fps=100)
    assert ring.device == torch.device("cpu") and ring.capacity == 201


def test_wrap_around_keeps_the_last_capacity_frames(device: str) -> None:
    ring, frames = filled(5, 13, start=100, device=device)
    assert len(ring) == 5 and ring.oldest == 108 and ring.newest == 112
    for index in range(108, 113):
        assert np.array_equal(ring.frame(index).cpu().numpy(), frames[index - 100])
        assert ring.time(index) == pytest.approx(index / 100)
    assert 107 not in ring and 108 in ring and 113 not in ring
    with pytest.raises(InputError, match="not in the ring"):
        ring.frame(107)
    with pytest.raises(InputError, match="not in the ring"):
        ring.frame(113)


def test_window_view_and_wrapped_copy_match_the_frames(device: str) -> None:
    ring, frames = filled(5, 13, start=0, device=device)  # holds 8..12 in slots 3, 4, 0, 1, 2
    contiguous = ring.window(8, 9)
    assert contiguous.data_ptr() == ring.frame(8).data_ptr()  # a view, no copy
    assert np.array_equal(contiguous.cpu().numpy(), frames[8:10])
    wrapped = ring.window(8, 12)
    assert np.array_equal(wrapped.cpu().numpy(), frames[8:13])
    assert np.allclose(ring.times(8, 12), np.arange(8, 13) / 100)
    copied = ring.window(10, 12, copy=True)
    ring.push(crops(1, seed=9)[0], index=13, t_s=0.13)  # overwrites frame 8's slot, not the copy
    assert np.array_equal(copied.cpu().numpy(), frames[10:13])
    with pytest.raises(InputError, match="empty"):
        ring.window(12, 11)


def test_push_checks_shape_dtype_and_consecutive_indices(device: str) -> None:
    ring, _ = filled(4, 2, start=7, device=device)
    with pytest.raises(InputError, match="consecutive"):
        ring.push(crops(1)[0], index=10, t_s=0.0)
    with pytest.raises(InputError, match="shape"):
        ring.push(np.zeros((SIZE, SIZE + 1), np.uint8), index=9, t_s=0.0)
    with pytest.raises(InputError, match="uint8"):
        ring.push(np.zeros((SIZE, SIZE), np.float32), index=9, t_s=0.0)
    ring.push(torch.ones((SIZE, SIZE, 1), dtype=torch.uint8), index=9, t_s=0.09)  # tensors and (S, S, 1) too
    assert int(ring.frame(9).sum()) == SIZE * SIZE


def test_reset_empties_and_bumps_the_epoch(device: str) -> None:
    ring, _ = filled(4, 6, device=device)
    epoch = ring.epoch
    ring.reset()
    assert len(ring) == 0 and ring.epoch == epoch + 1 and 5 not in ring
    with pytest.raises(InputError, match="empty"):
        _ = ring.newest
    ring.push(crops(1)[0], index=3, t_s=0.0)  # any index may start the new stream
    assert ring.oldest == ring.newest == 3


def test_pushes_from_any_source_land_in_order(device: str) -> None:
    """Host arrays, host tensors and device tensors, many more pushes than staging buffers, read
    back only at the end: every frame is the one pushed (on CUDA: the copies are ordered on the
    device, and a staging buffer is never refilled before its copy ran)."""
    capacity = 3 * UPLOAD_DEPTH
    ring = FrameRing(FrameRingConfig(size=SIZE, max_frames=capacity, device=device))
    frames = crops(5 * capacity, seed=4)
    for index, crop in enumerate(frames):
        source = (crop, torch.from_numpy(crop), torch.from_numpy(crop).to(device))[index % 3]
        ring.push(source, index=index, t_s=index / 200)
    first = len(frames) - capacity
    assert np.array_equal(ring.window(first, len(frames) - 1).cpu().numpy(), frames[first:])
    if device == "cuda":
        assert ring._upload is not None and ring._upload.stream != torch.cuda.default_stream()
    else:
        assert ring._upload is None  # a plain copy: nothing to overlap on the CPU
