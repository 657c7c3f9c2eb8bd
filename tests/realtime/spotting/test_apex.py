"""Apex locator: the peak of facial motion of a synthetic clip whose peak is known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.data import astronaut

from realtime.core.errors import InputError
from realtime.spotting.apex import apex_from_motion, locate_apex, motion_from_onset


def synthetic_clip(num_frames: int, peak: int, *, amplitude: float = 2.5, drift: float = 0.0,
                   seed: int = 0) -> np.ndarray:
    """(T, 128, 128) grey uint8: a face whose mouth-cheek area moves up to `amplitude` px at `peak`,
    with sensor noise, a global brightness drift and a head drift of `drift` px/frame (not the apex)."""
    face = cv2.cvtColor(astronaut()[30:230, 150:350], cv2.COLOR_RGB2GRAY)
    face = cv2.resize(face, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32)
    ys, xs = np.mgrid[0:128, 0:128].astype(np.float32)
    region = np.exp(-((xs - 64) ** 2 + (ys - 95) ** 2) / (2 * 14.0 ** 2))  # where the AU acts
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(num_frames):
        rise = t / peak if t <= peak else max(0.0, 1 - (t - peak) / (0.8 * (num_frames - peak)))
        shift = amplitude * np.sin(0.5 * np.pi * rise) * region
        moved = cv2.remap(face, xs - drift * t, ys - shift - 0.5 * drift * t, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
        moved += 0.15 * t + rng.normal(0, 2.0, moved.shape)
        frames.append(np.clip(moved, 0, 255).astype(np.uint8))
    return np.stack(frames)


@pytest.mark.parametrize(("num_frames", "peak"), [(40, 17), (61, 40), (25, 5)])
def test_locate_apex_finds_the_known_peak(num_frames: int, peak: int) -> None:
    frames = synthetic_clip(num_frames, peak)
    assert abs(locate_apex(frames, 0, num_frames - 1) - peak) <= 1


def test_head_drift_does_not_pull_the_apex_to_the_offset() -> None:
    frames = synthetic_clip(60, 24, amplitude=1.5, drift=0.05)  # 3 px of head drift over the clip
    whole_face = np.abs(frames.astype(np.float32) - frames[0]).mean(axis=(1, 2))
    assert int(np.argmax(whole_face)) >= 55  # the naive measure sees the drift, not the expression
    assert abs(locate_apex(frames, 0, 59) - 24) <= 2


def test_locate_apex_inside_a_window_and_on_colour_frames() -> None:
    frames = synthetic_clip(50, 30)
    padded = np.concatenate([frames[:1].repeat(8, axis=0), frames, frames[-1:].repeat(8, axis=0)])
    assert abs(locate_apex(padded, 8, 57) - 38) <= 1  # a position in the whole list
    colour = np.repeat(frames[..., None], 3, axis=3)  # (T, H, W, 3)
    assert abs(locate_apex(colour, 0, 49) - 30) <= 1
    with pytest.raises(InputError, match="0 <= onset <= offset < T"):
        locate_apex(frames, 10, 50)


def test_light_changes_alone_are_not_motion() -> None:
    still = np.repeat(synthetic_clip(1, 1, amplitude=0)[:1].astype(np.float32), 20, axis=0)  # (20, 128, 128)
    steps = np.arange(20, dtype=np.float32)[:, None, None]
    drifting = still * (1 + 0.02 * steps) + 3 * steps  # gain +2% and offset +3 grey levels per frame
    motion = motion_from_onset(drifting)
    assert motion.shape == (20, 64) and motion.max() < 1e-2  # (T, blocks): 8 x 8 blocks of 8 px at 64 px
    moved = drifting.copy()
    moved[10, 90:110, 50:80] += 10
    assert motion_from_onset(moved)[10].max() > 5


def test_apex_from_motion_curves() -> None:
    assert apex_from_motion(np.array([0, 1, 3, 6, 4, 2, 1.0])) == 3
    assert apex_from_motion(np.array([0, 1, 2, 5, 3, 1, 0.0])) == 3  # a sharp true peak survives the median
    # a one-frame spike loses to a broader peak once smoothed
    assert apex_from_motion(np.array([0, 1, 2, 3, 3.5, 3, 2, 1, 9, 1, 0.0])) == 4
    assert apex_from_motion(np.zeros(9)) == 4  # flat: the middle, both phases non-empty
    assert apex_from_motion(np.array([0.0])) == 0
    assert apex_from_motion(np.array([0.0, 2.0])) == 1
    with pytest.raises(InputError, match="NaN"):
        apex_from_motion(np.array([0, np.nan, 1.0]))
    with pytest.raises(InputError, match="non-empty"):
        apex_from_motion(np.zeros((0,)))
