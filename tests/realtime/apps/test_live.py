"""mer-live: a file played as a camera gives mer-process's events; the window shows the overlay."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from realtime.cli.live import app as live_app
from realtime.cli.process import app as process_app
from realtime.sinks.overlay import TRACE_COLOURS, YELLOW, OverlayState, draw_overlay

runner = CliRunner()
XVFB = shutil.which("Xvfb")


def _events(path: Path) -> list[tuple]:
    with path.open(newline="") as handle:
        return [(r["onset_frame"], r["apex_frame"], r["offset_frame"], r["label"]) for r in csv.DictReader(handle)]


@pytest.mark.slow
def test_headless_file_camera_matches_mer_process(synth_interview: Path, tiny_checkpoint: Path,
                                                  tmp_path: Path) -> None:
    events_csv = tmp_path / "live_events.csv"
    record = tmp_path / "session.mp4"
    live = runner.invoke(live_app, ["--camera", str(synth_interview), "--headless", "--engine", str(tiny_checkpoint),
                                    "--events", str(events_csv), "--record", str(record),
                                    "--buffer-frames", "100000"])
    assert live.exit_code == 0, live.output
    assert "0 dropped" in live.output
    offline = runner.invoke(process_app, [str(synth_interview), "--out", str(tmp_path / "out"), "--engine",
                                          str(tiny_checkpoint), "--no-video"])
    assert offline.exit_code == 0, offline.output
    live_events = _events(events_csv)
    assert live_events and live_events == _events(tmp_path / "out" / synth_interview.stem / "events.csv")
    assert (tmp_path / "session_session" / "report.html").is_file() and record.stat().st_size > 0


def test_a_camera_that_cannot_be_opened_is_one_line() -> None:
    result = runner.invoke(live_app, ["--camera", "97", "--headless"])
    assert result.exit_code == 2
    assert "camera 97: cannot be opened" in result.output and "Traceback" not in result.output


@pytest.fixture
def display():
    """A private Xvfb screen; Xvfb picks a free display number and tells it on stdout. `-noreset`: an X
    server resets when its last client leaves, and a screen grab connecting during that reset failed
    ("X connection failed", once in a loaded full run here) before mer-live's window had connected."""
    server = subprocess.Popen([XVFB, "-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp", "-noreset"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    number = server.stdout.readline().strip()
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)
    server.stdout.close()


def _colour_counts(pixels: np.ndarray, colours: list[tuple[int, int, int]], tolerance: int = 40) -> np.ndarray:
    """How many pixels lie within `tolerance` (L1) of each colour."""
    pixels = pixels.astype(int)
    return np.array([int((np.abs(pixels - np.array(c)).sum(axis=2) <= tolerance).sum()) for c in colours])


def _watch_window(video: Path, display: str, folder: Path, colours: list[tuple[int, int, int]],
                  enough: Callable[[np.ndarray], bool]) -> tuple[np.ndarray, int, str]:
    """Plays `video` in mer-live's window and grabs the screen each half second until `enough` of the
    colours show or mer-live ends: each colour's most on any screen, the screens grabbed, mer-live's stderr."""
    from PIL import ImageGrab

    folder.mkdir(parents=True, exist_ok=True)
    exe = shutil.which("mer-live", path=str(Path(sys.executable).parent))
    best, grabs = np.zeros(len(colours), int), 0
    with (folder / "live.err").open("w") as err:
        live = subprocess.Popen([exe, "--camera", str(video)], env={**os.environ, "DISPLAY": display},
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and live.poll() is None:
                time.sleep(0.5)
                screen = ImageGrab.grab(xdisplay=display).convert("RGB")
                grabs += 1
                counts = _colour_counts(np.asarray(screen), colours)
                if (counts > best).sum() > len(colours) // 2 or grabs == 1:
                    screen.save(folder / "window.png")
                best = np.maximum(best, counts)  # each colour's most on any screen: the text may change by state
                if enough(counts):
                    break
        finally:
            live.terminate()
            live.wait(timeout=20)
    return best, grabs, (folder / "live.err").read_text()[-2000:]


@pytest.mark.slow
@pytest.mark.skipif(XVFB is None, reason="Xvfb is not installed (.ci/run installs it)")
def test_window_shows_traces_and_text(synth_interview: Path, display: str, tmp_path: Path) -> None:
    from realtime.capture.video_io import read_video

    colours = [YELLOW, *TRACE_COLOURS]  # the spotter-state text, then one trace per facial region
    video_frame = next(iter(read_video(synth_interview))).image
    baseline = _colour_counts(np.concatenate([video_frame, video_frame]), colours)  # generous: twice the frame
    # The window shows the overlay pixel for pixel (WINDOW_AUTOSIZE): the state text must show at least
    # the yellow pixels of its shortest state, "spotter: idle" (15 at the time of writing), drawn here.
    text_px = _colour_counts(draw_overlay(video_frame, OverlayState(t_s=0.0, spotter_state="idle")), [YELLOW])[0]

    def enough(counts: np.ndarray) -> bool:
        return bool(counts[0] >= text_px and (counts[1:] >= 30 + 3 * baseline[1:]).sum() >= 6)

    # Two plays at most: once, in CI, no screen showed the state text while mer-live played the whole clip
    # (not reproduced here, idle or beside 6 busy processes); should both plays fail, the message says what
    # each one's screens showed.
    seen = []
    for attempt in range(2):
        best, grabs, err = _watch_window(synth_interview, display, tmp_path / f"play{attempt}", colours, enough)
        seen.append(f"play {attempt}: {grabs} screens, most of each colour {best.tolist()}; mer-live: {err!r}")
        if enough(best):
            break
    assert best[0] >= text_px, f"no spotter-state text on screen (< {text_px} yellow px, see {tmp_path}): {seen}"
    assert (best[1:] >= 30 + 3 * baseline[1:]).sum() >= 6, f"traces not on screen (video {baseline}): {seen}"
