"""Facial motion: cells, 50 Hz sampling at any camera rate, head motion removed, local motion kept."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from realtime.core.errors import InputError
from realtime.face.aligner import AlignConfig, FaceAligner
from realtime.face.regions import REGIONS
from realtime.spotting.motion import CellGrid, FacialMotion, MotionConfig, median, row_norms

SIZE = 224


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """The astronaut's face aligned by the real aligner: (224, 224) grey uint8."""
    with FaceAligner(AlignConfig(size=SIZE, static_image_mode=True)) as aligner:
        aligned = aligner.process(skimage.data.astronaut())
    assert aligned.found and aligned.crop is not None
    return aligned.crop


def bump(image: np.ndarray, centre: tuple[float, float], shift: tuple[float, float], sigma: float = 12.0) -> np.ndarray:
    """Move the content around `centre` by `shift` px (Gaussian fall-off), like an action unit."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    g = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2))
    return cv2.remap(image, xs - shift[0] * g, ys - shift[1] * g, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def noisy(image: np.ndarray, rng: np.random.Generator, sigma: float = 1.0) -> np.ndarray:
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def test_cells_cover_the_face_with_eye_cells_on_both_eyes() -> None:
    grid = CellGrid.build(SIZE, MotionConfig())
    assert 40 <= len(grid.regions) <= MotionConfig().cells ** 2
    assert set(grid.region_names) <= set(REGIONS)
    assert {"brow_left", "brow_right", "mouth", "eye_left", "eye_right"} <= set(grid.region_names)
    eyes_x = grid.centres[grid.eye, 0]
    assert (eyes_x < SIZE / 2).any() and (eyes_x > SIZE / 2).any()
    assert grid.centres.min() >= 0 and grid.centres.max() <= SIZE


@pytest.mark.parametrize(("fps", "every"), [(24.0, 1), (30.0, 1), (100.0, 2), (200.0, 4)])
def test_flow_runs_at_about_50_hz_whatever_the_rate(face: np.ndarray, fps: float, every: int) -> None:
    motion = FacialMotion(crop_size=SIZE)
    sampled = [motion.process(face, t_s=i / fps, index=i).sampled for i in range(int(fps))]
    assert np.flatnonzero(sampled).tolist() == list(range(every, int(fps), every))


def test_variable_rate_keeps_steps_near_20_ms(face: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(0.003, 0.008, 400))  # a jittery ~180 fps camera
    motion = FacialMotion(crop_size=SIZE)
    steps = np.diff([t for i, t in enumerate(times) if motion.process(face, t_s=t, index=i).sampled])
    assert 0.016 < steps.min() and steps.max() < 0.028 and abs(steps.mean() - 0.02) < 0.003


def test_head_motion_is_removed_and_reported(face: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    motion = FacialMotion(crop_size=SIZE)
    motion.process(noisy(face, rng), t_s=0.0, index=0)
    pose = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), 0.5, 1.005) + [[0, 0, 0.6], [0, 0, -0.4]]
    moved = cv2.warpAffine(face, pose, (SIZE, SIZE), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    out = motion.process(noisy(moved, rng), t_s=0.02, index=1)
    assert out.sampled and out.cells is not None
    assert out.head > 0.5  # crop px: the similarity moved the face by ~0.7 px on average
    assert np.percentile(np.linalg.norm(out.cells, axis=1), 90) < 0.3 * out.head  # what is left is not motion


def test_local_movement_is_measured_where_it_happens(face: np.ndarray) -> None:
    """An inner-brow raise of 1 px shows on the brow cells at about its size, and nowhere else."""
    rng = np.random.default_rng(2)
    grid = CellGrid.build(SIZE, MotionConfig())
    brow = grid.centres[[r == "brow_right" for r in grid.regions]].mean(axis=0)
    motion = FacialMotion(crop_size=SIZE)
    motion.process(noisy(face, rng), t_s=0.0, index=0)
    out = motion.process(noisy(bump(face, tuple(brow), (0.0, -1.0)), rng), t_s=0.02, index=1)
    near = np.linalg.norm(grid.centres - brow, axis=1) < 12
    far = np.linalg.norm(grid.centres - brow, axis=1) > 60
    assert -1.3 < out.cells[near, 1].mean() < -0.5  # upwards, crop px
    assert np.abs(out.cells[far]).max() < 0.2
    assert max(out.regions, key=out.regions.get) == "brow_right"
    assert out.regions["brow_right"] > 20  # px/s: 1 px in 20 ms is 50 px/s


def test_no_flow_across_a_lost_face(face: np.ndarray) -> None:
    motion = FacialMotion(crop_size=SIZE)
    frames = [motion.process(face, t_s=0.0, index=0), motion.process(None, t_s=0.04, index=1, found=False),
              motion.process(face, t_s=0.08, index=2), motion.process(face, t_s=0.12, index=3)]
    assert [f.found for f in frames] == [True, False, True, True]
    assert [f.sampled for f in frames] == [False, False, False, True]  # the face's return starts a new chain


def test_wrong_crop_is_refused(face: np.ndarray) -> None:
    motion = FacialMotion(crop_size=SIZE)
    with pytest.raises(InputError, match="grey uint8 crop"):
        motion.process(face[:100], t_s=0.0, index=0)
    with pytest.raises(InputError, match="multiple of cells"):
        MotionConfig(flow_size=100, cells=12)


@pytest.mark.parametrize("n", [61, 60, 1, 2])
def test_fast_norms_and_median_equal_numpys_to_the_bit(n: int) -> None:
    """The fit's shortcuts must not change a single spotting decision: same bits as numpy's own."""
    rng = np.random.default_rng(n)
    for dtype in (np.float64, np.float32):
        v = rng.normal(0, 1.5, (n, 2)).astype(dtype)
        assert np.array_equal(row_norms(v), np.linalg.norm(v, axis=1))
        r = np.abs(rng.normal(0, 1, n))
        assert median(r) == np.median(r)
        r[n // 2] = np.nan
        assert np.isnan(median(r)) and np.isnan(np.median(r))
