"""A demo step that fails says so in one line, whatever typer raises (typer carries its own click)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from realtime.cli.demo import _run
from realtime.cli.process import app
from realtime.core.errors import MerError


def test_unwritable_demo_folder_is_one_error_line(demo_out: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the demo cache should be")
    monkeypatch.setenv("MER_DEMO_DIR", str(blocker / "demo"))
    result = CliRunner().invoke(app, ["--demo", "--out", str(demo_out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert f"`mer-synth dataset --out {blocker / 'demo' / 'data'}" in errors[0]
    assert "Not a directory" in errors[0]


def test_step_that_exits_non_zero_stops_the_demo(tmp_path: Path) -> None:
    # mer-build-engine prints its own error line and exits 2 (a typer.Exit, returned, not raised,
    # outside standalone mode): the demo must not go on as if the engine had been built.
    missing = tmp_path / "run" / "model.pt"
    with pytest.raises(MerError, match=r"^demo: `mer-build-engine .*model\.pt .*` failed \(exit 2\)$"):
        _run("mer-build-engine", [str(missing), "--out", str(tmp_path / "engine"), "--backend", "onnx"])
    assert not (tmp_path / "engine").exists()


def test_usage_error_in_a_step_is_one_line() -> None:
    with pytest.raises(MerError, match=r"^demo: `mer-synth dataset --no-such-option` failed: .*--no-such-option"):
        _run("mer-synth", ["dataset", "--no-such-option"])
