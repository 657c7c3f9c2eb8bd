"""Synthetic micro-expressions through the real pipeline: MediaPipe alignment, then dynamic images.

These check the synthetic data and the aligner together, on the path training and inference
use (`align_frames` in stream mode, grey crops, `phase_dynamic_images`, `to_network_input`).
"""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from realtime.dynamic_images.rank_pooling import DIInputConfig, phase_dynamic_images
from realtime.dynamic_images.representations import build_all, network_input
from realtime.face.aligner import AlignConfig, align_frames
from realtime.face.mesh import FaceMesh
from realtime.face.regions import REGION_MARGIN, REGIONS
from training.datasets import Clip, load_dataset
from training.synth import (
    HeadDrift,
    Scene,
    Timing,
    action_unit_regions,
    expression_warp,
    load_photos,
    make_dataset,
    make_scene,
    render_clip,
)

EXTRA_MARGIN = 0.02
"""Dilation of the AU regions beyond face_regions' own REGION_MARGIN, as a fraction of the crop
side (4.5 px at 224; 9 px in all): the skin a movement drags reaches a little past the hull of
the landmarks that name the region."""

FPS = 200  # CASME-II's rate


@pytest.fixture(scope="module")
def aligned_clips(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Clip, np.ndarray, list]]:
    """A 2-subject synthetic CASME-II at 200 fps read back by the reader and aligned clip by clip."""
    root = tmp_path_factory.mktemp("synth") / "casme2"
    make_dataset(root, subjects=2, clips_per_class=1, fps=FPS, seed=21)
    index = load_dataset("casme2", root, min_clips_per_class=1)
    out = []
    for clip in index.clips:
        frames = [cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB) for path in clip.frames]
        crops, faces = align_frames(frames, AlignConfig(), times=[i / FPS for i in range(len(frames))])
        out.append((clip, crops, faces))
    return out


@pytest.fixture(scope="module")
def scene() -> Scene:
    """One synthetic subject with room around the face for 2 px/frame of head drift."""
    with FaceMesh(static_image_mode=True) as mesh:
        photo = load_photos(None, mesh)[0]
        return make_scene(photo, size=(448, 448), face_width=170, rng=np.random.default_rng(4), mesh=mesh)


def region_mask(landmarks: np.ndarray, regions: tuple[str, ...], size: int) -> np.ndarray:
    """Boolean (size, size) union of the regions' landmark hulls in this face's own crop, dilated."""
    mask = np.zeros((size, size), np.uint8)
    for name in regions:
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(landmarks[list(REGIONS[name])]).astype(np.int32)), 1)
    radius = round((REGION_MARGIN + EXTRA_MARGIN) * size)
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)).astype(bool)


def onset_di(crops: np.ndarray, onset: int, apex: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """(DI-Onset, DI-Offset) of (T, S, S) grey crops, each (S, S) float32."""
    di_onset, di_offset = phase_dynamic_images(crops[..., None].astype(np.float32), onset, apex, offset)
    return di_onset[..., 0], di_offset[..., 0]


def test_mediapipe_finds_the_face_in_every_frame(aligned_clips) -> None:
    assert len(aligned_clips) == 10
    for clip, crops, faces in aligned_clips:
        lost = sum(not face.found for face in faces)
        assert lost == 0, f"{clip.key}: face lost in {lost} of {len(faces)} frames"
        assert min(face.confidence for face in faces) > 0.5


def test_di_onset_energy_lies_in_the_action_units_regions(aligned_clips) -> None:
    fractions = {}
    for clip, crops, faces in aligned_clips:
        at = clip.positions
        di, _ = onset_di(crops, at.onset, at.apex, at.offset)
        mask = region_mask(faces[at.onset].landmarks, action_unit_regions(clip.action_units), crops.shape[1])
        energy = di.astype(np.float64) ** 2
        fractions[f"{clip.key} AU{clip.action_units}"] = float(energy[mask].sum() / energy.sum())
    assert min(fractions.values()) >= 0.7, "; ".join(f"{k}: {v:.2f}" for k, v in fractions.items())


def test_same_movement_at_30_90_200_fps_gives_the_same_network_input(scene: Scene) -> None:
    """DIANet's DI pair, AFN's MI-DI and MESTI: the engine of a 50 fps release runs on 30 fps video.
    (TR-DI is left out: on a movement that goes out and back it nearly cancels, leaving noise.)"""
    warp = expression_warp(scene, "6+12", scene.px(2.5), np.random.default_rng(1))
    timing = Timing(onset_s=0.0, apex_s=0.18, offset_s=0.4, hold_s=0.04)
    names = ("di_onset", "di_offset", "di_mi", "mesti")
    inputs = {}
    for fps in (30, 90, 200):
        frames, onset, apex, offset = render_clip(scene, warp, timing, fps=fps, noise_sigma=0.5,
                                                  rng=np.random.default_rng(fps), lead=8, tail=8)
        crops, _ = align_frames(list(frames), AlignConfig(), times=[i / fps for i in range(len(frames))])
        raws = build_all(names, crops, onset, apex, offset)
        inputs[fps] = {name: network_input(name, *raws[name], DIInputConfig()).ravel() for name in names}
    for fps in (30, 90):
        for name in names:
            a, b = inputs[fps][name], inputs[200][name]
            assert np.corrcoef(a, b)[0, 1] >= 0.9, (fps, name)
            assert 0.8 <= np.linalg.norm(a) / np.linalg.norm(b) <= 1.25, (fps, name)


def test_head_drift_keeps_the_motion_energy(scene: Scene) -> None:
    """2 px/frame of head drift (at 30 fps, at a 30 degree angle so that shifts are never whole
    pixels) changes the DI energy of the aligned crops by at most 15 %."""
    fps = 30
    warp = expression_warp(scene, "6+12", scene.px(2.5), np.random.default_rng(1))
    timing = Timing(onset_s=0.0, apex_s=0.2, offset_s=0.4, hold_s=0.04)
    speed = 2.0 * fps * np.array([np.cos(np.pi / 6), np.sin(np.pi / 6)])  # px/s
    energies = []
    for drift in (HeadDrift(), HeadDrift(tx=-0.35 * speed[0], ty=-0.35 * speed[1], vx=speed[0], vy=speed[1])):
        frames, onset, apex, offset = render_clip(scene, warp, timing, fps=fps, drift=drift, noise_sigma=1.0,
                                                  rng=np.random.default_rng(3), lead=8, tail=8)
        crops, faces = align_frames(list(frames), AlignConfig(), times=[i / fps for i in range(len(frames))])
        assert all(face.found for face in faces)
        di, _ = onset_di(crops, onset, apex, offset)
        energies.append(float((di.astype(np.float64) ** 2).sum()))
    still, drifting = energies
    assert abs(drifting / still - 1) <= 0.15, f"DI energy {still:.3g} still, {drifting:.3g} drifting"
