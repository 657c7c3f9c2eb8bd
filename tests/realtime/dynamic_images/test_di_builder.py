from __future__ import annotations

import numpy as np
import pytest
import torch

from realtime.core.errors import InputError
from realtime.core.interval import Interval
from realtime.dynamic_images.builder import DynamicImageBuilder
from realtime.dynamic_images.rank_pooling import clip_dynamic_image, phase_dynamic_images
from realtime.dynamic_images.ring import FrameRing, FrameRingConfig
from support.devices import DEVICES

SIZE = 32
HOUR_AT_200_FPS = 720_000


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Every test runs on each device torch sees: the sums and DIs must be the same everywhere."""
    return request.param


def relative_error(ours: torch.Tensor, reference: np.ndarray) -> float:
    return float(np.linalg.norm(ours.cpu().numpy() - reference) / np.linalg.norm(reference))


def exact_di(frames: np.ndarray, *, reverse: bool = False) -> np.ndarray:
    """Integer reference: sum_t (2t - T - 1) F_t in int64 (no rounding at all)."""
    num = len(frames)
    weights = 2 * np.arange(1, num + 1, dtype=np.int64) - num - 1
    return np.tensordot(-weights if reverse else weights, frames.astype(np.int64), axes=1)


def stream(capacity: int, frames: np.ndarray, *, start: int = 0,
           device: str = "cpu") -> tuple[FrameRing, DynamicImageBuilder]:
    ring = FrameRing(FrameRingConfig(size=SIZE, max_frames=capacity, device=device))
    builder = DynamicImageBuilder(ring)
    for offset, crop in enumerate(frames):
        ring.push(crop, index=start + offset, t_s=(start + offset) / 200)
        builder.update()
    return ring, builder


def random_frames(count: int, *, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, SIZE, SIZE), dtype=np.uint8)  # (T, S, S) grey


@pytest.mark.parametrize("start", [0, HOUR_AT_200_FPS, 2**32 - 60])  # fresh, after an hour, index past 2^32
@pytest.mark.parametrize(("onset", "apex", "offset"), [(130, 134, 139), (40, 100, 159), (100, 100, 101)])
def test_event_dis_equal_the_offline_ones(start: int, onset: int, apex: int, offset: int, device: str) -> None:
    frames = random_frames(160)
    _, builder = stream(128, frames, start=start, device=device)  # ring holds 32..159, wrapped
    event = builder.process(Interval(start + onset, start + apex, start + offset))
    reference = phase_dynamic_images(frames[..., None], onset, apex, offset)
    assert event.di_onset.shape == event.di_offset.shape == (SIZE, SIZE, 1)
    assert event.di_onset.dtype == torch.float32
    assert (event.onset_frames, event.offset_frames) == (apex - onset + 1, offset - apex + 1)
    for ours, offline in zip((event.di_onset, event.di_offset), reference):
        if np.any(offline):
            assert relative_error(ours, offline) <= 1e-5
        else:
            assert not torch.any(ours)  # a one-frame phase is all zero, as offline
    assert np.array_equal(event.di_onset[..., 0].cpu().numpy(), exact_di(frames[onset:apex + 1]))
    assert np.array_equal(event.di_offset[..., 0].cpu().numpy(), exact_di(frames[apex:offset + 1], reverse=True))


def test_longest_window_is_exact_at_the_int32_bound(device: str) -> None:
    # Black then white frames make the largest DI there is, 255 * T^2 / 4 (~2^30 at T = 4096).
    num = 4096
    ring = FrameRing(FrameRingConfig(size=2, max_frames=num, device=device))
    builder = DynamicImageBuilder(ring)
    frames = np.zeros((num, 2, 2), np.uint8)
    frames[num // 2:] = 255
    for index, crop in enumerate(frames):
        ring.push(crop, index=HOUR_AT_200_FPS + index, t_s=0.0)
    di = builder.window_di(HOUR_AT_200_FPS, HOUR_AT_200_FPS + num - 1)  # catches up lazily
    expected = exact_di(frames)
    assert expected.max() == 255 * num**2 // 4
    assert np.array_equal(di[..., 0].cpu().numpy(), expected.astype(np.float32))


def test_sums_carried_over_an_hour_of_frames_stay_exact(device: str) -> None:
    # The sums of a whole hour at 200 fps (computed here in int64, as the builder would have
    # accumulated them frame by frame) are put in place; the last 256 frames then stream in.
    frames = np.random.default_rng(3).integers(0, 256, (HOUR_AT_200_FPS, 2, 2), dtype=np.uint8)
    first = HOUR_AT_200_FPS - 256
    history = frames[:first].astype(np.int64)
    sums0 = history.sum(axis=0)
    sums1 = np.tensordot(np.arange(first, dtype=np.int64), history, axes=1)
    assert sums1.min() > 2**44  # far past float32's 2^24 exact integers
    ring = FrameRing(FrameRingConfig(size=2, max_frames=256, device=device))
    builder = DynamicImageBuilder(ring)
    ring.push(frames[first], index=first, t_s=first / 200)
    builder._total0 = torch.from_numpy(((sums0 + 2**31) % 2**32) - 2**31).to(ring.device)
    builder._total1 = torch.from_numpy(((sums1 + 2**31) % 2**32) - 2**31).to(ring.device)
    builder._next, builder._epoch = first, ring.epoch
    for index in range(first + 1, HOUR_AT_200_FPS):
        ring.push(frames[index], index=index, t_s=index / 200)
        builder.update()
    end = HOUR_AT_200_FPS - 1
    event = builder.process(Interval(end - 150, end - 90, end))
    onset, offset = phase_dynamic_images(frames[-151:, ..., None], 0, 60, 150)
    assert relative_error(event.di_onset, onset) <= 1e-5
    assert relative_error(event.di_offset, offset) <= 1e-5
    assert np.array_equal(event.di_onset[..., 0].cpu().numpy(), exact_di(frames[end - 150:end - 89]))


def test_clip_di_and_lazy_catch_up(device: str) -> None:
    frames = random_frames(50, seed=1)
    ring = FrameRing(FrameRingConfig(size=SIZE, max_frames=64, device=device))
    builder = DynamicImageBuilder(ring)
    for index, crop in enumerate(frames):
        ring.push(crop, index=index, t_s=0.0)  # no update(): process catches up
    ours = builder.window_di(5, 44)
    assert relative_error(ours, clip_dynamic_image(frames[..., None], 5, 44)) <= 1e-5


def test_builder_starts_over_when_the_ring_is_reset_or_outruns_it(device: str) -> None:
    frames = random_frames(120, seed=2)
    ring, builder = stream(16, frames[:30], device=device)
    ring.reset()
    for index in range(500, 520):
        ring.push(frames[index - 500 + 30], index=index, t_s=0.0)
    expected = phase_dynamic_images(frames[30:50, ..., None], 6, 10, 19)
    event = builder.process(Interval(506, 510, 519))
    assert relative_error(event.di_onset, expected[0]) <= 1e-5
    for index in range(520, 560):  # more than the capacity without update()
        ring.push(frames[index - 500 + 30], index=index, t_s=0.0)
    expected = phase_dynamic_images(frames[74:90, ..., None], 0, 7, 15)
    event = builder.process(Interval(544, 551, 559))
    assert relative_error(event.di_offset, expected[1]) <= 1e-5


def test_rejects_windows_outside_the_ring_and_bad_phases(device: str) -> None:
    _, builder = stream(16, random_frames(40), device=device)
    with pytest.raises(InputError, match="not in the ring"):
        builder.process(Interval(20, 30, 35))
    with pytest.raises(InputError, match="onset <= apex <= offset"):
        builder.process(Interval(30, 28, 35))
