from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from realtime.core.errors import InputError
from realtime.core.interval import Interval
from training.augment import AugmentConfig, dual_phase_applies, jitter_phases, spatial_augment


def _bar(size: int = 48) -> torch.Tensor:
    """A horizontal bar through the centre: (1, 1, S, S), orientation 0 degrees."""
    image = torch.zeros(1, 1, size, size)
    image[0, 0, size // 2 - 2:size // 2 + 2, 6:-6] = 1.0
    return image


def _orientation_deg(image: torch.Tensor) -> float:
    """Principal-axis angle of a (S, S) intensity image from its second moments."""
    w = image.clamp(min=0).numpy()
    ys, xs = np.mgrid[0:w.shape[0], 0:w.shape[1]]
    m = w.sum()
    cx, cy = (w * xs).sum() / m, (w * ys).sum() / m
    mu20, mu02, mu11 = (w * (xs - cx) ** 2).sum(), (w * (ys - cy) ** 2).sum(), (w * (xs - cx) * (ys - cy)).sum()
    return math.degrees(0.5 * math.atan2(2 * mu11, mu20 - mu02))


def test_both_images_of_a_pair_get_the_same_transform() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 1, 32, 32)
    a, b = spatial_augment((x, x.clone()), AugmentConfig(), g)
    assert torch.equal(a, b)
    assert not torch.allclose(a, x)  # something happened


def test_flip_only_mirrors_about_half_of_the_samples() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 1, 16, 16)
    (y,) = spatial_augment((x,), AugmentConfig(flip=True, max_rotation_deg=0.0), g)
    same = [torch.allclose(y[i], x[i], atol=1e-5) for i in range(64)]
    mirrored = [torch.allclose(y[i], x[i].flip(-1), atol=1e-5) for i in range(64)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 16 <= sum(mirrored) <= 48


def test_rotation_stays_within_the_configured_angle_and_uses_it() -> None:
    g = torch.Generator().manual_seed(2)
    bars = _bar().repeat(200, 1, 1, 1)
    (rotated,) = spatial_augment((bars,), AugmentConfig(flip=False, max_rotation_deg=10.0), g)
    angles = np.array([_orientation_deg(rotated[i, 0]) for i in range(200)])
    assert np.abs(angles).max() <= 10.5
    assert np.abs(angles).max() >= 8.0  # the range is really used
    assert abs(angles.mean()) < 2.0


def test_seeded_draws_repeat() -> None:
    x = torch.randn(8, 1, 16, 16)
    first = spatial_augment((x,), AugmentConfig(), torch.Generator().manual_seed(5))[0]
    again = spatial_augment((x,), AugmentConfig(), torch.Generator().manual_seed(5))[0]
    assert torch.equal(first, again)


def test_jitter_keeps_phases_ordered_in_range_and_within_the_shift() -> None:
    rng = np.random.default_rng(0)
    config = AugmentConfig(jitter_fraction=0.2)
    onset, apex, offset, T = 10, 30, 60, 80
    limit = int(0.2 * (offset - onset + 1))  # 10 frames
    seen = set()
    for _ in range(2000):
        j = jitter_phases(Interval(onset, apex, offset), T, rng, config=config, fps=None)
        o, a, f = j.onset, j.apex, j.offset
        assert 0 <= o <= a <= f < T
        assert abs(o - onset) <= limit and abs(a - apex) <= limit and abs(f - offset) <= limit
        seen.add(o - onset)
    assert min(seen) == -limit and max(seen) == limit


def test_jitter_clamps_at_the_clip_ends_and_can_be_off() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        j = jitter_phases(Interval(0, 0, 4), 5, rng, config=AugmentConfig(jitter_fraction=0.5), fps=None)
        assert 0 <= j.onset <= j.apex <= j.offset <= 4
    off = AugmentConfig(jitter_fraction=0.0)
    assert not off.jitters
    assert jitter_phases(Interval(3, 5, 9), 12, rng, config=off, fps=None) == Interval(3, 5, 9)


def test_jitter_ms_uses_the_frame_rate() -> None:
    rng = np.random.default_rng(2)
    config = AugmentConfig(jitter_fraction=0.0, jitter_ms=50.0)  # 10 frames at 200 fps
    phases = Interval(50, 60, 70)
    shifts = {jitter_phases(phases, 200, rng, config=config, fps=200.0).offset - 70 for _ in range(3000)}
    assert max(shifts) == 10 and min(shifts) == -10
    with pytest.raises(InputError, match="frame rate"):
        jitter_phases(Interval(50, 60, 70), 200, rng, config=config, fps=None)


def test_dual_phase_is_for_the_single_stream_whole_clip_model_only() -> None:
    assert dual_phase_applies("clip")
    assert not any(dual_phase_applies(x) for x in ("phases", "clip_both", "onset", "offset"))


def test_bad_config_is_refused() -> None:
    with pytest.raises(InputError, match="jitter_fraction"):
        AugmentConfig(jitter_fraction=1.5)
