"""RigidStabiliser on the astronaut photo moved by known sub-pixel amounts, with landmark-like errors
added to the transforms it is given."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from realtime.core.errors import InputError
from realtime.face.aligner import AlignConfig, FaceAligner
from realtime.face.stabiliser import RigidStabiliser

SIZE = 224
FPS = 30


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut in grey and its still-photo transform (2, 3) image px -> crop px."""
    astronaut = skimage.data.astronaut()  # (512, 512, 3) RGB uint8
    with FaceAligner(AlignConfig(static_image_mode=True)) as aligner:
        transform = aligner.process(astronaut).transform
    return cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY), transform


def _moved(grey: np.ndarray, motion: np.ndarray, seed: int) -> list[np.ndarray]:
    """The photo moved by each (dx, dy) image px of `motion` (T, 2), with sensor noise (sigma 2)."""
    rng = np.random.default_rng(seed)
    frames = []
    for dx, dy in motion:
        moved = cv2.warpAffine(grey, np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]), grey.shape[::-1],
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frames.append(np.clip(moved + rng.normal(0.0, 2.0, grey.shape), 0, 255).astype(np.uint8))
    return frames


def _following(transform: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """(T, 2, 3) transforms that follow the photo's motion exactly."""
    out = np.repeat(transform[None], len(motion), axis=0)
    out[:, :, 2] -= motion @ transform[:, :2].T  # content at p + m must map where p did
    return out


def test_landmark_jitter_and_lag_are_taken_out(scene) -> None:
    """The transforms it is given jitter by 0.3 crop px and lag a head movement by up to 2 crop
    px; what it returns follows the photo to a few hundredths of a pixel."""
    grey, transform = scene
    rng = np.random.default_rng(0)
    frames = 60
    motion = np.zeros((frames, 2))  # image px: still, then a drift of 1.5 px/frame from frame 20 to 40
    motion[20:40, 0] = 1.5 * np.arange(1, 21)
    motion[40:, 0] = motion[39, 0]
    truth = _following(transform, motion)
    given = truth.copy()
    given[:, :, 2] += rng.normal(0.0, 0.3, (frames, 2))  # landmark jitter, crop px
    lag = np.zeros(frames)
    lag[20:24] = (1.0, 2.0, 2.0, 1.0)  # the mesh's lag when the head starts to move, crop px
    given[:, 0, 2] -= lag
    stabiliser = RigidStabiliser(crop_size=SIZE)
    out = np.stack([stabiliser(frame, t, 1 / FPS) for frame, t in zip(_moved(grey, motion, 1), given)])
    error = out[:, :, 2] - truth[:, :, 2]  # (T, 2) crop px: where the face sits off its true place
    steps = np.linalg.norm(np.diff(error, axis=0), axis=1)  # how much of that shows as motion
    given_steps = np.linalg.norm(np.diff(given[:, :, 2] - truth[:, :, 2], axis=0), axis=1)
    print(f"frame-to-frame motion of the misalignment, crop px: given mean {given_steps.mean():.3f} max "
          f"{given_steps.max():.3f}; returned mean {steps.mean():.3f} max {steps.max():.3f}")
    assert given_steps.mean() > 0.3 and given_steps.max() > 1.0
    assert steps.mean() < 0.1 * given_steps.mean() and steps.max() < 0.2, steps
    assert np.abs(error).max() < 0.5  # and it stays near where the landmarks put the face
    np.testing.assert_array_equal(out[:, :, :2], given[:, :, :2])  # scale and roll are left to the landmarks


def test_the_correction_is_bounded_and_pulled_back_to_the_landmarks(scene) -> None:
    grey, transform = scene
    frames = 4 * FPS
    still = _moved(grey, np.zeros((frames, 2)), 2)
    given = np.repeat(transform[None], frames, axis=0)
    given[10:, 0, 2] += 2.0  # the landmarks jump 2 crop px, the face does not
    given[60:, 0, 2] += 4.0  # then 6 px: more than the bound allows
    max_shift, pull_s, zone = 0.015, 1.0, 1.0  # zone in crop px
    for pull_zone in (0.0, zone / SIZE):
        stabiliser = RigidStabiliser(crop_size=SIZE, max_shift=max_shift, pull_s=pull_s, pull_zone=pull_zone)
        out = np.stack([stabiliser(frame, t, 1 / FPS) for frame, t in zip(still, given)])
        correction = out[:, 0, 2] - given[:, 0, 2]  # crop px
        assert abs(correction[10] + 2.0) < 0.1  # the pixels hold the face where it was
        # pulled back towards the landmarks, the part beyond the zone: exp(-1) of it after pull_s
        beyond = pull_zone * SIZE
        assert 0.25 < (correction[40] + beyond) / (correction[10] + beyond) < 0.5
        assert np.all(np.abs(correction) <= max_shift * SIZE + 1e-9)
        assert correction[60] < -0.95 * max_shift * SIZE  # at the bound, not past it
        assert -beyond - 0.3 * (max_shift * SIZE - beyond) < correction[-1] <= -beyond + 0.1  # 2 s later

    stabiliser.reset()  # forgets the correction: the landmarks' transform comes back unchanged
    np.testing.assert_array_equal(stabiliser(still[0], given[-1], 1 / FPS), given[-1])


def test_bad_settings_raise_input_error() -> None:
    for bad in ({"size": 8}, {"size": 300}, {"pull_s": 0.0}, {"pull_zone": -0.1}, {"reference_s": -1.0},
                {"max_shift": 0.0}):
        with pytest.raises(InputError):
            RigidStabiliser(crop_size=SIZE, **bad)
