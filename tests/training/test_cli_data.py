"""`mer-data check`: the table, the problem lines and the exit codes, through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest
from typer.testing import CliRunner

from training.cli.data import app
from support.shared_data import SHARED_DATA

ANNOTATIONS = SHARED_DATA / "annotations"
runner = CliRunner()


def casme_release(root: Path, clips: dict[tuple[str, str], str]) -> Path:
    """CASME-II RAW layout: subXX/<clip>/img20..img49.jpg and a coding sheet with a '/' apex row."""
    frame = np.random.default_rng(0).integers(0, 255, (24, 24)).astype(np.uint8)
    workbook = openpyxl.Workbook()
    workbook.active.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                            "Action Units", "Estimated Emotion"])
    for (subject, clip), emotion in clips.items():
        folder = root / f"sub{subject}" / clip
        folder.mkdir(parents=True)
        for number in range(20, 50):
            cv2.imwrite(str(folder / f"img{number}.jpg"), frame)
        workbook.active.append([subject, clip, None, 22, 30, 45, None, "4+L10", emotion])
    workbook.active.append(["01", "EP99_01", None, 22, "/", 45, None, "12", "happiness"])  # no folder
    workbook.save(root / "CASME2-coding-test.xlsx")
    return root


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_help_names_the_options() -> None:
    code, output = run("check", "--help")
    assert code == 0
    for option in ("--dataset", "--root", "--annotations", "--class-map", "--min-clips"):
        assert option in output
    assert "casme2" in output and "samm" in output and "mmew" in output


def test_check_prints_table_and_every_problem(tmp_path: Path) -> None:
    root = casme_release(tmp_path, {("01", "EP02_01f"): "happiness", ("01", "EP03_02"): "others",
                                    ("02", "EP09_05f"): "disgust", ("02", "EP10_01"): "fear"})
    code, output = run("check", "--dataset", "casme2", "--root", str(root), "--min-clips", "1")
    assert code == 0, output
    lines = output.splitlines()
    table = [line for line in lines if line.startswith(("│", "┃"))]
    assert "disgust" in table[0] and "others" in table[0] and "total" in table[0]
    assert "fear" not in table[0]
    body = [[cell.strip() for cell in line.strip("│┃").split("│")] for line in table[1:]]
    assert body == [["01", "0", "1", "1", "2"], ["02", "1", "0", "0", "1"], ["all", "1", "1", "1", "3"]]
    assert "3 problems (1 repaired, 1 skipped, 1 warning)" in output
    problem_lines = [line.strip() for line in lines if line.startswith("  ") and ":" in line]
    assert problem_lines == [
        "repaired CASME2-coding-test.xlsx:6 EP99_01: apex '/' is not a frame number; to be located at the peak "
        "of facial motion between onset and offset",
        f"skipped CASME2-coding-test.xlsx:6 EP99_01: no frame folder for subject 01, clip EP99_01 under {root}",
        f"warning {root / 'CASME2-coding-test.xlsx'}: 1 clip of emotion 'fear' not used: the class map drops it",
    ]
    assert "3 usable clips, 3 classes (disgust, happiness, others), 2 subjects" in output


def test_check_exits_1_when_nothing_is_usable(tmp_path: Path) -> None:
    root = casme_release(tmp_path, {("01", "EP02_01f"): "happiness"})
    code, output = run("check", "--dataset", "casme2", "--root", str(root))  # 1 clip < 10 per class
    assert code == 1
    assert "1 clip of class 'happiness' not used: fewer than 10 clips" in output
    assert "nothing usable" in output and "┃" not in output


def test_check_exits_2_with_one_line_on_an_unreadable_sheet(tmp_path: Path) -> None:
    sheet = tmp_path / "coding.xlsx"
    sheet.write_text("not a spreadsheet")
    code, output = run("check", "--dataset", "samm", "--root", str(tmp_path), "--annotations", str(sheet))
    assert code == 2
    assert output.count("error:") == 1 and "not a readable xlsx file" in output and "Traceback" not in output
    code, output = run("check", "--dataset", "smic", "--root", str(tmp_path))
    assert code == 2 and "smic" in output  # not a choice


@pytest.mark.skipif(not ANNOTATIONS.is_dir(), reason="../shared/data/annotations is absent on this machine")
def test_check_real_sheet_without_frames(tmp_path: Path) -> None:
    code, output = run("check", "--dataset", "samm", "--root", str(tmp_path),
                       "--annotations", str(ANNOTATIONS / "SAMM_Micro_FACS_Codes_v2.xlsx"))
    assert code == 1
    assert "162 problems (2 repaired, 159 skipped, 1 warning)" in output
    assert "SAMM_Micro_FACS_Codes_v2.xlsx:140 028_4_1: apex 1143 is after offset 1134" in output
    assert "SAMM_Micro_FACS_Codes_v2.xlsx:15 006_1_2: no frame folder for subject 006, clip 006_1_2" in output
