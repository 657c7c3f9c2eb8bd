"""The console: results on stdout, diagnostics on stderr, no native log noise without --verbose,
whole table rows when redirected; mer-live's option checks and --headless event lines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realtime.cli.live import app as live_app

GOLDEN_VIDEO = Path(__file__).parents[2] / "golden" / "interview.mp4"
NATIVE = ("W0000", "I0000", "absl::InitializeLog", "TensorFlow Lite", "Feedback manager")
LONG_NAME = "a_rather_long_interview_name_that_a_narrow_redirected_table_would_cut_short"


def _command(name: str) -> str:
    return shutil.which(name, path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / f"{LONG_NAME}.mp4"
    shutil.copy(GOLDEN_VIDEO, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_results_on_stdout_and_native_noise_only_with_verbose(verbose: bool, long_video: Path,
                                                              tiny_checkpoint: Path, tmp_path: Path) -> None:
    """A demo-like run (a classifier, MediaPipe, ONNX/torch) with both streams redirected to files."""
    command = [_command("mer-process"), str(long_video), "--out", str(tmp_path), "--engine", str(tiny_checkpoint),
               "--no-video", *(["--verbose"] if verbose else [])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "", "PYTHONPATH": str(Path(__file__).parents[3])})
    assert done.returncode == 0, done.stderr
    noise = [line for line in done.stderr.splitlines() if any(mark in line for mark in NATIVE)]
    if verbose:
        assert noise, "--verbose shows MediaPipe's own lines (else this test could not see them)"
    else:
        assert noise == [], noise[:5]
        assert "classifier:" in done.stderr  # our diagnostics still come
    assert LONG_NAME + ".mp4" in done.stdout  # the table row, not cut to the 80 columns of a pipe
    assert f"results: {(tmp_path / LONG_NAME / 'report.html').resolve()}" in done.stdout
    assert "results:" not in done.stderr and "mer-process" not in done.stderr.split("classifier:")[0]


@pytest.mark.parametrize("option, value", [("--fps", "0"), ("--fps", "-5"), ("--width", "0"), ("--height", "-1"),
                                           ("--buffer-frames", "0")])
def test_mer_live_refuses_values_that_cannot_be(option: str, value: str) -> None:
    result = CliRunner().invoke(live_app, ["--camera", str(GOLDEN_VIDEO), "--headless", option, value])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"error: {option} must be greater than 0, got {float(value):g}"]


@pytest.mark.slow
def test_mer_live_headless_prints_each_event_and_the_classifier(tiny_checkpoint: Path) -> None:
    result = CliRunner().invoke(live_app, ["--camera", str(GOLDEN_VIDEO), "--headless", "--engine",
                                           str(tiny_checkpoint), "--buffer-frames", "100000"])
    assert result.exit_code == 0, result.output
    assert f"classifier: {tiny_checkpoint}" in " ".join(result.output.split())
    events = [line for line in result.output.splitlines() if "micro-expression #" in line]
    assert len(events) >= 1  # the golden interview has 2 micro-expressions
    for line in events:
        time_s, rest = line.split(" s  micro-expression #")
        label = rest.split(": ", 1)[1]
        assert float(time_s) > 0 and label.split(" (")[0] in ("negative", "positive", "surprise")
        assert 0 <= float(label.split(" (")[1].split(")")[0]) <= 1
