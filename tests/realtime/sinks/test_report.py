"""report.html and index.html, tested in a real browser: Debian's Chromium driven by Selenium with
Debian's chromedriver (given explicitly, so Selenium never downloads one), headless.

One mer-synth interview is processed by mer-process for the whole module and one browser session
serves every test, so that the browser tests stay few and fast.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from realtime.sinks.csv_stream import CsvStream
from realtime.sinks.evidence import write_evidence
from realtime.sinks.index_page import batch_folders, write_index
from realtime.sinks.replay import REPLAY
from realtime.sinks.report import DI_PAIR, _json, lane_counts, write_report
from realtime.sinks.run_folder import EVENT_COLUMNS, MOVEMENT_COLUMNS, write_json

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
needs_browser = pytest.mark.skipif(CHROMIUM is None or not CHROMEDRIVER.is_file(),
                                   reason="Chromium and chromium-driver are not installed (.ci/run installs them)")
REGIONS = ("brow_left", "brow_right", "cheek_left", "cheek_right", "chin", "eye_left", "eye_right", "forehead",
           "mouth", "nose")
HOUR_S, HOUR_FPS, HOUR_EVENTS = 3600, 30, 120  # 2 micro-expressions a minute: a busy interview


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def interview(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 s mer-synth interview (3 micro-expressions, a macro-expression, blinks) through
    mer-process, spot-only, scored against the ground truth written beside it: its run folder."""
    from realtime.cli.process import app
    from training.synth import make_video

    root = tmp_path_factory.mktemp("interview")
    video = make_video(root / "interview.mp4", fps=30, duration=12.0, micro=3, seed=3, size=(320, 240)).path
    result = CliRunner().invoke(app, [str(video), "--out", str(root / "out")])
    assert result.exit_code == 0, result.output
    return root / "out" / "interview"


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1000",
                 "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser, report: Path) -> float:
    """Load the report; returns ms from navigation start to the timeline drawn."""
    browser.get(report.as_uri())
    _wait(browser, "return document.body.dataset.ready === '1'")
    return float(browser.execute_script("return window.mer.readyMs"))


def _wait(browser, script: str, timeout_s: float = 30.0):  # a wait, not a speed test (CI's 2 cores are shared)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = browser.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    page = browser.execute_script("return [location.href, document.readyState, window.mer ? window.mer.errors : null]")
    raise AssertionError(f"timed out waiting for: {script}; page (url, readyState, errors): {page}; "
                         f"console: {browser.get_log('browser')}")


def _console_errors(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.mark.slow
@needs_browser
def test_interview_report_plays_seeks_to_the_onset_frame_zooms_and_replays(interview: Path, browser) -> None:
    events = _rows(interview / "events.csv")
    assert len(events) >= 2
    _open(browser, interview / "report.html")
    assert _console_errors(browser) == []
    # The player plays: decoded frames are presented and the clock advances.
    browser.execute_script("window.mer.presented = null; document.getElementById('player').play();")
    _wait(browser, "var p = window.mer.presented; return p && p.frame > 10")
    # Clicking event 2 shows the frame of its onset: the presented frame's own media time (rVFC).
    onset = int(events[1]["onset_frame"])
    # (Waiting for that frame, not for the first one presented: a frame of the playback before the
    # click can still be reported after it on a loaded machine.)
    browser.execute_script("window.mer.presented = null;")
    browser.find_element("id", "event-row-2").click()
    _wait(browser, "var p = window.mer.presented; return p && !document.getElementById('player').seeking "
                   f"&& p.frame === {onset}")
    assert browser.execute_script("return document.getElementById('player').paused")
    # Zoom narrows the visible time range (and the timeline follows the player there).
    before = browser.execute_script("return window.mer.view")
    browser.find_element("id", "zoom-in").click()
    after = browser.execute_script("return window.mer.view")
    assert after[1] - after[0] < 0.6 * (before[1] - before[0])
    assert after[0] <= float(events[1]["onset_s"]) <= after[1]
    # The replay of event 1 plays once on screen.
    browser.execute_script("document.getElementById('event-1').scrollIntoView()")
    _wait(browser, "var v = document.querySelector('#event-1 video.replay'); return v && !v.paused && "
                   "v.currentTime > 0.2 && v.videoWidth === 448")
    assert _console_errors(browser) == []
    assert browser.execute_script("return window.mer.errors") == []


def test_report_data_is_json_the_page_can_parse() -> None:
    """NaN and infinities are not JSON (JSON.parse would throw and the page stay blank): null; text stays."""
    text = _json({"f1": math.nan, "z": [math.inf, -math.inf, np.float32(2.5)], "note": "NaN </script>"})
    assert "</" not in text
    assert json.loads(text) == {"f1": None, "z": [None, None, 2.5], "note": "NaN </script>"}


def test_interview_report_text_is_for_a_reader(interview: Path) -> None:
    page = (interview / "report.html").read_text()
    visible = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    summary_f1 = re.search(r"<b>([0-9.]+)</b><span>spotting F1", visible)
    assert summary_f1 is not None  # the score mer-process printed
    assert "no labels" in visible  # spot-only: says so instead of asking to check labels
    assert str(interview.parent.parent) not in page  # no absolute paths
    text = re.sub(r"<pre>.*?</pre>|<[^>]+>", " ", visible, flags=re.S)  # what the reader sees, config folded away
    assert re.search(r"\d\d:\d\d\.\d{3}", text) and not re.search(r"\d\.\d{4}", text)  # times, no float noise
    for event in _rows(interview / "events.csv"):
        assert (interview / "events" / event["event"] / REPLAY).is_file()
        assert f"events/{event['event']}/{REPLAY}" in page and f"events/{event['event']}/{DI_PAIR}" in page


def _labelled_folder(folder: Path, *, events: int, seconds: float, fps: float, replay: Path | None,
                     rng: np.random.Generator) -> None:
    """A run folder as a run would write it, without processing video: frames.csv with per-region
    motion and face-lost gaps, labelled events with DI pairs (and a copy of one real replay)."""
    n = int(seconds * fps)
    with CsvStream(folder / "frames.csv", ["frame", "time_s", "face_found", "face_confidence",
                                           *(f"motion_{r}" for r in REGIONS), "head_motion", "spotter_state"]) as out:
        motion = np.abs(rng.normal(0, 3, (n, len(REGIONS))))
        lost = (np.arange(n) % int(300 * fps)) < int(2 * fps)  # 2 s without a face every 5 min
        for i in range(n):
            row = {"frame": i, "time_s": i / fps, "face_found": int(not lost[i]), "face_confidence": 0.9,
                   "head_motion": 0.1, "spotter_state": "face lost" if lost[i] else "idle"}
            row.update({f"motion_{r}": "" if lost[i] else motion[i, j] for j, r in enumerate(REGIONS)})
            out.write(row)
    classes = ("happiness", "surprise", "disgust")
    with CsvStream(folder / "events.csv", [*EVENT_COLUMNS, *(f"prob_{c}" for c in classes)]) as table:
        for e in range(1, events + 1):
            onset = int((e - 0.5) * n / events)
            table.write({"event": e, "onset_frame": onset, "apex_frame": onset + 4, "offset_frame": onset + 9,
                         "onset_s": onset / fps, "apex_s": (onset + 4) / fps, "offset_s": (onset + 9) / fps,
                         "duration_ms": 9000 / fps, "label": "surprise", "confidence": 0.7,
                         "prob_happiness": 0.2, "prob_surprise": 0.7, "prob_disgust": 0.1})
            dis = {name: rng.normal(0, 5, (224, 224, 1)).astype(np.float32) for name in ("di_onset", "di_offset")}
            write_evidence(folder / "events" / str(e), {}, dis)
            if replay is not None:
                shutil.copy(replay, folder / "events" / str(e) / REPLAY)
    with CsvStream(folder / "movements.csv", MOVEMENT_COLUMNS) as table:
        for k, kind in enumerate(("macro", "blink", "speech", "occlusion") * int(seconds / 20)):
            start = 5.0 * k + 1.0
            table.write({"kind": kind, "onset_frame": int(start * fps), "offset_frame": int((start + 0.8) * fps),
                         "onset_s": start, "offset_s": start + 0.8, "duration_ms": 800, "peak_score": 9.0,
                         "regions": "mouth", "reason": ""})
    write_json(folder / "summary.json", {
        "source": "/somewhere/session.mp4", "complete": True, "fps": fps, "frames": n, "duration_s": seconds,
        "face_found_fraction": float(1 - lost.mean()), "recording": str(folder.parent / "session.mp4"),
        "engine": {"description": "synthetic demo model (not for real analysis)", "classes": list(classes)},
        "config": {"spotter": {"threshold": 6.0}}})


def test_labelled_report_shows_confidence_top_three_model_card_and_the_recording(tmp_path: Path) -> None:
    """A live session folder (`mer-live --record`): the recording beside it is the player's video."""
    folder = tmp_path / "session_session"
    folder.mkdir()
    (tmp_path / "session.mp4").write_bytes(b"")
    _labelled_folder(folder, events=2, seconds=20, fps=30, replay=None, rng=np.random.default_rng(0))
    page = write_report(folder).read_text()
    assert "src='../session.mp4'" in page
    assert "<b>surprise</b> 70 %" in page and "top three: surprise 70 %, happiness 20 %, disgust 10 %" in page
    assert "synthetic demo model (not for real analysis)" in page
    assert "no labels" not in page and "Run configuration" in page


@needs_browser
def test_report_says_when_its_files_are_missing(browser, tmp_path: Path) -> None:
    _labelled_folder(tmp_path, events=1, seconds=20, fps=30, replay=None, rng=np.random.default_rng(2))
    report = write_report(tmp_path)
    (tmp_path / "events" / "1" / DI_PAIR).unlink()
    _open(browser, report)
    text = _wait(browser, "var b = document.getElementById('missing'); return b.offsetParent && b.textContent")
    assert "1 replay or image file(s) could not be loaded" in text
    browser.get_log("browser")  # the 404 it logged is this test's point, not a page error


@pytest.mark.slow
@needs_browser
def test_hour_long_report_stays_under_20_mb_and_opens_in_under_3_s(interview: Path, browser, tmp_path: Path) -> None:
    folder = tmp_path / "hour"
    folder.mkdir()
    replay = interview / "events" / "1" / REPLAY  # a real replay: its size is what every event costs
    _labelled_folder(folder, events=HOUR_EVENTS, seconds=HOUR_S, fps=HOUR_FPS, replay=replay,
                     rng=np.random.default_rng(1))
    started = time.perf_counter()
    report = write_report(folder)
    written_s = time.perf_counter() - started
    page = report.read_text()
    assets = {m for m in re.findall(r"src='([^']+)'", page) if not m.startswith("..")}
    size = report.stat().st_size + sum((folder / a).stat().st_size for a in assets)
    opened_ms = _open(browser, report)
    print(f"hour-long report: {report.stat().st_size / 1e6:.1f} MB html + {len(assets)} assets = "
          f"{size / 1e6:.1f} MB; written in {written_s:.1f} s; opened in {opened_ms:.0f} ms")
    assert len(assets) == 2 * HOUR_EVENTS
    assert size < 20e6
    assert opened_ms < 3000
    assert _console_errors(browser) == []
    view = browser.execute_script("return window.mer.view")
    assert view[1] == pytest.approx(HOUR_S - 1 / HOUR_FPS, abs=0.1)  # opens on the whole hour
    counts = lane_counts(folder)
    assert counts["micro"] == HOUR_EVENTS and counts["face lost"] == HOUR_S // 300 and counts["speech"] == HOUR_S // 20


def test_report_of_an_empty_or_faceless_run_says_what_it_has(tmp_path: Path) -> None:
    """An interrupted run (no file yet) and a video without a face still get a readable report."""
    assert "None found." in write_report(tmp_path).read_text()
    with CsvStream(tmp_path / "frames.csv", ["frame", "time_s", "face_found", *(f"motion_{r}" for r in REGIONS)]) as out:
        for i in range(90):
            out.write({"frame": i, "time_s": i / 30, "face_found": 0})
    page = write_report(tmp_path).read_text()
    assert "<b>0 %</b><span>of frames with a face" in page
    assert lane_counts(tmp_path)["face lost"] == 1


def test_index_links_every_report_and_says_which_failed(interview: Path) -> None:
    out = interview.parent
    index = write_index(out, batch_folders(out, ["interview.mp4", "broken.mp4"]),
                        failures={"broken.mp4": "cannot be read as a video"})
    page = index.read_text()
    assert "<a href='interview/report.html'>interview.mp4</a>" in page
    assert "failed: cannot be read as a video" in page
    micro = len(_rows(interview / "events.csv"))
    row = re.search(r"interview\.mp4</a></td><td>(\d\d:\d\d\.\d{3})</td><td>(\d+)</td>", page)
    assert row is not None and int(row.group(2)) == micro
