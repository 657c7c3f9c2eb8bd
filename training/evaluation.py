"""Spot-then-recognize evaluation of a long-video release, as MEGC scores it.

Protocol (what makes the numbers comparable with the MEGC 2024/2025 tables):
- spotting: a predicted interval is a hit when its IoU with a ground-truth interval of the same
  kind (micro or macro) is >= 0.5, one prediction per ground-truth interval (`score_spotting`);
  counts are pooled over every video of the release, those with no micro-expression included,
  so their false positives count; micro, macro, and overall (micro + macro counts);
- analysis, micro-expressions only, on the spotting true positives: the truth's MEGC class
  (negative, positive, surprise, others) against the prediction's label mapped to those classes;
  analysis F1 = the unweighted mean of per-class F1 over the classes that occur;
- STR score = micro spotting F1 x analysis F1.

Predictions are one table (`PREDICTION_COLUMNS`), whether they come from this project's run
folders or from another system's file, so both are scored by the same code.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from realtime.core.errors import InputError
from realtime.core.interval import Interval
from realtime.sinks.run_folder import is_complete
from realtime.spotting.scoring import (AnalysisScore, SpottingScore, pool, score_analysis, score_spotting,
                                       str_score)
from training.datasets.long_videos import MEGC_CLASSES, LongRelease, LongVideo, megc_class

PREDICTION_COLUMNS = ("video", "kind", "onset_frame", "offset_frame", "label")
SPOTTED_KINDS = ("micro", "macro")


@dataclass(frozen=True)
class Prediction:
    """One spotted interval of one video (0-based inclusive frames); label "" when not classified."""

    video: str  # the release's folder name ("15_0101disgustingteeth", "006_1")
    kind: str  # "micro" | "macro"
    frames: Interval  # no apex
    label: str = ""


def read_predictions(path: Path) -> list[Prediction]:
    """A predictions csv (columns `PREDICTION_COLUMNS`; kind and label optional); bad lines -> one error."""
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot be read as a csv file ({exc})") from exc
    missing = [name for name in ("video", "onset_frame", "offset_frame") if rows and name not in header]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(PREDICTION_COLUMNS)})")
    predictions = []
    for line, row in enumerate(rows, start=2):
        kind = (row.get("kind") or "micro").strip().lower()
        try:
            onset, offset = int(float(row["onset_frame"])), int(float(row["offset_frame"]))
        except (TypeError, ValueError):
            raise InputError(f"{path}: line {line}: onset_frame/offset_frame {row['onset_frame']!r}/"
                             f"{row['offset_frame']!r} are not frame numbers") from None
        if kind not in SPOTTED_KINDS or onset > offset or onset < 0:
            raise InputError(f"{path}: line {line}: kind {kind!r} (micro|macro) or frames {onset}..{offset} "
                             f"(0 <= onset <= offset) not valid")
        predictions.append(Prediction(video=row["video"].strip(), kind=kind, frames=Interval(onset, None, offset),
                                      label=(row.get("label") or "").strip()))
    return predictions


def write_predictions(path: Path, predictions: Iterable[Prediction]) -> None:
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PREDICTION_COLUMNS)
        for item in predictions:
            writer.writerow([item.video, item.kind, *item.frames.bounds, item.label])


def predictions_from_runs(runs: Path, videos: Sequence[LongVideo]) -> tuple[list[Prediction], list[str]]:
    """Micro events (events.csv) and macro movements (movements.csv) of each video's run folder,
    and the names of the videos whose folder is not complete (their predictions are what was written)."""
    predictions: list[Prediction] = []
    unfinished = []
    for video in videos:
        folder = runs / video.name
        if not is_complete(folder):
            unfinished.append(video.name)
        for row in _csv_rows(folder / "events.csv"):
            predictions.append(Prediction(video=video.name, kind="micro", frames=_frames(row),
                                          label=row.get("label") or ""))
        for row in _csv_rows(folder / "movements.csv"):
            if row.get("kind") == "macro":
                predictions.append(Prediction(video=video.name, kind="macro", frames=_frames(row)))
    return predictions, unfinished


def _frames(row: dict[str, str]) -> Interval:
    return Interval(int(row["onset_frame"]), None, int(row["offset_frame"]))


def _csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class VideoScore:
    """One video's spotting counts and the (truth class, predicted class) of its micro hits."""

    video: LongVideo
    micro: SpottingScore
    macro: SpottingScore
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ReleaseScore:
    """Per-video and pooled scores of one release, and the class mapping used."""

    videos: tuple[VideoScore, ...]
    analysis: AnalysisScore
    class_mapping: dict[str, str]  # predicted label -> MEGC class, for the labels seen
    unknown_videos: tuple[str, ...]  # predictions for videos the release does not have (not scored)

    @property
    def micro(self) -> SpottingScore:
        return pool([item.micro for item in self.videos])

    @property
    def macro(self) -> SpottingScore:
        return pool([item.macro for item in self.videos])

    @property
    def overall(self) -> SpottingScore:
        return pool([self.micro, self.macro])

    @property
    def str_score(self) -> float:
        return str_score(self.micro, self.analysis)

    def to_dict(self) -> dict:
        return {
            "protocol": "MEGC: IoU >= 0.5, one prediction per ground-truth interval, counts pooled over all videos "
                        "(those with no micro-expression included); analysis on micro true positives, mean "
                        "per-class F1 over the MEGC classes that occur; STR = micro spotting F1 x analysis F1",
            "micro": self.micro.to_dict(), "macro": self.macro.to_dict(), "overall": self.overall.to_dict(),
            "analysis": {"f1": self.analysis.f1, "classes": [
                {"class": c.label, "tp": c.tp, "fp": c.fp, "fn": c.fn, "f1": c.f1 if c.present else None}
                for c in self.analysis.classes]},
            "str_score": self.str_score, "class_mapping": self.class_mapping,
            "unknown_videos": list(self.unknown_videos),
            "videos": [{"video": item.video.name, "subject": item.video.subject, "micro": item.micro.to_dict(),
                        "macro": item.macro.to_dict()} for item in self.videos],
        }


def score_release(release: LongRelease, predictions: Iterable[Prediction]) -> ReleaseScore:
    """Score `predictions` against every video of `release` (a video without predictions: all FN)."""
    by_video: dict[str, list[Prediction]] = {}
    for item in predictions:
        by_video.setdefault(item.video, []).append(item)
    known = {video.name for video in release.videos}
    mapping: dict[str, str] = {}
    scores = []
    for video in release.videos:
        found = by_video.get(video.name, [])
        micro_found = [item for item in found if item.kind == "micro"]
        micro_truth = [item for item in video.truth if item.kind == "micro"]
        micro = score_spotting([p.frames.bounds for p in micro_found],
                               [t.frames.bounds for t in micro_truth])
        macro = score_spotting([p.frames.bounds for p in found if p.kind == "macro"],
                               video.intervals("macro"))
        pairs = []
        for match in micro.matches:
            label = micro_found[match.spotted].label
            if label:
                mapping[label] = megc_class(label)
            pairs.append((micro_truth[match.truth].emotion_class, mapping.get(label, "")))
        scores.append(VideoScore(video=video, micro=micro, macro=macro, pairs=tuple(pairs)))
    analysis = score_analysis([pair for item in scores for pair in item.pairs], MEGC_CLASSES)
    return ReleaseScore(videos=tuple(scores), analysis=analysis, class_mapping=dict(sorted(mapping.items())),
                        unknown_videos=tuple(sorted(set(by_video) - known)))


def write_scores(out: Path, score: ReleaseScore) -> None:
    """OUT/scores.json (everything) and OUT/per_video.csv (one row per video)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "scores.json").write_text(json.dumps(score.to_dict(), indent=2))
    with (out / "per_video.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video", "subject", "micro_truth", "micro_tp", "micro_fp", "micro_fn", "micro_f1",
                         "macro_truth", "macro_tp", "macro_fp", "macro_fn", "macro_f1"])
        for item in score.videos:
            writer.writerow([item.video.name, item.video.subject, item.micro.tp + item.micro.fn, item.micro.tp,
                             item.micro.fp, item.micro.fn, f"{item.micro.f1:.4f}", item.macro.tp + item.macro.fn,
                             item.macro.tp, item.macro.fp, item.macro.fn, f"{item.macro.f1:.4f}"])
