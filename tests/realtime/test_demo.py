"""The README's main job: `mer-process --demo` builds the demo model and processes an interview."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realtime.cli.process import app
from realtime.demo import DEMO_DESCRIPTION


def test_demo_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MER_DEMO_DIR", str(tmp_path / "demo-cache"))
    result = CliRunner().invoke(app, ["--demo", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "demo_interview"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["complete"] and summary["engine"]["description"] == DEMO_DESCRIPTION
    assert summary["micro_expressions"] >= 3 and summary["spotting"]["f1"] >= 0.8
    metrics = json.loads((tmp_path / "demo-cache" / "run" / "metrics.json").read_text())
    assert metrics["uf1"] >= 0.6  # the demo model learned its synthetic classes (leave-one-subject-out)
    rows = (folder / "events.csv").read_text().splitlines()
    assert len(rows) == summary["micro_expressions"] + 1 and all(row.split(",")[8] for row in rows[1:])
    assert DEMO_DESCRIPTION in (folder / "report.html").read_text()
