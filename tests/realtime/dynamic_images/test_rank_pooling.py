"""Dynamic images: equations 1-3 exactly, device-agnostic, the T = 1 rule, the network mapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realtime.core.errors import InputError
from realtime.dynamic_images.rank_pooling import (DIInputConfig, clip_dynamic_image, dynamic_image,
                                                  phase_dynamic_images, rate_normalise, to_network_input)


def _loop_di(frames: np.ndarray, reverse: bool) -> np.ndarray:
    """Equations 1-3 written out as a per-frame loop in float64."""
    num = frames.shape[0]
    total = np.zeros(frames.shape[1:], np.float64)
    for t in range(1, num + 1):
        weight = (num + 1 - 2 * t) if reverse else (2 * t - num - 1)
        total += weight * frames[t - 1].astype(np.float64)
    return total


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


@pytest.mark.parametrize("num_frames", [2, 3, 17, 120, 400])
@pytest.mark.parametrize("reverse", [False, True])
def test_dynamic_image_equals_loop(num_frames: int, reverse: bool) -> None:
    rng = np.random.default_rng(num_frames)
    # A bright static face-like background plus small motion: the hard case for float32.
    base = rng.integers(80, 200, (1, 24, 20, 3)).astype(np.float64)
    motion = rng.normal(0, 2, (num_frames, 24, 20, 3)).cumsum(axis=0)
    frames = np.clip(base + motion, 0, 255).astype(np.uint8)
    di = dynamic_image(frames, reverse=reverse)
    assert di.dtype == np.float32 and di.shape == (24, 20, 3)
    assert _rel_err(di, _loop_di(frames, reverse)) <= 1e-5


def test_torch_tensor_in_torch_tensor_out() -> None:
    frames = torch.randint(0, 255, (9, 8, 8, 1), dtype=torch.uint8)
    di = dynamic_image(frames)
    assert isinstance(di, torch.Tensor) and di.device == frames.device
    assert _rel_err(di.numpy(), _loop_di(frames.numpy(), False)) <= 1e-5


def test_phase_dynamic_images_use_inclusive_positions_and_reverse_weights() -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (30, 6, 6, 1)).astype(np.uint8)
    di_on, di_off = phase_dynamic_images(frames, onset=4, apex=12, offset=25)
    assert _rel_err(di_on, _loop_di(frames[4:13], False)) <= 1e-5
    assert _rel_err(di_off, _loop_di(frames[12:26], True)) <= 1e-5
    assert _rel_err(clip_dynamic_image(frames, 4, 25), _loop_di(frames[4:26], False)) <= 1e-5


def test_single_frame_phase_is_zero_and_maps_to_zero_input() -> None:
    """onset == apex (real CASME-II rows) gives T = 1, weight 0: a zero DI, a zero input."""
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 255, (10, 16, 16, 1)).astype(np.uint8)
    di_on, di_off = phase_dynamic_images(frames, onset=3, apex=3, offset=9)
    assert not di_on.any() and di_off.any()
    x = to_network_input(di_on, 1, DIInputConfig(size=8))
    assert x.shape == (1, 8, 8) and not x.any()


@pytest.mark.parametrize("bad", [(5, 3, 8), (-1, 2, 3), (0, 2, 10), (2, 9, 4)])
def test_bad_phases_are_refused_with_the_values(bad: tuple[int, int, int]) -> None:
    frames = np.zeros((10, 4, 4, 1), np.uint8)
    with pytest.raises(InputError, match="onset="):
        phase_dynamic_images(frames, *bad)


@pytest.mark.parametrize("num_frames", [2, 5, 31, 200])
def test_rate_normalise_makes_a_linear_ramp_independent_of_T(num_frames: int) -> None:
    amplitude = 12.0
    ramp = np.linspace(0, amplitude, num_frames)[:, None, None, None] * np.ones((1, 2, 2, 1))
    di = rate_normalise(dynamic_image(ramp.astype(np.float32)), num_frames)
    np.testing.assert_allclose(di, amplitude, rtol=1e-4)


def test_network_input_resizes_standardises_and_clips() -> None:
    rng = np.random.default_rng(3)
    di = rng.normal(0, 50, (64, 64, 1)).astype(np.float32)
    di[10, 10] = 1e5  # one outlier must be clipped, not dominate
    cfg = DIInputConfig(size=32, clip=4.0)
    x = to_network_input(di, 20, cfg)
    assert x.shape == (1, 32, 32) and x.dtype == np.float32
    assert np.abs(x).max() <= cfg.clip
    assert abs(float(x.mean())) < 0.2


def test_float_frames_are_not_modified() -> None:
    frames = np.random.default_rng(4).normal(100, 5, (12, 5, 5, 1)).astype(np.float32)
    before = frames.copy()
    dynamic_image(frames)
    dynamic_image(torch.from_numpy(frames), reverse=True)
    np.testing.assert_array_equal(frames, before)
