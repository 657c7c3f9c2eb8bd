"""mer-process on folders of frames: the rate comes from --fps, else from the release layout."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from realtime.cli.process import app


def _folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for number in range(1, 6):
        cv2.imwrite(str(folder / f"img{number}.jpg"), np.full((64, 64, 3), 100 + number, np.uint8))
    return folder


def test_frame_folder_rates(tmp_path: Path) -> None:
    plain = _folder(tmp_path / "clip")
    samm = _folder(tmp_path / "SAMM_longvideos" / "006_1")
    runner = CliRunner()
    given = runner.invoke(app, [str(plain), "--out", str(tmp_path / "out"), "--no-video", "--fps", "100"])
    released = runner.invoke(app, [str(samm), "--out", str(tmp_path / "out"), "--no-video"])
    # Flat grey frames hold no face: each run fails (issue 11: a video without any face counts as
    # failed), while its summary still records the rate and the frames read.
    assert given.exit_code == 1 and released.exit_code == 1, given.output + released.output
    summaries = {name: json.loads((tmp_path / "out" / name / "summary.json").read_text()) for name in ("clip", "006_1")}
    assert [(summaries[n]["fps"], summaries[n]["frames"]) for n in ("clip", "006_1")] == [(100.0, 5), (200.0, 5)]
