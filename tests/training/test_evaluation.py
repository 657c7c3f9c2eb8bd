"""MEGC spot-then-recognize scoring of a release: a crafted case computed by hand, and mer-eval end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realtime.cli.eval import app as eval_app
from realtime.core.errors import InputError
from realtime.core.interval import Interval
from realtime.spotting.ground_truth import GroundTruthInterval
from realtime.spotting.scoring import score_analysis
from training.cli.synth import app as synth_app
from training.datasets.long_videos import LongRelease, LongVideo
from training.evaluation import Prediction, read_predictions, score_release, write_predictions


def interval(video: str, kind: str, onset: int, offset: int, emotion_class: str = "") -> GroundTruthInterval:
    return GroundTruthInterval(video=video, subject="1", event=f"{video}_{onset}", kind=kind,
                               frames=Interval(onset, None, offset), onset_s=onset / 30, apex_s=None,
                               offset_s=offset / 30, emotion="", action_units="", row=None,
                               emotion_class=emotion_class)


def crafted_release() -> LongRelease:
    videos = (
        LongVideo(name="v1", subject="1", folder=Path("v1"), fps=30.0, truth=(
            interval("v1", "micro", 10, 19, "negative"), interval("v1", "micro", 50, 59, "positive"),
            interval("v1", "macro", 100, 150))),
        LongVideo(name="v2", subject="1", folder=Path("v2"), fps=30.0, truth=(
            interval("v2", "micro", 20, 29, "surprise"),)),
        LongVideo(name="v3", subject="2", folder=Path("v3"), fps=30.0, truth=()),  # no micro-expression at all
    )
    return LongRelease(dataset="casme2-long", root=Path("."), sheet=Path("sheet.xlsx"), videos=videos, problems=())


CRAFTED_PREDICTIONS = [
    Prediction("v1", "micro", Interval(10, None, 19), "disgust"),  # hit A exactly; disgust -> negative: right class
    Prediction("v1", "micro", Interval(52, None, 61), "surprise"),  # IoU 8/12 with B: hit; positive as surprise
    Prediction("v1", "micro", Interval(200, None, 210), "happiness"),  # nothing there: FP
    Prediction("v1", "macro", Interval(100, None, 140)),  # IoU 41/51 with the macro: hit
    Prediction("v2", "micro", Interval(20, None, 29), "happiness"),  # hit C; surprise predicted as positive
    Prediction("v3", "micro", Interval(5, None, 9), "others"),  # v3 has no micro-expression: two FPs
    Prediction("v3", "micro", Interval(30, None, 40), "others"),
    Prediction("v3", "macro", Interval(60, None, 90)),  # and one macro FP
    Prediction("v9", "micro", Interval(1, None, 2), "others"),  # a video the release does not have
]


def test_str_score_by_hand() -> None:
    score = score_release(crafted_release(), CRAFTED_PREDICTIONS)
    # micro spotting: TP 3 (A, B, C), FP 1 (v1) + 2 (v3), FN 0 -> F1 = 2*3 / (2*3 + 3 + 0) = 2/3
    assert (score.micro.tp, score.micro.fp, score.micro.fn) == (3, 3, 0)
    assert score.micro.f1 == pytest.approx(2 / 3)
    # analysis on the 3 hits: (negative, negative), (positive, surprise), (surprise, positive)
    # negative F1 1; positive TP 0 FP 1 FN 1 -> 0; surprise the same -> 0; others absent -> not averaged
    by_class = {c.label: (c.tp, c.fp, c.fn) for c in score.analysis.classes}
    assert by_class == {"negative": (1, 0, 0), "positive": (0, 1, 1), "surprise": (0, 1, 1), "others": (0, 0, 0)}
    assert score.analysis.f1 == pytest.approx(1 / 3)
    assert score.str_score == pytest.approx(2 / 3 * 1 / 3)
    assert score.class_mapping == {"disgust": "negative", "happiness": "positive", "surprise": "surprise"}
    # macro: TP 1 FP 1 (v3) -> 2/3; overall pools the counts: TP 4 FP 4 FN 0 -> 2/3
    assert (score.macro.tp, score.macro.fp, score.macro.fn) == (1, 1, 0)
    assert (score.overall.tp, score.overall.fp, score.overall.fn) == (4, 4, 0)
    assert score.unknown_videos == ("v9",)


def test_video_without_micro_expression_counts_its_false_positives() -> None:
    score = score_release(crafted_release(), CRAFTED_PREDICTIONS)
    v3 = next(item for item in score.videos if item.video.name == "v3")
    assert (v3.micro.tp, v3.micro.fp, v3.micro.fn) == (0, 2, 0) and v3.macro.fp == 1
    # scoring only the videos that have a micro-expression would have given 6/7, not 2/3
    without = score_release(crafted_release(), [p for p in CRAFTED_PREDICTIONS if p.video != "v3"])
    assert without.micro.f1 == pytest.approx(6 / 7) and score.micro.f1 < without.micro.f1


def test_analysis_of_nothing_and_unlabelled_hits() -> None:
    assert score_analysis([], ("negative", "positive")).f1 == 0.0
    no_label = [Prediction("v2", "micro", Interval(20, None, 29))]  # no classifier: no label
    spot_only = score_release(crafted_release(), no_label)
    assert spot_only.micro.tp == 1 and spot_only.analysis.f1 == 0.0 and spot_only.str_score == 0.0


def test_predictions_file_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "predictions.csv"
    write_predictions(path, CRAFTED_PREDICTIONS)
    assert read_predictions(path) == CRAFTED_PREDICTIONS
    minimal = tmp_path / "minimal.csv"
    minimal.write_text("video,onset_frame,offset_frame\nv1,10,19\n")  # kind and label optional
    assert read_predictions(minimal) == [Prediction("v1", "micro", Interval(10, None, 19), "")]
    bad = tmp_path / "bad.csv"
    bad.write_text("video,kind,onset_frame,offset_frame,label\nv1,micro,10,19,x\nv1,micro,30,20,x\n")
    with pytest.raises(InputError, match=r"bad.csv: line 3: .*30..20"):
        read_predictions(bad)
    (tmp_path / "cols.csv").write_text("clip,start\na,1\n")
    with pytest.raises(InputError, match="missing column"):
        read_predictions(tmp_path / "cols.csv")


@pytest.fixture(scope="module")
def synth_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mer-synth's CAS(ME)^2 layout: 4 subjects x 2 videos of 3 s at 320x240, one micro-expression in each
    subject's first video and none in the second."""
    release = tmp_path_factory.mktemp("release") / "CAS(ME)^2"
    made = CliRunner().invoke(synth_app, ["video", "--layout", "casme2-long", "--out", str(release), "--micro", "1",
                                          "--duration", "3"], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    return release


@pytest.fixture(scope="module")
def evaluated(synth_release: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """mer-eval on one machine: its output folder and what it printed."""
    out = tmp_path_factory.mktemp("eval")
    result = CliRunner().invoke(eval_app, ["--dataset", "casme2-long", "--root", str(synth_release), "--out",
                                           str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.slow
def test_mer_eval_on_a_synthetic_casme2_release(synth_release: Path, evaluated: tuple[Path, str],
                                                tmp_path: Path) -> None:
    runner = CliRunner()
    release, (out, output) = synth_release, evaluated
    assert len(list((release / "rawpic").glob("s*/*_*"))) == 8 and len(list((release / "rawpic").glob("s*"))) == 4
    for title in ("casme2-long: per video", "spotting over 8 videos", "analysis on", "STR score"):
        assert title in output
    scores = json.loads((out / "scores.json").read_text())
    with (out / "per_video.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and sum(int(row["micro_truth"]) for row in rows) == 4
    assert sum(int(row["micro_truth"]) == 0 for row in rows) == 4  # every second video has none
    assert scores["micro"]["fp"] == sum(int(row["micro_fp"]) for row in rows)  # those videos' FPs included
    assert scores["micro"]["tp"] + scores["micro"]["fn"] == 4
    # the same numbers from the predictions file it wrote, as for another system's output
    again = runner.invoke(eval_app, ["--dataset", "casme2-long", "--root", str(release), "--out",
                                     str(tmp_path / "from_file"), "--predictions", str(out / "predictions.csv")],
                          catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "from_file" / "scores.json").read_text()) == scores
    # resumable: finished videos are not run again, and the scores stay
    finished = sorted((out / "videos").glob("*/summary.json"))
    assert len(finished) == 8
    written = [path.stat().st_mtime_ns for path in finished]
    resumed = runner.invoke(eval_app, ["--dataset", "casme2-long", "--root", str(release), "--out", str(out),
                                       "--resume"], catch_exceptions=False)
    assert resumed.exit_code == 0 and json.loads((out / "scores.json").read_text()) == scores
    assert [path.stat().st_mtime_ns for path in finished] == written


@pytest.mark.slow
@pytest.mark.usefixtures("ray_env")
def test_mer_eval_on_ray_scores_as_one_machine(synth_release: Path, evaluated: tuple[Path, str],
                                               tmp_path: Path) -> None:
    out = tmp_path / "on_ray"
    result = CliRunner().invoke(eval_app, ["--dataset", "casme2-long", "--root", str(synth_release), "--out",
                                           str(out), "--ray", "local"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "mer-eval on Ray" in result.output and "STR score" in result.output
    single = json.loads((evaluated[0] / "scores.json").read_text())
    assert json.loads((out / "scores.json").read_text()) == single


def test_synth_video_needs_a_rate_or_a_layout(tmp_path: Path) -> None:
    result = CliRunner().invoke(synth_app, ["video", "--out", str(tmp_path / "v.mp4")])
    assert result.exit_code == 2 and result.output.strip() == "error: give --fps (or --layout)"
    wrong = CliRunner().invoke(synth_app, ["video", "--layout", "casme3-long", "--out", str(tmp_path / "r")])
    assert wrong.exit_code == 2 and "unknown layout 'casme3-long'" in wrong.output
