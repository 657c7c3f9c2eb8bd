"""The README's main job: `mer-process --demo` builds the demo model and processes an interview."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realtime.cli.demo import DEMO_DESCRIPTION
from realtime.cli.process import app


def _demo_model_folder(tmp_path: Path) -> Path:
    """Where the test's demo model lives. `.ci/run` runs the README's main job first, which builds
    the demo model from scratch in $MER_DEMO_DIR with this very checkout; the test reuses that build
    (as a second `mer-process --demo` would) and builds its own in `tmp_path` everywhere else."""
    built = os.environ.get("MER_DEMO_DIR")
    if built and (Path(built) / "engine" / "engine.json").is_file():
        return Path(built)
    return tmp_path / "demo-cache"


@pytest.mark.slow
def test_demo_runs_end_to_end(demo_out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MER_DEMO_DIR", str(_demo_model_folder(tmp_path)))
    result = CliRunner().invoke(app, ["--demo", "--out", str(demo_out)])
    assert result.exit_code == 0, result.output
    folder = demo_out / "demo_interview"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["complete"] and summary["engine"]["description"] == DEMO_DESCRIPTION
    assert summary["micro_expressions"] >= 3 and summary["spotting"]["f1"] >= 0.8
    with (folder / "events.csv").open(newline="") as handle:
        events = list(csv.DictReader(handle))
    assert len(events) == summary["micro_expressions"] and all(e["label"] for e in events)
    # The demo model learned its synthetic classes: labels agree with the interview's ground truth.
    with (demo_out / "demo_interview_groundtruth.csv").open(newline="") as handle:
        truth = [row for row in csv.DictReader(handle) if row["kind"] == "micro"]
    correct = sum(any(abs(int(e["apex_frame"]) - int(t["apex_frame"])) <= 3 and e["label"] == t["emotion"]
                      for t in truth) for e in events)
    assert correct >= len(truth) - 1, (events, truth)
    assert DEMO_DESCRIPTION in (folder / "report.html").read_text()
