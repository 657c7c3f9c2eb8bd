"""Dataset readers: releases written here in the owners' layouts with the real sheets' quirks,
and the real coding sheets in ../shared/data/annotations (skipped only where that is absent)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

from realtime.core.errors import AnnotationError, InputError
from realtime.core.interval import Interval
from training.datasets import (MEGC3_CLASSES, Clip, DatasetIndex, class_order, load_composite, load_dataset,
                               read_composite, read_sheet, resolve_class_map)
from realtime.core.problems import Problem
from support.shared_data import SHARED_DATA

ANNOTATIONS = SHARED_DATA / "annotations"
CASME_HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                "Estimated Emotion", "Objective Classes"]
SAMM_LEGEND = [["SAMM Dataset - Master FACS Codes", None, None, None, "(Note to the users: ...)"], [],
               ["Symbol Key:"], ['"/" = or'], [], ["AU Help:"], ['"L2 or R2" = Unilateral AU 2 on left side'],
               ['"A2" = Asymmetric AU 2'], [], [], [], [], []]  # 13 rows: header on row 14, as shipped
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]


def write_frames(folder: Path, numbers: Iterable[int], name: Callable[[int], str], *,
                 peak: int | None = None, size: int = 48) -> None:
    """Small grey JPEG frames: a fixed texture, plus a patch that brightens up to frame `peak` and back."""
    folder.mkdir(parents=True, exist_ok=True)
    texture = np.random.default_rng(0).integers(60, 120, (size, size)).astype(np.float32)
    for number in numbers:
        frame = texture.copy()
        if peak is not None:
            frame[size // 4:size // 2, size // 4:3 * size // 4] += 120 * max(0.0, 1 - abs(number - peak) / 6)
        cv2.imwrite(str(folder / name(number)), np.clip(frame, 0, 255).astype(np.uint8))


def write_xlsx(path: Path, rows: Sequence[Sequence[object]], *, extra_sheets: int = 0) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    for number in range(extra_sheets):  # CASME-II ships two empty sheets beside the data
        workbook.create_sheet(f"Sheet{number + 2}")
    workbook.save(path)
    return path


def summary(problems: Iterable[Problem]) -> list[tuple[int | None, str | None, str]]:
    return [(problem.row, problem.clip, problem.action) for problem in problems]


def by_id(index: DatasetIndex) -> dict[str, Clip]:
    return {clip.clip_id: clip for clip in index.clips}


def img(number: int) -> str:
    return f"img{number}.jpg"


@pytest.fixture
def casme_raw(tmp_path: Path) -> Path:
    """What `mer-synth dataset` writes: subXX folders and CASME2-coding-synth.xlsx in one root."""
    root = tmp_path / "CASME2-RAW"
    write_frames(root / "sub01" / "EP02_01f", range(95, 131), img)  # img95..img130: numeric, not name order
    write_frames(root / "sub01" / "EP12_01f", range(1, 41), img, peak=23)
    write_frames(root / "sub02" / "EP09_05f", range(60, 81), img)
    write_frames(root / "sub02" / "EP16_04f", range(141, 171), img)  # files end before the sheet's offset
    write_frames(root / "sub02" / "EP03_01", [10, 11, 12, 14, 15, 16, 17, 18], img)  # frame 13 is missing
    write_frames(root / "sub02" / "EP05_02", range(1, 10), img)
    (root / "sub02" / "EP05_02" / "Thumbs.db").write_bytes(b"not a frame")
    write_xlsx(root / "CASME2-coding-synth.xlsx", [
        CASME_HEADER,
        ["01", "EP02_01f", None, 99, 104, 128, None, 12, "happiness", 1],                # 2
        ["01", "EP12_01f", None, 10, "/", 35, None, "4+7+L10", "disgust", 4],            # 3: apex '/'
        [2, "EP09_05f", None, 69, 69, 75, None, "R2+15", "Disgust ", 7],                 # 4: number subject, on == apex
        ["02", "EP16_04f", None, 141, 181, 181, None, 4, "others", 3],                   # 5: apex == offset > files
        ["02", "EP03_01", None, 11, 13, 17, None, "4(B/C)", "repression", 5],           # 6: apex file missing
        ["03", "EP01_01", None, 5, 9, 20, None, 14, "others", 7],                        # 7: no folder
        ["02", "EP05_02", None, 8, 7, 3, None, 4, "others", 7],                          # 8: offset < onset
        ["02", "EP05_02", None, 2, 4, 8, None, 15, "sadness", 6],                        # 9: a dropped class
        [None, None, None, None, None, None, None, None, None, None],                    # 10: blank
        ["02", None, None, 2, 4, 8, None, 15, "others", 7],                              # 11: no clip name
        ["01", "EP02_01f", None, 99, 104, 128, None, 12, "happiness", 1],                # 12: duplicate of row 2
    ], extra_sheets=2)
    return root


def test_casme2_raw_release_quirks(casme_raw: Path) -> None:
    index = load_dataset("casme2", casme_raw, min_clips_per_class=1)
    clips = by_id(index)
    assert set(clips) == {"EP02_01f", "EP12_01f", "EP09_05f", "EP16_04f", "EP03_01"}
    first = clips["EP02_01f"]
    assert (first.dataset, first.subject, first.emotion, first.label, first.action_units) == (
        "casme2", "01", "happiness", "happiness", "12")
    assert first.frame_numbers == tuple(range(95, 131))
    assert [path.name for path in first.frames[4:7]] == ["img99.jpg", "img100.jpg", "img101.jpg"]
    assert first.positions == Interval(4, 9, 33)
    assert first.sheet_frames == Interval(99, 104, 128)
    located = clips["EP12_01f"]
    assert (located.sheet_frames.apex, located.positions.apex) == (23, 22)  # the motion peak in the frames
    assert clips["EP09_05f"].subject == "02" and clips["EP09_05f"].positions.onset == clips["EP09_05f"].positions.apex
    clamped = clips["EP16_04f"]
    assert (clamped.sheet_frames.onset, clamped.sheet_frames.offset, clamped.positions.offset) == (141, 170, 29)
    assert clamped.sheet_frames.apex == 155  # apex (181) beyond the files, no motion in 141..170: the middle
    gap = clips["EP03_01"]
    assert gap.sheet_frames.apex in (12, 14) and gap.frame_numbers[gap.positions.apex] == gap.sheet_frames.apex
    assert summary(index.problems) == [
        (3, "EP12_01f", "repaired"),
        (4, "EP09_05f", "warning"),
        (5, "EP16_04f", "warning"), (5, "EP16_04f", "repaired"), (5, "EP16_04f", "repaired"),
        (6, "EP03_01", "repaired"),
        (7, "EP01_01", "skipped"),
        (8, "EP05_02", "skipped"),
        (11, None, "skipped"),
        (12, "EP02_01f", "skipped"),
        (None, None, "warning"),
    ]
    messages = [problem.message for problem in index.problems]
    assert messages[0].startswith("apex '/' is not a frame number; located at frame 23")
    assert "no frame file for offset 181" in messages[3] and "apex 181 is outside" in messages[4]
    assert "no frame folder for subject 03, clip EP01_01" in messages[6]
    assert messages[7] == "offset 3 is before onset 8"
    assert messages[-1] == "1 clip of emotion 'sadness' not used: the class map drops it"
    assert all(problem.file.name == "CASME2-coding-synth.xlsx" for problem in index.problems)
    assert index.classes == ("disgust", "happiness", "repression", "others")  # the map's order, surprise absent


def test_casme2_cropped_release_with_csv_sheet_above_it(tmp_path: Path) -> None:
    release = tmp_path / "CASME2" / "Cropped"
    write_frames(release / "sub05" / "EP19_05f", range(1, 61), lambda n: f"reg_img{n}.jpg", peak=41)
    sheet = tmp_path / "CASME2" / "CASME2-coding-20190701.csv"
    sheet.write_text("Subject,Filename,,OnsetFrame,ApexFrame,OffsetFrame,,Action Units,Estimated Emotion\n"
                     "05,EP19_05f,,20,,50,,4+7+L10,disgust\n"
                     "05,EP19_05f2,,20.0,30.5,50,,4,disgust\n")
    index = load_dataset("casme2", tmp_path / "CASME2", min_clips_per_class=1)  # finds Cropped/ and the csv
    (clip,) = index.clips
    assert clip.frames[0].name == "reg_img1.jpg" and (clip.sheet_frames.onset, clip.sheet_frames.apex) == (20, 41)
    assert summary(index.problems) == [(2, "EP19_05f", "repaired"), (3, "EP19_05f2", "repaired"),
                                       (3, "EP19_05f2", "skipped")]
    assert index.problems[0].message.startswith("no apex; located at frame 41")
    assert index.problems[1].message == "apex 30.5 is not a whole frame: rounded to 30"
    # the same release, pointed at the folder holding subXX, with the sheet given explicitly
    again = load_dataset("casme2", release, annotations=sheet, min_clips_per_class=1)
    assert again.clips == index.clips


def test_samm_release_with_legend_rows(tmp_path: Path) -> None:
    root = tmp_path / "SAMM"
    write_frames(root / "006" / "006_1_2", range(5550, 5640), lambda n: f"006_{n:05d}.jpg")
    write_frames(root / "028" / "028_4_1", range(1060, 1150), lambda n: f"028_{n:05d}.jpg", peak=1100)
    write_frames(root / "011" / "011_2_3", range(990, 1012), lambda n: f"011_{n:05d}.jpg")
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", [
        *SAMM_LEGEND, SAMM_HEADER,
        ["006", "006_1_2", 1, 5562, 5588, 5632, "=SUM(F15-D15)+1", "Micro - 1/2", "4+7", "Anger", 3, None],
        ["028", "028_4_1", 4, 1071, 1143, 1134, "=SUM(F16-D16)+1", "Micro - 1/2", "A14C", "Contempt", 7,
         "Blinks"],
        ["011", "011_2_3", 2, 995, 1000, 1010, "=SUM(F17-D17)+1", "Micro - 1/2", "L2", "Other", 7, None],
        ["011", "011_2_4", 2, 995, 1000, 1010, "=SUM(F18-D18)+1", "Micro - 1/2", "4(B/C)", "Fear", 7, None],
    ])
    index = load_dataset("samm", tmp_path, min_clips_per_class=1)  # root one above the subject folders
    clips = by_id(index)
    assert set(clips) == {"006_1_2", "028_4_1", "011_2_3"}
    assert clips["006_1_2"].subject == "006" and clips["006_1_2"].frames[0].name == "006_05550.jpg"
    assert clips["006_1_2"].positions == Interval(12, 38, 82)
    assert clips["028_4_1"].sheet_frames.apex == 1100  # apex after offset in the sheet: located
    assert clips["011_2_3"].label == "others" and clips["011_2_3"].action_units == "L2"
    assert index.classes == ("anger", "contempt", "others")
    assert summary(index.problems) == [(16, "028_4_1", "repaired"), (18, "011_2_4", "skipped")]  # no folder
    assert index.problems[0].message.startswith("apex 1143 is after offset 1134; located at frame 1100")


def test_mmew_release(tmp_path: Path) -> None:
    root = tmp_path / "MMEW"
    write_frames(root / "Micro_Expression" / "happiness" / "S01-01-001", range(1, 25), lambda n: f"{n}.jpg")
    write_frames(root / "Micro_Expression" / "others" / "S02-05-003", range(1, 25), lambda n: f"{n}.jpg", peak=15)
    write_frames(root / "Micro_Expression" / "anger" / "S03-02-001", range(1, 12), lambda n: f"{n}.jpg")
    write_xlsx(root / "MMEW_Micro_Exp.xlsx", [
        ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "AU", "Estimated Emotion"],
        ["S01", "S01-01-001", 3, 9, 20, "AU12", "happiness"],
        ["S02", "S02-05-003", 2, 30, 22, "AU4", "surprise"],  # apex past offset; folder under others/
        ["S03", "S03-02-001", 2, 5, 9, "AU1+AU2", "anger"],
    ])
    index = load_dataset("mmew", root, min_clips_per_class=1)
    clips = by_id(index)
    assert clips["S01-01-001"].frame_numbers == tuple(range(1, 25)) and clips["S01-01-001"].positions.apex == 8
    assert clips["S02-05-003"].sheet_frames.apex == 15 and clips["S02-05-003"].label == "surprise"
    assert index.classes == ("happiness", "surprise")
    assert summary(index.problems) == [(3, "S02-05-003", "repaired"), (None, None, "warning")]
    assert index.problems[-1].message == "1 clip of emotion 'anger' not used: the class map drops it"
    # pointing at Micro_Expression itself works too, with the sheet given
    assert load_dataset("mmew", root / "Micro_Expression", annotations=root / "MMEW_Micro_Exp.xlsx",
                        min_clips_per_class=1).clips == index.clips


def test_class_maps_order_and_minimum(casme_raw: Path) -> None:
    assert class_order(resolve_class_map("casme2", None)) == ("disgust", "happiness", "surprise", "repression",
                                                              "others")
    assert class_order(resolve_class_map("samm", None)) == ("happiness", "surprise", "anger", "contempt", "others")
    assert class_order(resolve_class_map("mmew", None)) == ("happiness", "surprise", "disgust", "fear", "sadness",
                                                            "others")
    assert class_order(resolve_class_map("casme2", "megc3")) == MEGC3_CLASSES
    with pytest.raises(InputError, match="unknown class map 'nope'"):
        resolve_class_map("casme2", "nope")
    # the paper's default: every class under 10 clips dropped, each drop reported
    assert load_dataset("casme2", casme_raw).clips == ()
    index = load_dataset("casme2", casme_raw, class_map="megc3", min_clips_per_class=2)
    assert index.classes == ("negative",)
    assert Counter(clip.emotion for clip in index.clips) == {"disgust": 2, "repression": 1, "sadness": 1}
    assert [problem.message for problem in index.problems if problem.row is None] == [
        "1 clip of emotion 'others' not used: the class map drops it",
        "1 clip of class 'positive' not used: fewer than 2 clips"]
    custom = load_dataset("casme2", casme_raw, class_map={"Others": "rest", "Disgust": "negative",
                                                          "happiness": "happy"}, min_clips_per_class=1)
    assert custom.classes == ("rest", "negative", "happy")
    assert custom.counts() == {"rest": 1, "negative": 2, "happy": 1}


def test_unreadable_sheets_raise_and_missing_ones_are_named(tmp_path: Path, casme_raw: Path) -> None:
    with pytest.raises(AnnotationError, match="coding sheet not found"):
        read_sheet("casme2", tmp_path / "missing.xlsx")
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(AnnotationError, match="not a readable xlsx"):
        read_sheet("casme2", bad)
    headless = write_xlsx(tmp_path / "headless.xlsx", [["01", "EP02_01f", 1, 2, 3]])
    with pytest.raises(AnnotationError, match="no header row"):
        read_sheet("casme2", headless)
    partial = write_xlsx(tmp_path / "partial.xlsx", [["Subject", "Filename", "OnsetFrame", "OffsetFrame"]])
    with pytest.raises(AnnotationError, match="no column ApexFrame, Estimated Emotion"):
        read_sheet("casme2", partial)
    with pytest.raises(AnnotationError, match="no SAMM coding sheet"):
        load_dataset("samm", casme_raw / "sub01")
    with pytest.raises(InputError, match="not a folder"):
        load_dataset("casme2", tmp_path / "nowhere")
    with pytest.raises(InputError, match="unknown dataset 'smic'"):
        load_dataset("smic", casme_raw)


def test_composite_list_joined_with_releases(tmp_path: Path, casme_raw: Path) -> None:
    gt = tmp_path / "gt.csv"
    gt.write_text("casme2,sub01,EP02_01f,1\ncasme2,sub01,EP12_01f,0\ncasme2,sub02,EP09_05f,0\n"
                  "casme2,sub09,EP01_01,2\nsmic,s01,s01_po_01,1\nsamm,6,006_1_2,7\n")
    index = load_composite({"casme2": casme_raw}, gt=gt)
    assert [(clip.clip_id, clip.label) for clip in index.clips] == [
        ("EP02_01f", "positive"), ("EP12_01f", "negative"), ("EP09_05f", "negative")]
    assert index.classes == ("negative", "positive")
    assert summary(index.problems) == [
        (6, "006_1_2", "skipped"),  # the list's own: label 7
        (None, None, "warning"),  # smic: no reader
        (3, "EP12_01f", "repaired"), (4, "EP09_05f", "warning"), (7, "EP01_01", "skipped"),
        (12, "EP02_01f", "skipped"),  # the release's problems about listed clips
        (4, "EP01_01", "skipped"),  # listed (sub09) but not in the release
    ]
    assert index.problems[1].message == "1 smic clips of the list not used: no reader for smic"


@pytest.mark.skipif(not ANNOTATIONS.is_dir(), reason="../shared/data/annotations is absent on this machine")
def test_real_casme2_sheet() -> None:
    sheet = read_sheet("casme2", ANNOTATIONS / "CASME2-coding-20190701.xlsx")
    assert len(sheet.rows) == 255 and len({row.subject for row in sheet.rows}) == 26
    assert sorted({row.subject for row in sheet.rows})[:2] == ["01", "02"]
    assert Counter(row.emotion for row in sheet.rows) == {
        "others": 99, "disgust": 63, "happiness": 32, "surprise": 28, "repression": 27, "sadness": 4, "fear": 2}
    assert [(p.row, p.clip, p.action, p.message) for p in sheet.problems] == [
        (31, "EP12_01f", "repaired",
         "apex '/' is not a frame number; to be located at the peak of facial motion between onset and offset"),
        (47, "EP09_05f", "warning", "onset == apex (69): the onset phase is one frame, its DI is zero"),
        (53, "EP16_04f", "warning", "apex == offset (181): the offset phase is one frame, its DI is zero"),
        (120, "EP09_06", "warning", "apex == offset (111): the offset phase is one frame, its DI is zero"),
        (204, "EP16_01", "warning", "apex == offset (111): the offset phase is one frame, its DI is zero"),
        (239, "EP18_04f", "warning", "apex == offset (116): the offset phase is one frame, its DI is zero"),
    ]
    first = sheet.rows[0]
    assert (first.subject, first.clip_id, first.frames) == ("01", "EP02_01f", Interval(46, 59, 86))
    assert {row.action_units for row in sheet.rows} >= {"4+L10", "12", "R2+15"}


@pytest.mark.skipif(not ANNOTATIONS.is_dir(), reason="../shared/data/annotations is absent on this machine")
def test_real_samm_sheet() -> None:
    sheet = read_sheet("samm", ANNOTATIONS / "SAMM_Micro_FACS_Codes_v2.xlsx")
    assert len(sheet.rows) == 159 and len({row.subject for row in sheet.rows}) == 29
    assert sheet.rows[0].subject == "006" and sheet.rows[0].row == 15
    assert Counter(row.emotion for row in sheet.rows) == {
        "anger": 57, "other": 26, "happiness": 26, "surprise": 15, "contempt": 12, "disgust": 9, "fear": 8,
        "sadness": 6}
    assert [(p.row, p.clip, p.action, p.message) for p in sheet.problems] == [
        (140, "028_4_1", "repaired",
         "apex 1143 is after offset 1134; to be located at the peak of facial motion between onset and offset"),
        (147, "032_3_1", "repaired",
         "apex 1930 is before onset 4896; to be located at the peak of facial motion between onset and offset"),
    ]
    samm_map = resolve_class_map("samm", None)
    kept = Counter(samm_map[row.emotion] for row in sheet.rows if samm_map[row.emotion])
    assert kept == {"anger": 57, "happiness": 26, "others": 26, "surprise": 15, "contempt": 12}


@pytest.mark.skipif(not ANNOTATIONS.is_dir(), reason="../shared/data/annotations is absent on this machine")
def test_real_sheet_without_frames_reports_every_clip(tmp_path: Path) -> None:
    index = load_dataset("casme2", tmp_path, annotations=ANNOTATIONS / "CASME2-coding-20190701.xlsx")
    assert index.clips == () and index.classes == ()
    assert index.problems[0].message == "no CASME-II subject folders (subXX) found in this folder or two levels below"
    actions = Counter(problem.action for problem in index.problems)
    assert actions == {"skipped": 255, "warning": 6, "repaired": 1}


@pytest.mark.skipif(not ANNOTATIONS.is_dir(), reason="../shared/data/annotations is absent on this machine")
def test_real_composite_list() -> None:
    entries, problems = read_composite(ANNOTATIONS / "combined_3class_gt.csv")
    assert problems == ()
    assert Counter(entry.dataset for entry in entries) == {"smic": 164, "casme2": 145, "samm": 133}
    assert Counter(entry.label for entry in entries if entry.dataset == "casme2") == {
        "negative": 88, "positive": 32, "surprise": 25}
    samm = next(entry for entry in entries if entry.dataset == "samm")
    assert (samm.subject, samm.clip_id, samm.label) == ("006", "006_1_2", "negative")
    casme = read_sheet("casme2", ANNOTATIONS / "CASME2-coding-20190701.xlsx")
    rows = {(row.subject, row.clip_id) for row in casme.rows}
    assert all((entry.subject, entry.clip_id) in rows for entry in entries if entry.dataset == "casme2")
