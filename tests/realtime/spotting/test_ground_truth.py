from __future__ import annotations

from pathlib import Path

import pytest

from realtime.core.errors import AnnotationError
from realtime.spotting.ground_truth import load_ground_truth, read_synth_ground_truth

HEADER = "kind,onset_frame,apex_frame,offset_frame,onset_s,apex_s,offset_s,emotion,action_units\n"


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
    assert (first.video, first.frames.apex, first.onset_s, first.emotion, first.action_units) == (
        "interview", 14, 0.1, "happiness", "6+12")
    assert truth.intervals[3].frames.apex is None and truth.intervals[3].apex_s is None
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
    sheet = tmp_path / "sheet.xlsx"
    sheet.write_bytes(b"not read here")
    with pytest.raises(AnnotationError, match="needs the sheet readers"):  # realtime reads no sheet itself
        load_ground_truth(sheet)
    assert load_ground_truth(sheet, video="v", read_sheet=lambda path, **where: where) == {"video": "v",
                                                                                           "subject": None}
    with pytest.raises(AnnotationError, match="unknown ground-truth format"):
        (tmp_path / "gt.json").write_text("{}")
        load_ground_truth(tmp_path / "gt.json")
