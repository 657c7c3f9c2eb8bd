"""mer-synth video --talk: talking segments and brow raises in the ground truth, lips that really
part (measured by MediaPipe on the decoded video), the silent video's events kept, lower-face
micro-expressions inside talking with --lower-in-speech, and event counts that follow --duration."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from realtime.face.mesh import FaceMesh
from realtime.capture.video_io import read_video
from training.cli.synth import app
from training.synth import make_video
from training.synth.speech import BROW_RAISE_AUS, SPEECH_AUS
from training.synth.video import LOWER_FACE_CHOICES, UPPER_FACE_CHOICES

FPS = 30.0
DURATION_S = 14.0
KWARGS = {"fps": FPS, "duration": DURATION_S, "micro": 3, "seed": 4, "size": (320, 240)}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("talk")
    return (make_video(folder / "talk.mp4", talk=0.5, **KWARGS), make_video(folder / "silent.mp4", **KWARGS),
            make_video(folder / "lower.mp4", talk=0.5, lower_in_speech=1.0, **KWARGS))


def test_talking_segments_and_brow_raises_in_the_ground_truth(videos) -> None:
    talk, silent, _ = videos
    segments = [e for e in talk.events if e.kind == "speech" and e.action_units == SPEECH_AUS]
    raises = [e for e in talk.events if e.kind == "speech" and e.action_units == BROW_RAISE_AUS]
    assert segments and all(2.0 - 1 / FPS <= e.offset_s - e.onset_s <= 8.0 for e in segments)
    assert 0.3 * DURATION_S <= sum(e.offset_s - e.onset_s for e in segments) <= 0.6 * DURATION_S
    for r in raises:
        assert any(s.onset_s <= r.onset_s and r.offset_s <= s.offset_s for s in segments)
        assert 0.3 - 2 / FPS <= r.offset_s - r.onset_s <= 0.8
    rows = list(csv.DictReader(talk.groundtruth.open()))
    assert sum(r["kind"] == "speech" for r in rows) == len(segments) + len(raises)

    # The same events as the silent video of the seed; micro-expressions inside talking move the upper face only.
    others = [e for e in talk.events if e.kind != "speech"]
    assert [(e.kind, e.frames.bounds) for e in others] == \
        [(e.kind, e.frames.bounds) for e in silent.events]
    inside = [e for e in others if e.kind == "micro"
              and any(e.onset_s < s.offset_s and s.onset_s < e.offset_s for s in segments)]
    for e in inside:
        assert (e.emotion, e.action_units) in UPPER_FACE_CHOICES
    assert not [e for e in silent.events if e.kind == "speech"]


def test_lower_face_micro_expressions_inside_talking(videos) -> None:
    """--lower-in-speech 1: every micro-expression inside talking moves the lower face only (lip corners,
    chin); the talking, the brow raises and every other event are those of the video without it."""
    talk, _, lower = videos
    speech = [e for e in talk.events if e.kind == "speech"]
    assert [e for e in lower.events if e.kind == "speech"] == speech
    assert [(e.kind, e.frames.bounds) for e in lower.events] == [(e.kind, e.frames.bounds) for e in talk.events]
    segments = [e for e in speech if e.action_units == SPEECH_AUS]
    inside = [i for i, e in enumerate(talk.events) if e.kind == "micro"
              and any(e.onset_s < s.offset_s and s.onset_s < e.offset_s for s in segments)]
    assert inside
    for i, (was, now) in enumerate(zip(talk.events, lower.events)):
        if i in inside:
            assert (now.emotion, now.action_units) in LOWER_FACE_CHOICES
        else:
            assert (now.emotion, now.action_units) == (was.emotion, was.action_units)
    result = CliRunner().invoke(app, ["video", "--out", "x.mp4", "--fps", "24", "--lower-in-speech", "1.5"])
    assert result.exit_code == 2 and "--lower-in-speech" in result.output


def test_the_lips_really_part_while_talking(videos) -> None:
    """MediaPipe's inner-lip gap (points 13, 14) opens by >= 1 px more than in the silent video (a 125 px
    face) while talking, and is the silent video's elsewhere."""
    talk, silent, _ = videos
    segments = [e.frames.bounds for e in talk.events if e.kind == "speech"
                and e.action_units == SPEECH_AUS]
    gaps = []
    for video in (talk, silent):
        with FaceMesh(static_image_mode=False) as mesh:
            found = [mesh.process(frame.image) for frame in read_video(video.path) if frame.index % 2 == 0]
        assert all(lm is not None for lm in found)
        gaps.append(np.array([float(np.linalg.norm(lm[14] - lm[13])) for lm in found]))
    opened = gaps[0] - gaps[1]
    talking = np.array([any(a <= 2 * i <= b for a, b in segments) for i in range(len(opened))])
    assert np.percentile(opened[talking], 90) > 1.0, np.percentile(opened[talking], 90)
    assert np.median(np.abs(opened[~talking])) < 0.3, np.median(np.abs(opened[~talking]))


def _lid_closing(path: Path, blinks: list[tuple[int, int]]) -> list[float]:
    """How far MediaPipe's upper-lid to lower-lid gaps (both eyes, px) close in each blink, from their median."""
    with FaceMesh(static_image_mode=False) as mesh:
        found = [mesh.process(frame.image) for frame in read_video(path)]
    assert all(lm is not None for lm in found)
    gap = np.array([float(np.linalg.norm(lm[159] - lm[145]) + np.linalg.norm(lm[386] - lm[374])) for lm in found])
    return [float(np.median(gap) - gap[a:b + 1].min()) for a, b in blinks]


def test_weak_blinks_close_the_lids_less_and_change_nothing_else(videos, tmp_path: Path) -> None:
    """make_video(blink_scale=0.3) (mer-synth video --blink 0.3): the silent video's events, blink closures
    times 0.3, and lids that close (MediaPipe, on the decoded video) less than half as far."""
    _, silent, _ = videos
    weak = make_video(tmp_path / "weak.mp4", blink_scale=0.3, **KWARGS)
    assert [(e.kind, e.frames.bounds, e.action_units) for e in weak.events] == \
        [(e.kind, e.frames.bounds, e.action_units) for e in silent.events]
    blinks = [i for i, e in enumerate(silent.events) if e.kind == "blink"]
    assert blinks
    assert np.allclose([weak.events[i].amplitude for i in blinks], [0.3 * silent.events[i].amplitude for i in blinks])
    spans = [silent.events[i].frames.bounds for i in blinks]
    full, partial = _lid_closing(silent.path, spans), _lid_closing(weak.path, spans)
    assert min(full) > 2.0, full
    assert all(p < 0.5 * f for p, f in zip(partial, full)), (partial, full)
    result = CliRunner().invoke(app, ["video", "--out", "x.mp4", "--fps", "24", "--blink", "0"])
    assert result.exit_code == 2 and "--blink" in result.output


def test_event_counts_follow_duration(tmp_path: Path) -> None:
    """`mer-synth video --duration 20` with the defaults: 4 micro-expressions fit, not the 20 of 60 s (at
    --size 160x120, the smallest: the counts do not depend on the frame size)."""
    result = CliRunner().invoke(app, ["video", "--out", str(tmp_path / "v.mp4"), "--fps", "24", "--duration", "20",
                                      "--talk", "0.4", "--amplitude", "0.7", "--size", "160x120"])
    assert result.exit_code == 0, result.output
    assert next(read_video(tmp_path / "v.mp4")).image.shape == (120, 160, 3)
    rows = list(csv.DictReader((tmp_path / "v_groundtruth.csv").open()))
    assert sum(r["kind"] == "micro" for r in rows) == 4
    assert any(r["kind"] == "speech" for r in rows)
    result = CliRunner().invoke(app, ["video", "--out", str(tmp_path / "w.mp4"), "--fps", "24", "--talk", "0.9"])
    assert result.exit_code == 2 and "--talk" in result.output
