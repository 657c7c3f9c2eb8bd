"""Ground-truth movement intervals for spotting evaluation: the one interval type, and the csv of mer-synth.

`GroundTruthInterval` is what every ground-truth reader returns: 0-based inclusive video frame
indices (the convention of `events.csv`), with each wrong row reported as a `Problem` (repaired,
skipped or warning) instead of failing. This module reads the `<stem>_groundtruth.csv` that
`mer-synth video` writes beside each video; the long-video coding sheets (CAS(ME)^2, SAMM Long
Videos) are read by the sheet layer above (`training.datasets.long_videos.read_long_sheet`),
which the CLI hands to `load_ground_truth` as `read_sheet`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from realtime.core.errors import AnnotationError
from realtime.core.interval import Interval, flat_columns, flat_row
from realtime.core.problems import Problem

SYNTH_COLUMNS = ("kind", "onset_frame", "apex_frame", "offset_frame", "onset_s", "apex_s", "offset_s",
                 "emotion", "action_units")
KNOWN_KINDS = ("micro", "macro", "blink", "speech")  # speech: `mer-synth video --talk` segments, brow raises


@dataclass(frozen=True)
class GroundTruthInterval:
    """One annotated movement, in 0-based inclusive frame indices of its video."""

    video: str  # sheet video name ("disgust1", "006_1"); the video's stem for a synthetic csv
    subject: str  # as text, as in the sheet ("1", "006"); "" for a synthetic csv
    event: str  # the sheet's expression name ("disgust1_1", "006_1_3"), or "row N"
    kind: str  # "micro" | "macro" | "blink" (other kinds kept with a warning)
    frames: Interval  # apex None: not annotated, or outside onset..offset in the sheet
    onset_s: float
    apex_s: float | None
    offset_s: float
    emotion: str
    action_units: str
    row: int | None  # row in Excel (or line in the csv) it came from
    emotion_class: str = ""  # the coarse MEGC class (negative, positive, surprise, others); "" if unknown


@dataclass(frozen=True)
class GroundTruth:
    """The intervals read from one file (optionally narrowed to one video) and its problems."""

    source: Path
    intervals: tuple[GroundTruthInterval, ...]
    problems: tuple[Problem, ...]

    def of_kind(self, kind: str) -> tuple[GroundTruthInterval, ...]:
        return tuple(item for item in self.intervals if item.kind == kind)

    def micro_intervals(self) -> list[tuple[int, int]]:
        """(onset, offset) of every micro-expression: the ground truth of MEGC spotting."""
        return [item.frames.bounds for item in self.of_kind("micro")]

    @property
    def videos(self) -> tuple[tuple[str, str], ...]:
        """(subject, video) pairs in sheet order."""
        return tuple(dict.fromkeys((item.subject, item.video) for item in self.intervals))

    def to_dataframe(self) -> pd.DataFrame:
        columns = flat_columns(GroundTruthInterval)
        table = pd.DataFrame([flat_row(item) for item in self.intervals], columns=columns)
        return table.astype({"apex_frame": "Int64", "row": "Int64"})  # integers with gaps, not floats


SheetReader = Callable[..., GroundTruth]
"""(path, *, video=, subject=) -> GroundTruth for a coding sheet: given by the CLI (the composition
root), as `training.datasets.long_videos.read_long_sheet`; a module-level function, so it pickles to Ray."""


def load_ground_truth(path: str | Path, *, video: str | None = None, subject: str | None = None,
                      read_sheet: SheetReader | None = None) -> GroundTruth:
    """Read a ground-truth file; a sheet (`.xlsx`) goes to `read_sheet`, narrowed to `video` (and `subject`).

    A `.csv` is a `mer-synth video` ground truth (one file per video, so `video` and `subject`
    do not apply).
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such ground-truth file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_synth_ground_truth(path)
    if suffix in (".xlsx", ".xlsm"):
        if read_sheet is None:
            raise AnnotationError(f"{path}: a coding sheet needs the sheet readers (run it through mer-process "
                                  f"or mer-eval)")
        return read_sheet(path, video=video, subject=subject)
    raise AnnotationError(f"{path}: unknown ground-truth format {suffix!r}; expected .csv or .xlsx")


def read_synth_ground_truth(path: str | Path) -> GroundTruth:
    """`<stem>_groundtruth.csv` of `mer-synth video`: frames are already 0-based video indices."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise AnnotationError(f"{path}: cannot be read as a csv file ({exc})") from exc
    missing = [name for name in SYNTH_COLUMNS if name not in table.columns]
    if missing:
        raise AnnotationError(f"{path}: missing column(s) {', '.join(missing)}")
    video = path.stem.removesuffix("_groundtruth")
    problems: list[Problem] = []
    intervals = []
    for position, values in enumerate(table.to_dict("records")):
        row = position + 2  # line 1 is the header
        report = row_reporter(problems, path, row, f"row {row}")
        kind = values["kind"].strip().lower()
        frames = [parse_integer(values[name]) for name in ("onset_frame", "apex_frame", "offset_frame")]
        times = [parse_number(values[name]) for name in ("onset_s", "apex_s", "offset_s")]
        if not kind:
            report("no kind", "skipped")
            continue
        if kind not in KNOWN_KINDS:
            report(f"unknown kind {kind!r} (known: {', '.join(KNOWN_KINDS)})", "warning")
        onset, apex, offset = frames
        if onset is None or offset is None or onset < 0 or onset > offset:
            report(f"onset/offset {values['onset_frame']!r}/{values['offset_frame']!r} are not frames "
                   "with 0 <= onset <= offset", "skipped")
            continue
        if apex is None or not Interval(onset, None, offset).contains(apex):
            report(f"apex {values['apex_frame']!r} is not a frame within onset..offset; apex dropped", "repaired")
            apex = None
        if times[0] is None or times[2] is None:
            report("onset_s/offset_s are not numbers", "warning")
        intervals.append(GroundTruthInterval(
            video=video, subject="", event=f"row {row}", kind=kind, frames=Interval(onset, apex, offset),
            onset_s=_or_nan(times[0]), apex_s=times[1] if apex is not None else None,
            offset_s=_or_nan(times[2]), emotion=values["emotion"].strip().lower(),
            action_units=values["action_units"].strip(), row=row))
    return GroundTruth(source=path, intervals=tuple(intervals), problems=tuple(problems))


def parse_integer(value: str) -> int | None:
    number = parse_number(value)
    return int(number) if number is not None and number.is_integer() else None


def parse_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def row_reporter(problems: list[Problem], path: Path, row: int, event: str) -> Callable[[str, str], None]:
    """report(message, action) appends that row's Problem to `problems`."""
    def report(message: str, action: str) -> None:
        problems.append(Problem(file=path, row=row, clip=event, message=message, action=action))
    return report
