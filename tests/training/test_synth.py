"""mer-synth: movements are sub-pixel exact, identities differ, the dataset reads back through the
CASME-II reader, and the interview video decodes with consistent ground truth."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest
from typer.testing import CliRunner

from realtime.capture.video_io import VideoInfo, read_video
from realtime.core.errors import InputError
from realtime.core.interval import Interval
from realtime.dynamic_images.rank_pooling import phase_dynamic_images
from realtime.face.aligner import AlignConfig, FaceAligner
from realtime.face.mesh import FaceMesh
from realtime.face.regions import REGION_MARGIN, REGIONS
from training.cli.synth import app
from training.datasets import load_dataset
from training.synth import (
    ACTION_UNITS,
    CLASSES,
    GROUNDTRUTH_COLUMNS,
    EMOTIONS,
    FaceRenderer,
    HeadDrift,
    Photo,
    Scene,
    action_unit_regions,
    blink,
    expression_warp,
    load_photos,
    make_scene,
    make_video,
    render_clip,
)
from training.synth.actions import Timing, draw_timing
from training.synth.dataset import SHEET_COLUMNS, SHEET_NAME, draw_drift
from training.synth.render import rbf_displacement, rbf_warp
from support.shared_data import SHARED_DATA

SHARED_DATA = SHARED_DATA
REAL_SHEET = SHARED_DATA / "annotations" / "CASME2-coding-20190701.xlsx"


@pytest.fixture(scope="module")
def photo() -> Photo:
    with FaceMesh(static_image_mode=True) as mesh:
        return load_photos(None, mesh)[0]


@pytest.fixture(scope="module")
def synth_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mer-synth dataset` as a user runs it: 2 subjects x 5 classes at 100 fps."""
    root = tmp_path_factory.mktemp("synth") / "casme2"
    result = CliRunner().invoke(app, ["dataset", "--out", str(root), "--subjects", "2", "--clips-per-class", "1",
                                      "--fps", "100", "--seed", "3"])
    assert result.exit_code == 0, result.output
    return root


def test_warp_moves_content_by_the_field_to_a_fiftieth_of_a_pixel() -> None:
    """A bright dot at p must land at p + field(p): the remap samples through the exact inverse
    (to OpenCV's map precision, 1/64 px after the 2x up-sampling)."""
    size = 96
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    dot = (40.3, 51.7)
    image = 40 + 180 * np.exp(-((xs - dot[0]) ** 2 + (ys - dot[1]) ** 2) / (2 * 2.5 ** 2))
    scene = Scene(image=np.repeat(image[:, :, None], 3, axis=2).round().astype(np.uint8),
                  landmarks=np.zeros((468, 2), np.float32), name="dot")
    # A wide field (nearly uniform over the dot, so that the dot's centroid moves as its centre does).
    centre, move = np.array([[42.0, 50.0]]), np.array([[1.3, -0.8]])
    warp = rbf_warp(centre, move, sigma=40.0, shape=(size, size))
    expected = rbf_displacement(centre, move, 40.0, np.array([dot]))[0]
    renderer = FaceRenderer(scene, noise_sigma=0.0, rng=np.random.default_rng(0))

    def centroid(frame: np.ndarray) -> np.ndarray:
        weight = frame[:, :, 0].astype(np.float64) - 40  # the background is 40 exactly
        return np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()

    still, moved = centroid(renderer()), centroid(renderer(warps=[(1.0, warp)]))
    half = centroid(renderer(warps=[(0.5, warp)]))
    assert np.abs((moved - still) - expected).max() < 0.02
    assert np.abs((half - still) - expected / 2).max() < 0.02


def test_expression_amplitude_and_profile(photo) -> None:
    with FaceMesh(static_image_mode=True) as mesh:
        scene = make_scene(photo, size=(320, 320), face_width=160, rng=np.random.default_rng(0), mesh=mesh)
    for emotion in CLASSES:
        for aus in set(EMOTIONS[emotion]):
            warp = expression_warp(scene, aus, 2.0, np.random.default_rng(1))
            assert warp.reach == pytest.approx(2.0, rel=1e-5), aus  # largest movement = amplitude
            assert set(action_unit_regions(aus)) <= {"brow_left", "brow_right", "eye_left", "eye_right", "nose",
                                                     "mouth", "cheek_left", "cheek_right", "chin", "forehead"}
    for kind, (low, high) in {"micro": (0.2, 0.5), "macro": (1.0, 3.0), "blink": (0.15, 0.4)}.items():
        for seed in range(20):
            timing = draw_timing(np.random.default_rng(seed), kind)
            assert low <= timing.offset_s <= high
            t = np.linspace(0, timing.offset_s, 400)
            profile = timing.profile(t)
            assert profile[0] == 0 and profile[-1] == pytest.approx(0, abs=1e-9)
            assert profile.max() == pytest.approx(1) and timing.profile(timing.apex_s) == pytest.approx(1)
            assert np.abs(np.diff(profile, 2)).max() < 1e-3  # smooth: no kinks
    with pytest.raises(InputError, match="AU99"):
        expression_warp(scene, "6+99", 2.0, np.random.default_rng(0))
    assert ACTION_UNITS[12].regions[0] == "mouth"
    assert Timing(0, 0.1, 0.3).profile(0.05) == pytest.approx(0.5)  # min-jerk is symmetric about its middle


def test_a_blink_hides_the_eyes_smoothly(photo: Photo) -> None:
    with FaceMesh(static_image_mode=True) as mesh:
        scene = make_scene(photo, size=(640, 480), face_width=250, rng=np.random.default_rng(1), mesh=mesh)
    renderer = FaceRenderer(scene, noise_sigma=0.0, rng=np.random.default_rng(0))
    closing = blink(scene, 1.0)
    eye = np.zeros(scene.image.shape[:2], np.uint8)  # the open eye's aperture, right eye
    cv2.fillPoly(eye, [np.round(scene.landmarks[[33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145,
                                                 144, 163, 7]]).astype(np.int32)], 1)
    eye = eye.astype(bool)

    def contrast(strength: float) -> float:  # white sclera and dark iris give way to the lid's skin
        return float(renderer(warps=[(strength, closing)]).mean(axis=2)[eye].std())

    spread = [contrast(k) for k in (0.0, 0.5, 1.0)]  # measured 37, 29, 21 grey levels
    assert spread[0] > spread[1] > spread[2] and spread[2] < 0.65 * spread[0], spread
    still, nudged = renderer(warps=[(0.5, closing)]), renderer(warps=[(0.5 + 1e-3, closing)])
    assert 0 < np.abs(still.astype(float) - nudged).max() < 8  # sub-pixel lid steps, no jumps


def test_identities_differ_and_repeat(photo) -> None:
    with FaceMesh(static_image_mode=True) as mesh:
        scenes = [make_scene(photo, size=(320, 320), face_width=160, rng=np.random.default_rng(seed), mesh=mesh)
                  for seed in (0, 1, 2, 0)]
        redetected = mesh.process(FaceRenderer(scenes[0], noise_sigma=2.0, rng=np.random.default_rng(0))())
    assert np.array_equal(scenes[0].image, scenes[3].image)  # deterministic per seed

    def shape(landmarks: np.ndarray) -> np.ndarray:  # position, roll and size removed; unit: face width
        lm = landmarks.astype(np.float64) - landmarks[[33, 263, 1, 152]].mean(axis=0)
        eyes = lm[263] - lm[33]
        angle = np.arctan2(eyes[1], eyes[0])
        lm = lm @ np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]).T
        return lm / np.linalg.norm(lm[454] - lm[234])

    def distance(a: np.ndarray, b: np.ndarray) -> float:  # mean landmark distance
        return float(np.linalg.norm(shape(a) - shape(b), axis=1).mean())

    jitter = distance(scenes[0].landmarks, redetected)  # MediaPipe's own noise on one identity
    for a in range(3):
        for b in range(a + 1, 3):
            grey_a, grey_b = (scenes[i].image.astype(np.float64).mean(axis=2) for i in (a, b))
            assert np.abs(grey_a - grey_b).mean() > 8  # tone, light, placement
            assert distance(scenes[a].landmarks, scenes[b].landmarks) > max(0.01, 3 * jitter)  # face shape


def _exact_crops(scene: Scene, frames: np.ndarray, drift: HeadDrift, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Grey 224 px crops that follow the rendered head pose exactly, and the face's crop landmarks:
    the synthetic data judged without the tracker's errors."""
    with FaceAligner(AlignConfig(static_image_mode=True)) as aligner:
        neutral = aligner.process(scene.image)
    to_crop = np.vstack([neutral.transform, [0, 0, 1]])
    crops = []
    for k, frame in enumerate(frames):
        to_scene = np.linalg.inv(np.vstack([drift.pose(scene.face_center, k / fps), [0, 0, 1]]))
        crops.append(cv2.warpAffine(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (to_crop @ to_scene)[:2], (224, 224),
                                    flags=cv2.INTER_LINEAR))
    return np.stack(crops), neutral.landmarks


def test_movement_energy_lies_in_its_regions_under_exact_alignment(photo) -> None:
    """Each class's movement, as the dataset draws it (noise, slow drift, light change), puts >= 80 %
    of its DI-Onset energy inside its AU regions when the crops follow the head exactly."""
    with FaceMesh(static_image_mode=True) as mesh:
        scene = make_scene(photo, size=(320, 320), face_width=160, rng=np.random.default_rng(2), mesh=mesh)
    fps = 200
    for aus in ("6+12", "9+10", "1+2", "14", "15+17", "4", "7"):
        rng = np.random.default_rng(len(aus))
        warp = expression_warp(scene, aus, scene.px(2.0), rng)
        drift = draw_drift(rng, scene.face_width)
        frames, onset, apex, offset = render_clip(scene, warp, Timing(0.0, 0.15, 0.35, 0.03), fps=fps, drift=drift,
                                                  noise_sigma=1.0, rng=rng, lead=5, tail=5)
        crops, landmarks = _exact_crops(scene, frames, drift, fps)
        di, _ = phase_dynamic_images(crops[..., None].astype(np.float32), onset, apex, offset)
        energy = di[..., 0].astype(np.float64) ** 2
        mask = np.zeros((224, 224), np.uint8)
        for name in action_unit_regions(aus):
            cv2.fillConvexPoly(mask, cv2.convexHull(np.round(landmarks[list(REGIONS[name])]).astype(np.int32)), 1)
        radius = round(2 * REGION_MARGIN * 224)  # face_regions' margin, twice: 9 px
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)).astype(bool)
        assert energy[mask].sum() / energy.sum() >= 0.8, aus


def test_a_movement_is_the_same_under_head_drift(photo) -> None:
    """2 px/frame of head drift (and 2 deg/s of roll) changes an exactly aligned micro-expression's
    DI energy by < 10 % (measured 5.6 %, the resampling of two bilinear warps): the renderer composes
    expression and pose without losing or adding motion."""
    with FaceMesh(static_image_mode=True) as mesh:
        scene = make_scene(photo, size=(448, 448), face_width=170, rng=np.random.default_rng(4), mesh=mesh)
    fps = 30
    warp = expression_warp(scene, "6+12", scene.px(2.5), np.random.default_rng(1))
    dis = []
    for drift in (HeadDrift(), HeadDrift(tx=-16, ty=-9, vx=52, vy=30, roll_rate=2.0)):
        frames, onset, apex, offset = render_clip(scene, warp, Timing(0.0, 0.2, 0.4, 0.04), fps=fps, drift=drift,
                                                  noise_sigma=0.0, rng=np.random.default_rng(3), lead=5, tail=5)
        crops, _ = _exact_crops(scene, frames, drift, fps)
        dis.append(phase_dynamic_images(crops[..., None].astype(np.float32), onset, apex, offset)[0][..., 0])
    still, drifting = (float((d.astype(np.float64) ** 2).sum()) for d in dis)
    assert abs(drifting / still - 1) < 0.1
    assert np.corrcoef(dis[0].ravel(), dis[1].ravel())[0, 1] > 0.95


def test_dataset_reads_back_through_the_casme2_reader(synth_dataset: Path) -> None:
    index = load_dataset("casme2", synth_dataset, min_clips_per_class=1)
    assert not [p for p in index.problems if p.action != "warning"], index.problems
    assert len(index.clips) == 10 and set(index.classes) == set(CLASSES)
    assert index.subjects == ("01", "02")

    book = openpyxl.load_workbook(synth_dataset / SHEET_NAME)
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0] == SHEET_COLUMNS
    if REAL_SHEET.is_file():  # same header as the real release's sheet
        assert rows[0] == next(openpyxl.load_workbook(REAL_SHEET).active.iter_rows(values_only=True))
    sheet = {(r[0], r[1]): r for r in rows[1:]}
    for clip in index.clips:
        subject, name, _, onset, apex, offset, _, aus, emotion, objective = sheet[(clip.subject, clip.clip_id)]
        assert isinstance(subject, str) and len(subject) == 2  # text '01', as in the real sheet
        assert isinstance(aus, int) == ("+" not in str(aus))  # a single AU is a number cell, as in the real sheet
        assert clip.label == emotion and str(aus) in EMOTIONS[emotion]
        assert clip.sheet_frames == Interval(onset, apex, offset)
        assert clip.frame_numbers[0] > 1 and list(clip.frame_numbers) == list(range(clip.frame_numbers[0],
                                                                                  clip.frame_numbers[-1] + 1))
        assert [f.name for f in clip.frames] == [f"img{n}.jpg" for n in clip.frame_numbers]
        at = clip.positions
        assert 5 <= at.onset < at.apex < at.offset <= len(clip.frames) - 6  # neutral margins
        assert 0.2 - 0.015 <= (at.offset - at.onset) / 100 <= 0.5 + 0.015  # 200-500 ms at 100 fps


def test_dataset_is_deterministic(synth_dataset: Path, tmp_path: Path) -> None:
    from training.synth import make_dataset

    again = make_dataset(tmp_path / "again", subjects=1, clips_per_class=1, fps=100, seed=3)
    for clip in again.clips:
        for number in (clip.frame_numbers[0], clip.sheet_frames.apex):
            ours = (synth_dataset / "sub01" / clip.clip_id / f"img{number}.jpg").read_bytes()
            assert (clip.folder / f"img{number}.jpg").read_bytes() == ours


def test_dataset_amplitude_scales_the_movement_and_nothing_else(synth_dataset: Path, tmp_path: Path) -> None:
    """`mer-synth dataset --amplitude 3`: the clips of the same seed, each moving three times as far."""
    result = CliRunner().invoke(app, ["dataset", "--out", str(tmp_path / "x3"), "--subjects", "1", "--clips-per-class",
                                      "1", "--fps", "100", "--seed", "3", "--amplitude", "3"])
    assert result.exit_code == 0, result.output
    manifest = {name: json.loads((root / "synth_config.json").read_text()) for name, root in
                (("x1", synth_dataset), ("x3", tmp_path / "x3"))}
    assert manifest["x3"]["settings"]["amplitude"] == 3 and manifest["x1"]["settings"]["amplitude"] == 1
    x1 = {c["clip_id"]: c for c in manifest["x1"]["clips"] if c["subject"] == "01"}
    for clip in manifest["x3"]["clips"]:
        same = x1[clip["clip_id"]]
        assert clip["amplitude_px"] == pytest.approx(3 * same["amplitude_px"])
        drawn = ("action_units", "onset_frame", "apex_frame", "offset_frame", "first_frame")
        assert {k: clip[k] for k in drawn} == {k: same[k] for k in drawn}  # no other draw changed
        folders = [root / "sub01" / clip["clip_id"] for root in (synth_dataset, tmp_path / "x3")]
        first = [(folder / f"img{clip['first_frame']}.jpg").read_bytes() for folder in folders]
        assert first[0] == first[1]  # the same neutral frame: drift, light and noise are the same draws
        apex = [_grey(folder, clip["apex_frame"]) for folder in folders]
        assert np.abs(apex[1] - apex[0]).max() > 20, clip["clip_id"]  # the movement itself differs


def _grey(folder: Path, number: int) -> np.ndarray:
    return cv2.imread(str(folder / f"img{number}.jpg"), cv2.IMREAD_GRAYSCALE).astype(np.float32)


def test_video_decodes_with_consistent_ground_truth(synth_interview: Path) -> None:
    """The session's interview (conftest: 12 s at 30 fps, 3 micro-expressions, 640 x 480)."""
    path = synth_interview
    frames = list(read_video(path))
    num_frames = 360
    assert len(frames) == num_frames
    assert frames[0].image.shape == (480, 640, 3)
    assert VideoInfo.from_video_path(path).fps == pytest.approx(30)
    assert frames[-1].t_s == pytest.approx(359 / 30, abs=1e-3)

    groundtruth = path.with_name("interview_groundtruth.csv")
    with groundtruth.open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == GROUNDTRUTH_COLUMNS
    assert {r["kind"] for r in rows} == {"micro", "macro", "blink"}
    assert sum(r["kind"] == "micro" for r in rows) == 3
    previous_offset = -1
    for r in rows:
        onset, apex, offset = (int(r[k]) for k in ("onset_frame", "apex_frame", "offset_frame"))
        assert previous_offset < onset <= apex <= offset < num_frames  # ordered, no overlap
        previous_offset = offset
        for name, frame in (("onset_s", onset), ("apex_s", apex), ("offset_s", offset)):
            assert float(r[name]) == pytest.approx(frame / 30, abs=1e-5)
        seconds = (offset - onset) / 30
        low, high = {"micro": (0.2, 0.5), "macro": (1.0, 3.0), "blink": (0.15, 0.4)}[r["kind"]]
        assert low - 2 / 30 <= seconds <= high
        assert r["emotion"] in CLASSES or (r["kind"] == "blink" and r["action_units"] == "45")



def test_video_at_200_fps(tmp_path: Path) -> None:
    video = make_video(tmp_path / "fast.mp4", fps=200, duration=3.0, micro=1, seed=11, size=(320, 240))
    assert VideoInfo.from_video_path(video.path).fps == pytest.approx(200)
    assert sum(1 for _ in read_video(video.path)) == video.num_frames == 600
    (event,) = video.events
    assert 40 <= event.frames.offset - event.frames.onset <= 100  # 200-500 ms


def test_video_is_deterministic_per_seed(tmp_path: Path) -> None:
    """Same seed, same file byte for byte (x264 without MB-tree, on one thread: with it, every encode
    of the same frames differed); another seed, other events and frames."""
    videos = [make_video(tmp_path / f"{name}.mp4", fps=30, duration=3.0, micro=1, seed=seed, size=(320, 240))
              for name, seed in (("a", 11), ("b", 11), ("c", 12))]
    a, b, c = videos
    assert a.events == b.events != c.events
    assert a.groundtruth.read_text() == b.groundtruth.read_text()
    assert a.path.read_bytes() == b.path.read_bytes() != c.path.read_bytes()


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    result = CliRunner().invoke(app, ["dataset", "--out", str(tmp_path / "full")])
    assert result.exit_code == 2 and "not empty" in result.output
    result = CliRunner().invoke(app, ["video", "--out", str(tmp_path / "v.mp4"), "--fps", "30", "--duration", "3",
                                      "--micro", "20"])
    assert result.exit_code == 2 and "--duration" in result.output
    result = CliRunner().invoke(app, ["video", "--out", str(tmp_path / "v.mp4"), "--fps", "300"])
    assert result.exit_code != 0
    for size, problem in (("640-480", "WIDTHxHEIGHT"), ("641x480", "even"), ("120x90", "at least 160x120")):
        result = CliRunner().invoke(app, ["video", "--out", str(tmp_path / "v.mp4"), "--fps", "30", "--size", size])
        assert result.exit_code == 2 and problem in result.output and "Traceback" not in result.output, result.output
    result = CliRunner().invoke(app, ["video", "--layout", "casme2-long", "--out", str(tmp_path / "r"),
                                      "--size", "320x240"])
    assert result.exit_code == 2 and "--size" in result.output
    assert not (tmp_path / "v.mp4").exists() and not (tmp_path / "r").exists()
