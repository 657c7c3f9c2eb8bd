"""MEGC spotting evaluation: one-to-one interval matching at IoU >= 0.5, TP/FP/FN, P, R, F1.

A spotted interval is a true positive when its IoU with a ground-truth micro-expression
interval that no other spotted interval has taken is at least 0.5; intervals are inclusive
frame ranges, so [10, 19] holds 10 frames. Each ground-truth interval counts once: two
detections of one expression are one TP and one FP. Among all one-to-one pairings the one
with the most hits is taken (an assignment problem, solved exactly), ties broken by total IoU,
so the score does not depend on the order of the intervals. Over several videos MEGC pools
the counts, not the per-video F1s (`pool`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from realtime.core.errors import InputError
from realtime.core.interval import Interval

IOU_THRESHOLD = 0.5  # MEGC's hit criterion


def interval_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame intervals (onset, offset)."""
    return Interval(a[0], None, a[1]).iou(Interval(b[0], None, b[1]))


@dataclass(frozen=True)
class Match:
    """A hit: indices into the spotted and ground-truth lists as given, and their IoU."""

    spotted: int
    truth: int
    iou: float


@dataclass(frozen=True)
class SpottingScore:
    """Counts and the measures derived from them; 0.0 where a ratio has nothing to count."""

    tp: int
    fp: int
    fn: int
    matches: tuple[Match, ...] = ()

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """2 TP / (2 TP + FP + FN), which equals 2PR / (P + R)."""
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": self.precision,
                "recall": self.recall, "f1": self.f1}


def _checked(intervals: Iterable[tuple[int, int]], what: str) -> list[tuple[int, int]]:
    checked = []
    for onset, offset in intervals:
        if onset > offset:
            raise InputError(f"{what} interval ({onset}, {offset}) has its onset after its offset")
        checked.append((int(onset), int(offset)))
    return checked


def score_spotting(spotted: Iterable[tuple[int, int]], truth: Iterable[tuple[int, int]], *,
                   iou_threshold: float = IOU_THRESHOLD) -> SpottingScore:
    """Score one video's spotted (onset, offset) intervals against its ground-truth ones."""
    found = _checked(spotted, "spotted")
    expected = _checked(truth, "ground-truth")
    matches: list[Match] = []
    if found and expected:
        iou = np.array([[interval_iou(a, b) for b in expected] for a in found])  # (n_spotted, n_truth)
        hit = iou >= iou_threshold
        # Weight 1 per hit plus an IoU bonus whose total stays below 1: the assignment first
        # maximises the number of hits, then their IoU. Non-hits weigh 0 and are dropped.
        weights = np.where(hit, 1.0 + iou / (min(iou.shape) + 1), 0.0)
        rows, columns = linear_sum_assignment(weights, maximize=True)
        matches = [Match(int(r), int(c), float(iou[r, c])) for r, c in zip(rows, columns) if hit[r, c]]
    tp = len(matches)
    return SpottingScore(tp=tp, fp=len(found) - tp, fn=len(expected) - tp, matches=tuple(matches))


def pool(scores: Sequence[SpottingScore]) -> SpottingScore:
    """MEGC's overall score: counts summed over videos (matches are per video, so not kept)."""
    return SpottingScore(tp=sum(s.tp for s in scores), fp=sum(s.fp for s in scores),
                         fn=sum(s.fn for s in scores))


@dataclass(frozen=True)
class ClassScore:
    """One class of the analysis step: counts over the spotting true positives."""

    label: str
    tp: int  # truth and prediction both this class
    fp: int  # predicted this class, truth another
    fn: int  # truth this class, predicted another

    @property
    def present(self) -> bool:
        """Whether the class occurs at all (in truth or prediction); absent classes have no F1."""
        return self.tp + self.fp + self.fn > 0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0


@dataclass(frozen=True)
class AnalysisScore:
    """MEGC's analysis (recognition) step, scored on the spotting true positives only."""

    classes: tuple[ClassScore, ...]

    @property
    def f1(self) -> float:
        """The unweighted mean of per-class F1 over the classes that occur (UF1); 0.0 with none."""
        present = [item.f1 for item in self.classes if item.present]
        return sum(present) / len(present) if present else 0.0


def score_analysis(pairs: Iterable[tuple[str, str]], classes: Sequence[str]) -> AnalysisScore:
    """(truth class, predicted class) of each spotting true positive -> per-class counts and F1."""
    pairs = list(pairs)
    return AnalysisScore(classes=tuple(
        ClassScore(label=label, tp=sum(1 for truth, guess in pairs if truth == label and guess == label),
                   fp=sum(1 for truth, guess in pairs if truth != label and guess == label),
                   fn=sum(1 for truth, guess in pairs if truth == label and guess != label))
        for label in classes))


def str_score(spotting: SpottingScore, analysis: AnalysisScore) -> float:
    """MEGC's spot-then-recognize score: spotting F1 x analysis F1."""
    return spotting.f1 * analysis.f1
