"""A hand or an object over the mouth is an occlusion, not a facial movement: logged as
`occlusion` with its regions, its motion left out (empty frames.csv cells), no micro-expression
from a covered region; and a face that is lost leaves empty cells and `face lost` on each frame.
Two runs over the same file write the same files (the hand test runs on the frame path)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from realtime.capture.video_io import VideoWriter, read_video
from realtime.cli.process import app
from support.occluders import OCCLUDERS, SLID, occlude_mouth

GOLDEN_VIDEO = Path(__file__).parents[2] / "golden" / "interview.mp4"  # 8 s, a face throughout
START, END = 2.0, 4.5
TRACKED_THROUGH = ("hand", "cup", "own hand", "open hand")  # occluders the face mesh keeps the face through


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _run(video: Path, out: Path) -> Path:
    result = CliRunner().invoke(app, [str(video), "--out", str(out), "--spot-only", "--no-video"])
    assert result.exit_code == 0, result.output
    return out / video.stem


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same video re-encoded as the occluded ones are, without an occluder: the baseline."""
    folder = tmp_path_factory.mktemp("clean")
    return _run(occlude_mouth(GOLDEN_VIDEO, folder / "clean.mp4", "skin", start_s=0.0, end_s=0.0), folder)


@pytest.mark.parametrize("kind", OCCLUDERS)
def test_an_occluder_over_the_mouth_is_logged_and_left_out(kind: str, clean: Path, tmp_path: Path) -> None:
    video = occlude_mouth(GOLDEN_VIDEO, tmp_path / f"{kind}.mp4", kind, start_s=START, end_s=END)
    folder = _run(video, tmp_path / "out")
    occlusions = [m for m in _rows(folder / "movements.csv") if m["kind"] == "occlusion"
                  and float(m["offset_s"]) >= START and float(m["onset_s"]) <= END]
    assert occlusions, f"no occlusion logged for the {kind} occluder"
    assert START <= float(occlusions[0]["onset_s"]) <= START + 1.0
    assert END - 0.5 <= float(occlusions[-1]["offset_s"]) <= END + 0.5
    frames = _rows(folder / "frames.csv")
    during = [r for r in frames if START + 1.0 <= float(r["time_s"]) < END - 0.2]
    tracked = [r for r in during if r["face_found"] == "1"]
    # Covered or lost, on every frame: no motion, not a repeated value (a face found again through
    # the occluder is covered from its first check).
    assert all(r["motion_mouth"] == "" for r in during)
    if len(tracked) == len(during):  # the face stayed tracked: the mouth is named, the rest still moves
        assert any("mouth" in m["regions"].split("+") for m in occlusions)
        assert all(r["motion_forehead"] != "" for r in during)
    if kind in TRACKED_THROUGH:
        assert len(tracked) == len(during)
    if kind == "open hand":  # MediaPipe Hands finds this hand (the others only the appearance test sees)
        assert any(m["reason"] == "covered: a hand" for m in occlusions)
    if kind in SLID:  # it comes in from beside the face over 0.4 s: covered once it reaches the mouth
        assert float(occlusions[0]["onset_s"]) >= START + 0.2
    # No micro-expression and no other movement comes from the mouth while it was covered; the
    # micro-expressions of the clean video elsewhere are still found.
    for movement in _rows(folder / "movements.csv"):
        if movement["kind"] != "occlusion" and "mouth" in movement["regions"].split("+"):
            assert float(movement["offset_s"]) < START - 1.0 or float(movement["onset_s"]) > END + 1.0, movement
    got = [int(e["apex_frame"]) for e in _rows(folder / "events.csv")]
    want = [int(e["apex_frame"]) for e in _rows(clean / "events.csv")]
    covered = [int(e["apex_frame"]) for e in _rows(folder / "events.csv")
               if float(e["offset_s"]) >= START and float(e["onset_s"]) <= END]
    assert all(min(abs(g - w) for w in want) <= 3 for g in covered), (got, want)  # none from the covered time
    outside = [int(e["apex_frame"]) for e in _rows(clean / "events.csv")
               if float(e["offset_s"]) < START - 1.0 or float(e["onset_s"]) > END + 1.0]
    assert all(min(abs(g - w) for g in got) <= 3 for w in outside), (got, outside)


def test_two_runs_over_an_occluded_file_write_the_same_files(tmp_path: Path) -> None:
    """The hand test answers on the frame it is due at, so the files depend on the frames alone
    (when it ran on its own thread, its answer arrived a frame or more later depending on load)."""
    video = occlude_mouth(GOLDEN_VIDEO, tmp_path / "open hand.mp4", "open hand", start_s=START, end_s=END)
    first, second = _run(video, tmp_path / "first"), _run(video, tmp_path / "second")
    assert any(m["reason"] == "covered: a hand" for m in _rows(first / "movements.csv"))
    for name in ("frames.csv", "movements.csv", "events.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_a_lost_face_leaves_empty_cells_and_says_face_lost(tmp_path: Path) -> None:
    video = tmp_path / "gap.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(video, 30) as writer:
        for frame in read_video(GOLDEN_VIDEO):
            lost = 3.0 <= frame.t_s < 4.0
            writer.write(rng.integers(0, 255, frame.image.shape, dtype=np.uint8) if lost else frame.image)
    folder = _run(video, tmp_path / "out")
    frames = _rows(folder / "frames.csv")
    lost = [r for r in frames if r["face_found"] == "0"]
    assert 25 <= len(lost) <= 35
    motion = [c for c in frames[0] if c.startswith("motion_")] + ["head_motion"]
    assert all(r["spotter_state"] == "face lost" for r in lost)
    assert all(r[c] == "" for r in lost for c in motion)  # not the last values repeated
    found = [r for r in frames if r["face_found"] == "1"]
    assert all(r[c] != "" for r in found for c in motion)
