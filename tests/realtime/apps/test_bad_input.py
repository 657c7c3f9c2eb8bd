"""Bad input and honest status: a truncated file, a video without a face, a still image, a missing
file; each said in one line, summary.json says how the video ended, the exit code is non-zero when
any video failed or was cut short, and `results:` names only videos that have results."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from realtime.capture.video_io import VideoWriter
from realtime.cli.process import app

GOLDEN_VIDEO = Path(__file__).parents[2] / "golden" / "interview.mp4"  # 240 frames, a face in each
runner = CliRunner()


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def truncated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden interview with its index first (as a streaming recorder writes it), cut at 40 %:
    the header still announces 240 frames, fewer decode, and the file ends without an error."""
    folder = tmp_path_factory.mktemp("cut")
    whole = folder / "whole.mp4"
    with av.open(str(GOLDEN_VIDEO)) as src, av.open(str(whole), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = whole.read_bytes()
    cut = folder / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    return cut


@pytest.fixture(scope="module")
def noise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("noise") / "noise.mp4"
    with VideoWriter(path, 30) as writer:
        for i in range(20):
            writer.write(np.random.default_rng(i).integers(0, 255, (120, 160, 3), dtype=np.uint8))
    return path


def test_a_truncated_video_is_not_finished(truncated: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, [str(truncated), "--out", str(tmp_path), "--spot-only", "--no-video"])
    assert result.exit_code == 1, result.output
    summary = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert summary["status"] == "truncated" and summary["truncated"] and not summary["complete"]
    assert summary["expected_frames"] == 240 and 10 < summary["frames"] < 200
    text = " ".join(result.output.split())
    assert f"truncated: {summary['frames']} of 240 frames" in text  # the table row
    assert f"cut.mp4: truncated: {summary['frames']} of the 240 frames" in text  # its own line
    assert f"results: {(tmp_path / 'cut' / 'report.html').resolve()}" in text  # what was found is there
    assert _lines(result.output)[-1].startswith("error: 1 of 1 videos failed or were cut short: cut.mp4")


def test_no_face_ever_fails_the_video_and_others_still_run(noise: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, [str(tmp_path / "missing.mp4"), str(noise), str(GOLDEN_VIDEO), "--out",
                                 str(tmp_path / "out"), "--spot-only", "--no-video"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "missing.mp4: no such video file" in text
    assert "noise.mp4: no face found in any of its 20 frames" in text
    summary = json.loads((tmp_path / "out" / "noise" / "summary.json").read_text())
    assert summary["status"] == "no face" and summary["no_face"] and summary["face_found_fraction"] == 0
    results = [line for line in _lines(result.output) if line.startswith("results:")]
    assert results == [f"results: {(tmp_path / 'out' / 'interview' / 'report.html').resolve()}"]
    assert "2 of 3 videos failed or were cut short: missing.mp4, noise.mp4" in text
    good = json.loads((tmp_path / "out" / "interview" / "summary.json").read_text())
    assert good["status"] == "finished" and good["complete"] and good["expected_frames"] == good["frames"] == 240


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".mp4"])
def test_a_still_image_is_refused_in_one_line(suffix: str, tmp_path: Path) -> None:
    still = tmp_path / f"photo{suffix}"
    ok, encoded = cv2.imencode(".jpg" if suffix == ".mp4" else suffix, np.full((64, 64, 3), 128, np.uint8))
    still.write_bytes(encoded.tobytes())  # .mp4: a JPEG under a video's name
    result = runner.invoke(app, [str(still), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in _lines(result.output) if line.startswith("error:")]
    assert errors[0] == f"error: {still}: a still image ({'png' if suffix == '.png' else 'jpeg'}), not a video: " \
                        f"micro-expressions need motion (give a video file, or a folder of frames)"
    assert not any(line.startswith("results:") for line in _lines(result.output))
