"""The magnified replay: a mer-synth movement of known displacement d moves 10-20x d in it, still
skin stays still (< 0.5 px), and the H.264 file reads back with the frames and rate promised."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.capture.video_io import VideoInfo, read_video
from realtime.face.aligner import AlignConfig, FaceAligner
from realtime.face.mesh import FaceMesh
from realtime.sinks.replay import LABEL_BAND_PX, ReplayConfig, magnify, moved_regions, write_replay
from training.synth import FaceRenderer, expression_warp, load_photos, make_scene

CROP = 224
FPS = 30.0


_HALF, _SEARCH = 10, 40  # template half-side and search reach, px


def _displacement(before: np.ndarray, after: np.ndarray, y: int, x: int) -> float:
    """How far the 21 px patch around (x, y) of `before` moved in `after` (template matching:
    unlike a flow estimator it does not shrink a 15-45 px movement towards its neighbours')."""
    patch = before[y - _HALF:y + _HALF + 1, x - _HALF:x + _HALF + 1]
    area = after[y - _HALF - _SEARCH:y + _HALF + _SEARCH + 1, x - _HALF - _SEARCH:x + _HALF + _SEARCH + 1]
    _, _, _, (bx, by) = cv2.minMaxLoc(cv2.matchTemplate(area, patch, cv2.TM_CCOEFF_NORMED))
    return float(np.hypot(bx - _SEARCH, by - _SEARCH))


@pytest.fixture(scope="module")
def synth_clip() -> tuple[np.ndarray, np.ndarray, int]:
    """Aligned grey face crops (FaceAligner's transform on the neutral frame, held: a still head)
    of a mer-synth lip-corner pull (AU 12) rising to its apex and back, with sensor noise, and the
    true apex displacement (crop px) at every crop pixel."""
    with FaceMesh(static_image_mode=True) as mesh:
        photo = load_photos(None, mesh)[0]
        scene = make_scene(photo, size=(320, 320), face_width=200, rng=np.random.default_rng(0), mesh=mesh)
    rng = np.random.default_rng(1)
    warp = expression_warp(scene, "12", scene.px(2.0), rng)
    renderer = FaceRenderer(scene, noise_sigma=2.0, rng=rng)
    strengths = np.concatenate([np.zeros(6), np.sin(np.linspace(0, np.pi, 13)), np.zeros(6)])  # apex at 12
    frames = [renderer(warps=[(float(s), warp)]) for s in strengths]
    with FaceAligner(AlignConfig(size=CROP)) as aligner:
        transform = aligner.process(frames[0], 0.0).transform  # (2, 3) frame px -> crop px
    clip = np.stack([cv2.warpAffine(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), transform, (CROP, CROP),
                                    flags=cv2.INTER_LINEAR) for f in frames])
    field = np.zeros((320, 320), np.float32)
    h, w = warp.field.shape[:2]
    field[warp.y0:warp.y0 + h, warp.x0:warp.x0 + w] = np.linalg.norm(warp.field, axis=2)
    scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2]))))
    return clip, cv2.warpAffine(field, transform, (CROP, CROP), flags=cv2.INTER_LINEAR) * scale, int(np.argmax(strengths))


def test_replay_magnifies_known_motion_10_to_20x_and_keeps_still_skin_still(
        synth_clip: tuple[np.ndarray, np.ndarray, int], tmp_path: Path) -> None:
    clip, true_d, apex = synth_clip
    path = write_replay(tmp_path / "replay.mp4", clip, FPS)
    info = VideoInfo.from_video_path(path)
    assert info.fps == pytest.approx(FPS * ReplayConfig().speed, rel=0.01)
    frames = [cv2.cvtColor(f.image, cv2.COLOR_RGB2GRAY) for f in read_video(path)]  # decoded, as a browser sees it
    assert len(frames) == len(clip)
    magnified = [f[LABEL_BAND_PX:, CROP:2 * CROP] for f in frames]
    d = float(true_d.max())
    assert 1.0 < d < 3.5  # a micro-expression's displacement, in crop px
    ratios = [_displacement(magnified[0], magnified[apex], y, x) / true_d[y, x]
              for y, x in zip(*np.nonzero(true_d > 0.8 * d))
              if _SEARCH + _HALF <= min(y, x) and max(y, x) < CROP - _SEARCH - _HALF]
    assert len(ratios) > 50
    assert 10.0 <= float(np.median(ratios)) <= 20.0, np.median(ratios)
    # Still skin: far (> 40 px) from any true motion, inside the crop's middle (the face).
    still = cv2.dilate((true_d > 0.02).astype(np.uint8), np.ones((81, 81), np.uint8)) == 0
    still[:40], still[-40:], still[:, :40], still[:, -40:] = False, False, False, False
    assert still.sum() > 2000
    flow = cv2.calcOpticalFlowFarneback(magnified[0], magnified[apex], None, 0.5, 3, 15, 3, 5, 1.2, 0)
    assert float(np.percentile(np.linalg.norm(flow, axis=2)[still], 95)) < 0.5


def test_only_the_regions_that_moved_are_outlined(synth_clip: tuple[np.ndarray, np.ndarray, int]) -> None:
    clip, true_d, _ = synth_clip
    masks = moved_regions(magnify(clip, FPS)[1])
    outlined = np.any(list(masks.values()), axis=0)
    moving = true_d > 0.5 * true_d.max()
    assert outlined[moving].mean() > 0.5  # the outlines are where the face moved
    assert outlined.mean() < 0.3 and not set(masks) & {"brow_left", "brow_right", "forehead"}, sorted(masks)
