"""report.html opens from disk in headless Chromium and shows every event's evidence images."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from realtime.sinks.csv_stream import CsvStream
from realtime.sinks.evidence import write_evidence
from realtime.sinks.report import EVIDENCE_IMAGES, write_report
from realtime.sinks.run_folder import EVENT_COLUMNS
from realtime.sinks.run_folder import write_json
from realtime.sinks.timeline import write_timeline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _run_folder(folder: Path, events: int) -> None:
    rng = np.random.default_rng(0)
    with CsvStream(folder / "frames.csv", ["frame", "time_s", "motion_mouth", "motion_brow_left"]) as frames:
        for i in range(300):
            frames.write({"frame": i, "time_s": i / 30, "motion_mouth": abs(rng.normal()),
                          "motion_brow_left": abs(rng.normal())})
    with CsvStream(folder / "events.csv", [*EVENT_COLUMNS, "prob_happiness", "prob_surprise"]) as table:
        for n in range(1, events + 1):
            onset = 40 * n
            table.write({"event": n, "onset_frame": onset, "apex_frame": onset + 4, "offset_frame": onset + 9,
                         "onset_s": onset / 30, "apex_s": (onset + 4) / 30, "offset_s": (onset + 9) / 30,
                         "duration_ms": 300.0, "label": "surprise", "confidence": 0.7,
                         "prob_happiness": 0.3, "prob_surprise": 0.7})
            crops = {name: rng.integers(0, 255, (64, 64), dtype=np.uint8) for name in ("onset", "apex", "offset")}
            dis = {name: rng.normal(0, 5, (64, 64, 1)).astype(np.float32) for name in ("di_onset", "di_offset")}
            write_evidence(folder / "events" / str(n), crops, dis)
    CsvStream(folder / "movements.csv", ["kind", "onset_s", "offset_s"]).close()
    write_json(folder / "summary.json", {"source": "interview.mp4", "frames": 300, "complete": True})
    write_timeline(folder)


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_report_opens_from_disk_and_shows_every_image(tmp_path: Path) -> None:
    folder = tmp_path / "interview"
    _run_folder(folder, events=3)
    report = write_report(folder)
    dom = _chromium(["--dump-dom", report.as_uri()], tmp_path / "profile").stdout
    expected = 3 * len(EVIDENCE_IMAGES) + 1  # every event's five images, and the timeline
    assert f'data-images-loaded="{expected}/{expected}"' in dom
    assert len(re.findall(r"<div class=\"event\"", dom)) == 3
    shot = tmp_path / "report.png"
    _chromium([f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri()], tmp_path / "profile")
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    reddish = (pixels[..., 0] > 150) & (pixels[..., 2] < 120) & (pixels[..., 1] < 120)
    bluish = (pixels[..., 2] > 150) & (pixels[..., 0] < 120)
    assert reddish.sum() > 2000 and bluish.sum() > 2000  # the DI images were painted, not just their frames


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_report_says_when_images_are_missing(tmp_path: Path) -> None:
    folder = tmp_path / "interview"
    _run_folder(folder, events=1)
    report = write_report(folder)
    (folder / "events" / "1" / "apex.png").unlink()
    dom = _chromium(["--dump-dom", report.as_uri()], tmp_path / "profile").stdout
    assert "1 of 6 images could not be loaded" in dom
