"""The long-video sheet layer and release layouts: sheets written here, and the real sheets of ../shared."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from realtime.core.errors import AnnotationError, InputError
from realtime.spotting.ground_truth import load_ground_truth
from support.shared_data import SHARED_DATA
from training.datasets.long_videos import MEGC_CLASSES, load_long_release, read_long_sheet
from training.datasets.sheets import read_workbook
from training.synth.long_release import make_long_release

ANNOTATIONS = SHARED_DATA / "annotations"
CASME2_LONG = ANNOTATIONS / "CAS(ME)2_code_final.xlsx"
SAMM_LONG = ANNOTATIONS / "SAMM_LongVideos_V2_Release.xlsx"
SAMM_MICRO = ANNOTATIONS / "SAMM_Micro_FACS_Codes_v2.xlsx"


def needs(*paths: Path) -> None:
    for path in paths:
        if not path.is_file():
            pytest.skip(f"real sheet {path.name} not at hand (looked in {path.parent}, ../shared beside the repo)")


def frames(folder: Path, names: list[str]) -> None:
    """Tiny stand-in frames: a release tree needs folders of images, not faces."""
    folder.mkdir(parents=True)
    for name in names:
        cv2.imwrite(str(folder / name), np.full((8, 8, 3), 128, np.uint8))


def write_casme2_sheet(path: Path) -> None:
    rows = [[1, "disgust1_1", 100, 105, 112, "4", "negative", "micro-expression", "disgust"],
            [1, "disgust1_2", 200, 210, 0, "4", "negative", "macro-expression", "disgust"],  # offset 0
            [1, "happy1_1", 300, 0, 320, "12", "positive", "macro-expression", "happiness"],  # apex 0
            [2, "disgust1_1", 50, 55, 40, "4", "negative", "micro-expression", "disgust"],  # onset > offset
            [2, "disgust1_2", 60, 62, 70, "4", "negative", "blink", "disgust"],  # unknown type
            [2, "happy1_1", 80, 85, 90, "12", "glad", "micro-expression", "happiness"]]  # unknown class
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame(rows).to_excel(writer, sheet_name="CASFEcode_final", header=False, index=False)
        pd.DataFrame([[15, "s15", 1], [16, "s16", 2]]).to_excel(writer, sheet_name="naming rule1", header=False,
                                                                  index=False)
        pd.DataFrame([["0101", "disgust1"], ["0502", "happy1"]]).to_excel(writer, sheet_name="naming rule2",
                                                                          header=False, index=False)


def test_casme2_sheet_written_here(tmp_path: Path) -> None:
    path = tmp_path / "casme_long.xlsx"
    write_casme2_sheet(path)
    truth = load_ground_truth(path, read_sheet=read_long_sheet)
    assert [(i.event, i.frames.onset, i.frames.apex, i.frames.offset) for i in truth.intervals] == [
        ("disgust1_1", 99, 104, 111), ("disgust1_2", 199, 209, 219), ("happy1_1", 299, None, 319),
        ("happy1_1", 79, 84, 89)]
    assert [(i.emotion, i.emotion_class) for i in truth.intervals] == [
        ("disgust", "negative"), ("disgust", "negative"), ("happiness", "positive"), ("happiness", "positive")]
    assert truth.intervals[0].onset_s == pytest.approx(99 / 30)
    assert [(p.row, p.action) for p in truth.problems] == [(2, "repaired"), (3, "repaired"), (4, "skipped"),
                                                          (5, "skipped"), (6, "repaired")]
    by_stem = read_long_sheet(path, video="15_0101disgustingteeth")
    by_name = read_long_sheet(path, video="disgust1", subject="s15")
    by_code = read_long_sheet(path, video="0101", subject="1")
    assert by_stem.intervals == by_name.intervals == by_code.intervals == truth.intervals[:2]
    assert [p.row for p in by_stem.problems] == [2]
    with pytest.raises(InputError, match="no intervals"):
        read_long_sheet(path, video="happy2", subject="1")
    with pytest.raises(InputError, match="belongs to subject 1"):
        read_long_sheet(path, video="15_0101disgustingteeth", subject="2")


def write_samm_sheets(root: Path) -> tuple[Path, Path]:
    long_path, micro_path = root / "SAMM_LongVideos_V2_Release.xlsx", root / "SAMM_Micro_FACS_Codes_v2.xlsx"
    legend = [["SAMM Long Videos Dataset - FACS Codes"], [None], ["Symbol Key:"]]
    header = [["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
               "Action Units", "Notes"]]
    rows = [["006", "006_1_1", 1, 566.4, 647.6, 743.2, 177.8, "Macro", "4(B/C)+7B", None],
            ["006", "006_1_2", 1, 3562, 3588, 3632, 71, "Micro - 1/2", "4+7", None],
            ["006", "006_2_1", 2, 1071, -1, 1134, 64, "Micro - 1/2", "A14C", "Blinks"],
            ["007", "007_1_1", 1, 0, 3323, 4123.4, 4124.4, "Macro", "6C", None],
            ["007", "007_1_2", 1, 10, 20, 30, 21, "Other", "", None]]
    pd.DataFrame(legend + header + rows).to_excel(long_path, sheet_name="FACS_Movement_Only", header=False,
                                                  index=False)
    micro = [["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
              "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"],
             ["006", "006_1_2", 1, 5562, 5588, 5632, 71, "Micro - 1/2", "4+7", "Anger", 3, None]]
    pd.DataFrame([["SAMM Dataset"], [None]] + micro).to_excel(micro_path, sheet_name="MICRO_ONLY", header=False,
                                                               index=False)
    return long_path, micro_path


def test_samm_release_written_here(tmp_path: Path) -> None:
    long_path, _ = write_samm_sheets(tmp_path)
    truth = read_long_sheet(long_path)
    assert [(i.video, i.kind, i.frames.onset, i.frames.apex, i.frames.offset) for i in truth.intervals] == [
        ("006_1", "macro", 565, 647, 742), ("006_1", "micro", 3561, 3587, 3631),
        ("006_2", "micro", 1070, None, 1133), ("007_1", "macro", 2522, 3322, 4122)]
    assert truth.intervals[1].onset_s == pytest.approx(3561 / 200) and truth.intervals[1].row == 6
    assert Counter(p.action for p in truth.problems) == {"repaired": 4, "skipped": 1}
    with pytest.raises(InputError, match="no intervals"):
        read_long_sheet(long_path, video="006_9")
    for video in ("006_1", "006_2", "008_1"):  # 008_1: a video with nothing coded
        frames(tmp_path / "SAMM_longvideos" / video, [f"{video}_{n:04d}.jpg" for n in (1, 2, 10)])
    release = load_long_release("samm-long", tmp_path)
    assert [(v.name, v.subject, v.fps, len(v.truth)) for v in release.videos] == [
        ("006_1", "006", 200.0, 2), ("006_2", "006", 200.0, 1), ("008_1", "008", 200.0, 0)]
    micro = [i for v in release.videos for i in v.truth if i.kind == "micro"]
    assert [(i.event, i.emotion, i.emotion_class) for i in micro] == [("006_1_2", "anger", "negative"),
                                                                      ("006_2_1", "", "")]
    by_row = {(p.row, p.clip): p.message for p in release.problems}
    assert "no row '006_2_1'" in by_row[(7, "006_2_1")]  # the micro sheet lacks it: reported by row
    assert "no frame folder" in by_row[(8, "007_1")]  # coded, but no folder: not scored, said so


def test_unusable_sheets_raise_one_error(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="not found"):
        read_long_sheet(tmp_path / "missing.xlsx")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(AnnotationError, match="not a readable xlsx"):
        read_long_sheet(broken)
    other = tmp_path / "other.xlsx"
    pd.DataFrame([["a", "b"]]).to_excel(other, header=False, index=False)
    with pytest.raises(AnnotationError, match="neither the CAS"):
        read_long_sheet(other)
    with pytest.raises(InputError, match="unknown long-video dataset"):
        load_long_release("casme3-long", tmp_path)


def test_real_casme2_long_release(tmp_path: Path) -> None:
    """A release tree laid out from the real sheet's naming tabs, with tiny stand-in frames."""
    needs(CASME2_LONG)
    truth = read_long_sheet(CASME2_LONG)
    assert len(truth.intervals) == 357 and Counter(i.kind for i in truth.intervals) == {"macro": 300, "micro": 57}
    assert len({item.subject for item in truth.intervals}) == 22
    assert not [p for p in truth.problems if p.action == "skipped"]
    assert sum("offset 0" in p.message for p in truth.problems) == 44
    assert all(p.row is not None for p in truth.problems)
    video = read_long_sheet(CASME2_LONG, video="24_0401")  # folder s24 is sheet subject 8, 0401 is anger1
    assert {(i.subject, i.video) for i in video.intervals} == {("8", "anger1")} and len(video.micro_intervals()) == 5
    tabs = read_workbook(CASME2_LONG)
    folder_of = {int(row[2]): int(row[0]) for row in tabs["naming rule1"] if len(row) >= 3 and row[0].isdigit()}
    code_of = {row[1]: row[0].zfill(4) for row in tabs["naming rule2"] if row and row[0].isdigit()}
    root = tmp_path / "CAS(ME)^2"
    for subject, name in truth.videos:
        number = folder_of[int(subject)]
        frames(root / "rawpic" / f"s{number}" / f"{number}_{code_of[name]}{name}", ["img1.jpg", "img2.jpg"])
    missing = next(name for name in code_of if ("1", name) not in truth.videos)  # a video subject 1 has no row for
    frames(root / "rawpic" / f"s{folder_of[1]}" / f"{folder_of[1]}_{code_of[missing]}x", ["img1.jpg"])
    shutil.copy(CASME2_LONG, root / CASME2_LONG.name)  # into the test's own folder, beside the frames
    release = load_long_release("casme2-long", root)
    assert len(release.videos) == len(truth.videos) + 1
    assert sum(len(v.intervals("micro")) for v in release.videos) == 57
    assert sum(len(v.intervals("macro")) for v in release.videos) == 300
    assert all(v.fps == 30.0 for v in release.videos)
    assert any(not v.truth for v in release.videos)  # a video with nothing coded is part of the release
    micro = [i for v in release.videos for i in v.truth if i.kind == "micro"]
    assert all(i.emotion and i.emotion_class in MEGC_CLASSES for i in micro)  # fine and coarse, every row
    assert set(Counter(i.emotion_class for i in micro)) <= set(MEGC_CLASSES)
    assert all(p.row is not None for p in release.problems)


def test_real_samm_long_release(tmp_path: Path) -> None:
    """SAMM Long Videos laid out from the real sheet; emotions joined from the real micro sheet."""
    needs(SAMM_LONG, SAMM_MICRO)
    truth = read_long_sheet(SAMM_LONG)
    assert len(truth.intervals) == 502 and Counter(i.kind for i in truth.intervals) == {"macro": 343, "micro": 159}
    assert len(truth.videos) == 147 and len({item.subject for item in truth.intervals}) == 30
    assert not [p for p in truth.problems if p.action == "skipped"]
    assert sum("apex -1" in p.message for p in truth.problems) == 6
    for _, name in truth.videos:
        frames(tmp_path / "SAMM_longvideos" / name, [f"{name}_0001.jpg"])
    release = load_long_release("samm-long", tmp_path, annotations=SAMM_LONG, micro_annotations=SAMM_MICRO)
    assert len(release.videos) == 147 and all(v.fps == 200.0 for v in release.videos)
    micro = [i for v in release.videos for i in v.truth if i.kind == "micro"]
    assert len(micro) == 159
    assert all(i.emotion and i.emotion_class in MEGC_CLASSES for i in micro)  # all 159 join by clip name
    assert len({i.emotion for i in micro}) >= 5 and {i.emotion_class for i in micro} == set(MEGC_CLASSES)
    assert not [p for p in release.problems if "micro sheet" in p.message or "no row" in p.message]
    assert all(p.row is not None for p in release.problems)


def test_synthetic_samm_release_reads_back(tmp_path: Path) -> None:
    """mer-synth's SAMM layout: frames at 200 fps, the long-video sheet and the micro sheet with emotions."""
    made = make_long_release(tmp_path / "samm", layout="samm-long", subjects=1, videos_per_subject=2, micro=(1, 0),
                             duration=2.5, size=(160, 120))
    release = load_long_release("samm-long", made.root)
    assert [(v.name, v.subject, v.fps) for v in release.videos] == [("006_1", "006", 200.0), ("006_2", "006", 200.0)]
    assert [len(v.intervals("micro")) for v in release.videos] == [1, 0] and made.micro == 1
    assert len(list(release.videos[0].folder.glob("006_1_*.jpg"))) == 500  # 2.5 s at 200 fps
    (micro,) = [i for i in release.videos[0].truth if i.kind == "micro"]
    assert micro.emotion and micro.emotion_class in MEGC_CLASSES and micro.row == 11  # header on row 10
    assert not release.problems
    with pytest.raises(InputError, match="not empty"):
        make_long_release(made.root, layout="samm-long")
