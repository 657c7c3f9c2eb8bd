from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from realtime.core.errors import AnnotationError, InputError
from realtime.spotting.ground_truth import load_ground_truth, read_casme2_long, read_samm_long, read_synth_ground_truth

ANNOTATIONS = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "annotations"
CASME2_LONG = ANNOTATIONS / "CAS(ME)2_code_final.xlsx"
SAMM_LONG = ANNOTATIONS / "SAMM_LongVideos_V2_Release.xlsx"

HEADER = "kind,onset_frame,apex_frame,offset_frame,onset_s,apex_s,offset_s,emotion,action_units\n"


def needs(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"real sheet {path.name} not at hand ({path.parent})")


def test_synthetic_csv_rows_and_problems(tmp_path: Path) -> None:
    path = tmp_path / "interview_groundtruth.csv"
    path.write_text(HEADER
                    + "micro,10,14,19,0.1,0.14,0.19,Happiness,6+12\n"
                    + "macro,40,60,90,0.4,0.6,0.9,surprise,1+2\n"
                    + "blink,100,102,104,1.0,1.02,1.04,,45\n"
                    + "micro,30,25,20,0.3,0.25,0.2,fear,4\n"  # onset after offset: skipped
                    + "micro,50,70,60,0.5,0.7,0.6,fear,4\n"  # apex outside: apex dropped
                    + "yawn,200,210,220,2.0,2.1,2.2,,\n"  # unknown kind: kept, warned
                    + "micro,x,1,2,0,0,0,,\n")  # not a frame: skipped
    truth = read_synth_ground_truth(path)
    assert [item.kind for item in truth.intervals] == ["micro", "macro", "blink", "micro", "yawn"]
    assert truth.micro_intervals() == [(10, 19), (50, 60)]
    first = truth.intervals[0]
    assert (first.video, first.apex_frame, first.onset_s, first.emotion, first.action_units) == (
        "interview", 14, 0.1, "happiness", "6+12")
    assert truth.intervals[3].apex_frame is None and truth.intervals[3].apex_s is None
    assert [(p.row, p.action) for p in truth.problems] == [(5, "skipped"), (6, "repaired"), (7, "warning"),
                                                          (8, "skipped")]
    assert load_ground_truth(path).intervals == truth.intervals  # dispatch by suffix
    table = truth.to_dataframe()
    assert list(table.columns[:7]) == ["video", "subject", "event", "kind", "onset_frame", "apex_frame",
                                       "offset_frame"]
    assert str(table["apex_frame"].dtype) == "Int64"


def test_unreadable_files_raise_one_error(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="no such"):
        load_ground_truth(tmp_path / "missing.csv")
    bad = tmp_path / "bad_groundtruth.csv"
    bad.write_text("kind,onset_frame\nmicro,1\n")
    with pytest.raises(AnnotationError, match="missing column"):
        read_synth_ground_truth(bad)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(AnnotationError, match="Excel"):
        load_ground_truth(broken)
    with pytest.raises(AnnotationError, match="unknown ground-truth format"):
        (tmp_path / "gt.json").write_text("{}")
        load_ground_truth(tmp_path / "gt.json")


def test_casme2_layout_written_here(tmp_path: Path) -> None:
    path = tmp_path / "casme_long.xlsx"
    rows = [[1, "disgust1_1", 100, 105, 112, "4", "negative", "micro-expression", "disgust"],
            [1, "disgust1_2", 200, 210, 0, "4", "negative", "macro-expression", "disgust"],  # offset 0
            [1, "happy1_1", 300, 0, 320, "12", "positive", "macro-expression", "happiness"],  # apex 0
            [2, "disgust1_1", 50, 55, 40, "4", "negative", "micro-expression", "disgust"],  # onset > offset
            [2, "disgust1_2", 60, 62, 70, "4", "negative", "blink", "disgust"]]  # unknown type
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame(rows).to_excel(writer, sheet_name="CASFEcode_final", header=False, index=False)
        pd.DataFrame([[15, "s15", 1], [16, "s16", 2]]).to_excel(writer, sheet_name="naming rule1", header=False,
                                                                  index=False)
        pd.DataFrame([["0101", "disgust1"], ["0502", "happy1"]]).to_excel(writer, sheet_name="naming rule2",
                                                                          header=False, index=False)
    truth = load_ground_truth(path)
    assert [(i.event, i.onset_frame, i.apex_frame, i.offset_frame) for i in truth.intervals] == [
        ("disgust1_1", 99, 104, 111), ("disgust1_2", 199, 209, 219), ("happy1_1", 299, None, 319)]
    assert truth.intervals[0].onset_s == pytest.approx(99 / 30)
    assert Counter(p.action for p in truth.problems) == {"repaired": 2, "skipped": 2}
    by_stem = read_casme2_long(path, video="15_0101disgustingteeth")
    by_name = read_casme2_long(path, video="disgust1", subject="s15")
    by_code = read_casme2_long(path, video="0101", subject="1")
    assert by_stem.intervals == by_name.intervals == by_code.intervals == truth.intervals[:2]
    assert [p.row for p in by_stem.problems] == [2]
    with pytest.raises(InputError, match="no intervals"):
        read_casme2_long(path, video="happy2", subject="1")
    with pytest.raises(InputError, match="belongs to subject 1"):
        read_casme2_long(path, video="15_0101disgustingteeth", subject="2")


def test_samm_layout_written_here(tmp_path: Path) -> None:
    path = tmp_path / "samm_long.xlsx"
    legend = [["SAMM Long Videos Dataset - FACS Codes"], [None], ["Symbol Key:"]]
    header = [["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
               "Action Units", "Notes"]]
    rows = [["006", "006_1_1", 1, 566.4, 647.6, 743.2, 177.8, "Macro", "4(B/C)+7B", None],
            ["006", "006_1_2", 1, 3562, 3588, 3632, 71, "Micro - 1/2", "4+7", None],
            ["006", "006_2_1", 2, 1071, -1, 1134, 64, "Micro - 1/2", "A14C", "Blinks"],
            ["007", "007_1_1", 1, 0, 3323, 4123.4, 4124.4, "Macro", "6C", None],
            ["007", "007_1_2", 1, 10, 20, 30, 21, "Other", "", None]]
    pd.DataFrame(legend + header + rows).to_excel(path, sheet_name="FACS_Movement_Only", header=False, index=False)
    truth = load_ground_truth(path)
    assert [(i.video, i.kind, i.onset_frame, i.apex_frame, i.offset_frame) for i in truth.intervals] == [
        ("006_1", "macro", 565, 647, 742), ("006_1", "micro", 3561, 3587, 3631),
        ("006_2", "micro", 1070, None, 1133), ("007_1", "macro", 2522, 3322, 4122)]
    assert truth.intervals[1].onset_s == pytest.approx(3561 / 200) and truth.intervals[1].row == 6
    assert Counter(p.action for p in truth.problems) == {"repaired": 4, "skipped": 1}
    one = read_samm_long(path, video="006_1", subject="6")
    assert [i.event for i in one.intervals] == ["006_1_1", "006_1_2"] and one.micro_intervals() == [(3561, 3631)]
    with pytest.raises(InputError, match="no intervals"):
        read_samm_long(path, video="006_9")


def test_real_casme2_long_sheet() -> None:
    needs(CASME2_LONG)
    truth = load_ground_truth(CASME2_LONG)
    kinds = Counter(item.kind for item in truth.intervals)
    assert len(truth.intervals) == 357 and kinds == {"macro": 300, "micro": 57}
    assert len({item.subject for item in truth.intervals}) == 22
    assert not [p for p in truth.problems if p.action == "skipped"]
    assert sum("offset 0" in p.message for p in truth.problems) == 44
    assert all(0 <= i.onset_frame <= i.offset_frame for i in truth.intervals)
    video = read_casme2_long(CASME2_LONG, video="24_0401")  # folder s24 is sheet subject 8, 0401 is anger1
    assert {(i.subject, i.video) for i in video.intervals} == {("8", "anger1")}
    assert len(video.micro_intervals()) == 5


def test_real_samm_long_sheet() -> None:
    needs(SAMM_LONG)
    truth = load_ground_truth(SAMM_LONG)
    kinds = Counter(item.kind for item in truth.intervals)
    assert len(truth.intervals) == 502 and kinds == {"macro": 343, "micro": 159}
    assert len(truth.videos) == 147 and len({item.subject for item in truth.intervals}) == 30
    assert not [p for p in truth.problems if p.action == "skipped"]
    assert sum("apex -1" in p.message for p in truth.problems) == 6
    assert all(0 <= i.onset_frame <= i.offset_frame for i in truth.intervals)
    video = read_samm_long(SAMM_LONG, video="006_1")
    assert video.intervals and all(i.subject == "006" for i in video.intervals)
