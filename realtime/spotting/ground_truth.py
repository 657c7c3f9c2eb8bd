"""Ground-truth movement intervals for spotting evaluation, from the files users have.

Three formats: the `<stem>_groundtruth.csv` that `mer-synth video` writes beside each video,
and the two real long-video coding sheets, CAS(ME)^2 (`CAS(ME)2_code_final.xlsx`) and SAMM Long
Videos (`SAMM_LongVideos_V2_Release.xlsx`). Every reader returns 0-based inclusive video frame
indices, the convention of `events.csv`, and reports each wrong row as a `Problem` (repaired,
skipped or warning) instead of failing; only a file that cannot be read at all raises.

Sheet quirks handled (see ../shared/data/README.md): CAS(ME)^2 has no header row and codes an
offset it did not annotate as 0 (repaired as apex + (apex - onset), the rule of the MEGC
baseline code); SAMM has its header under a legend, fractional frame numbers (rounded), -1 for
an apex not annotated, and 0 for an onset not annotated (repaired as apex - (offset - apex):
several expressions of one video "start" at 0, which is not plausible). An apex that is missing
or outside onset..offset becomes None; spotting is scored on onset and offset only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from realtime.core.errors import AnnotationError, InputError
from realtime.core.frame import frames_to_seconds
from realtime.core.problems import Problem

SYNTH_COLUMNS = ("kind", "onset_frame", "apex_frame", "offset_frame", "onset_s", "apex_s", "offset_s",
                 "emotion", "action_units")
KNOWN_KINDS = ("micro", "macro", "blink", "speech")  # speech: `mer-synth video --talk` segments, brow raises
CASME2_LONG_FPS = 30.0  # CAS(ME)^2 long videos were recorded at 30 fps
SAMM_LONG_FPS = 200.0  # SAMM long videos were recorded at 200 fps


@dataclass(frozen=True)
class GroundTruthInterval:
    """One annotated movement, in 0-based inclusive frame indices of its video."""

    video: str  # sheet video name ("disgust1", "006_1"); the video's stem for a synthetic csv
    subject: str  # as text, as in the sheet ("1", "006"); "" for a synthetic csv
    event: str  # the sheet's expression name ("disgust1_1", "006_1_3"), or "row N"
    kind: str  # "micro" | "macro" | "blink" (other kinds kept with a warning)
    onset_frame: int
    apex_frame: int | None  # None: not annotated, or outside onset..offset in the sheet
    offset_frame: int
    onset_s: float
    apex_s: float | None
    offset_s: float
    emotion: str
    action_units: str
    row: int | None  # row in Excel (or line in the csv) it came from

    @property
    def frames(self) -> tuple[int, int]:
        """(onset, offset), what the spotting score compares."""
        return self.onset_frame, self.offset_frame


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
        return [item.frames for item in self.of_kind("micro")]

    @property
    def videos(self) -> tuple[tuple[str, str], ...]:
        """(subject, video) pairs in sheet order."""
        return tuple(dict.fromkeys((item.subject, item.video) for item in self.intervals))

    def to_dataframe(self) -> pd.DataFrame:
        columns = list(GroundTruthInterval.__dataclass_fields__)
        table = pd.DataFrame([asdict(item) for item in self.intervals], columns=columns)
        return table.astype({"apex_frame": "Int64", "row": "Int64"})  # integers with gaps, not floats


def load_ground_truth(path: str | Path, *, video: str | None = None, subject: str | None = None,
                      first_frame: int = 1) -> GroundTruth:
    """Read any supported ground-truth file; for a sheet, keep only `video` (and `subject`).

    A `.csv` is a `mer-synth video` ground truth (one file per video, so `video` and `subject`
    do not apply); an `.xlsx` is recognised as the CAS(ME)^2 or the SAMM long-video sheet by
    its layout. `first_frame` is the sheet's number of a video's first frame: 1 by default, as
    the CAS(ME)^2 image folders start at img1.jpg; pass 0 for a release that counts from 0.
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such ground-truth file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_synth_ground_truth(path)
    elif suffix in (".xlsx", ".xlsm"):
        sheets = _read_workbook(path)
        first = next(iter(sheets.values()))
        if _find_header(first, "subject") is not None:
            return _samm_long(path, sheets, video=video, subject=subject, first_frame=first_frame, fps=SAMM_LONG_FPS)
        if first.shape[1] >= 9 and first[7].astype(str).str.contains("expression").any():
            return _casme2_long(path, sheets, video=video, subject=subject, first_frame=first_frame,
                                fps=CASME2_LONG_FPS)
        raise AnnotationError(f"{path}: neither the CAS(ME)^2 nor the SAMM long-video layout")
    else:
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
        report = _reporter(problems, path, row, f"row {row}")
        kind = values["kind"].strip().lower()
        frames = [_integer(values[name]) for name in ("onset_frame", "apex_frame", "offset_frame")]
        times = [_number(values[name]) for name in ("onset_s", "apex_s", "offset_s")]
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
        if apex is None or not onset <= apex <= offset:
            report(f"apex {values['apex_frame']!r} is not a frame within onset..offset; apex dropped", "repaired")
            apex = None
        if times[0] is None or times[2] is None:
            report("onset_s/offset_s are not numbers", "warning")
        intervals.append(GroundTruthInterval(
            video=video, subject="", event=f"row {row}", kind=kind, onset_frame=onset, apex_frame=apex,
            offset_frame=offset, onset_s=_or_nan(times[0]), apex_s=times[1] if apex is not None else None,
            offset_s=_or_nan(times[2]), emotion=values["emotion"].strip().lower(),
            action_units=values["action_units"].strip(), row=row))
    return GroundTruth(source=path, intervals=tuple(intervals), problems=tuple(problems))


def read_casme2_long(path: str | Path, *, video: str | None = None, subject: str | None = None,
                     first_frame: int = 1, fps: float = CASME2_LONG_FPS) -> GroundTruth:
    """CAS(ME)^2 long-video coding (no header row; sheets 'naming rule1/2' map file names).

    `video` is the sheet's video name ("disgust1"), its code ("0101", with `subject`), or a
    release file stem ("15_0101disgustingteeth", which names the subject folder s15 too).
    `subject` is the sheet's number ("1") or the release folder ("s15").
    """
    path = Path(path)
    return _casme2_long(path, _read_workbook(path), video=video, subject=subject, first_frame=first_frame, fps=fps)


def read_samm_long(path: str | Path, *, video: str | None = None, subject: str | None = None,
                   first_frame: int = 1, fps: float = SAMM_LONG_FPS) -> GroundTruth:
    """SAMM Long Videos coding (header under a legend). `video` is a video name ("006_1")."""
    path = Path(path)
    return _samm_long(path, _read_workbook(path), video=video, subject=subject, first_frame=first_frame, fps=fps)


# --- helpers ---------------------------------------------------------------------------------

def _casme2_long(path: Path, sheets: dict[str, pd.DataFrame], *, video: str | None, subject: str | None,
                 first_frame: int, fps: float) -> GroundTruth:
    names = list(sheets)
    table = sheets[names[0]]
    if table.shape[1] < 9:
        raise AnnotationError(f"{path}: expected 9 columns in sheet {names[0]!r}, found {table.shape[1]}")
    folders, codes = _casme2_naming(sheets)
    problems: list[Problem] = []
    intervals = []
    row_keys: dict[int, tuple[str, str]] = {}  # row -> (subject, video), skipped rows too
    for position, values in enumerate(table.itertuples(index=False)):
        row = position + 1
        event = _text(values[1])
        report = _reporter(problems, path, row, event or f"row {row}")
        number = _integer(_text(values[0]))
        row_keys[row] = (str(number), event.rsplit("_", 1)[0])
        kind = {"micro-expression": "micro", "macro-expression": "macro"}.get(_text(values[7]).lower())
        if number is None or not event:
            report(f"subject {_text(values[0])!r} or expression name {event!r} missing", "skipped")
            continue
        if kind is None:
            report(f"type {_text(values[7])!r} is neither micro- nor macro-expression", "skipped")
            continue
        frames = _sheet_frames(report, values[2], values[3], values[4], first_frame)
        if frames is None:
            continue
        intervals.append(_interval(
            video=event.rsplit("_", 1)[0], subject=str(number), event=event, kind=kind, frames=frames, fps=fps,
            emotion=_text(values[8]).lower(), action_units=_text(values[5]), row=row))
    chosen = _casme2_select(path, intervals, video, subject, folders, codes)
    return GroundTruth(source=path, intervals=chosen, problems=_problems_of(problems, row_keys, chosen, video, subject))


def _samm_long(path: Path, sheets: dict[str, pd.DataFrame], *, video: str | None, subject: str | None,
               first_frame: int, fps: float) -> GroundTruth:
    table = next(iter(sheets.values()))
    found = _find_header(table, "subject")
    if found is None:
        raise AnnotationError(f"{path}: no header row starting with 'Subject' in the first 40 rows")
    header, columns = found
    needed = ("subject", "filename", "onset", "apex", "offset", "type")
    missing = [name for name in needed if name not in columns]
    if missing:
        raise AnnotationError(f"{path}: header on row {header + 1} lacks column(s) {', '.join(missing)}")
    problems: list[Problem] = []
    intervals = []
    row_keys: dict[int, tuple[str, str]] = {}  # row -> (subject, video), skipped rows too
    for position in range(header + 1, len(table)):
        values = table.iloc[position]

        def cell(name: str) -> object:
            return values[columns[name]] if name in columns else None

        row = position + 1
        event = _text(cell("filename"))
        if not event and not _text(cell("subject")):
            continue  # blank line at the end of the sheet
        report = _reporter(problems, path, row, event or f"row {row}")
        row_keys[row] = (_text(cell("subject")), event.rsplit("_", 1)[0])
        kind_text = _text(cell("type")).lower()
        kind = "micro" if kind_text.startswith("micro") else "macro" if kind_text.startswith("macro") else None
        if not event or "_" not in event:
            report(f"filename {event!r} is not <subject>_<video>_<n>", "skipped")
            continue
        if kind is None:
            report(f"type {_text(cell('type'))!r} is neither Micro nor Macro", "skipped")
            continue
        frames = _sheet_frames(report, cell("onset"), cell("apex"), cell("offset"), first_frame)
        if frames is None:
            continue
        intervals.append(_interval(
            video=event.rsplit("_", 1)[0], subject=_text(cell("subject")), event=event, kind=kind, frames=frames,
            fps=fps, emotion="", action_units=_text(cell("action units")), row=row))
    chosen = tuple(intervals)
    if video is not None or subject is not None:
        chosen = tuple(item for item in intervals
                       if (video is None or item.video == Path(video).stem)
                       and (subject is None or _same_subject(item.subject, subject)))
        if not chosen:
            known = ", ".join(dict.fromkeys(item.video for item in intervals))
            raise InputError(f"{path}: no intervals for video {video!r} (subject {subject!r}); videos: {known}")
    return GroundTruth(source=path, intervals=chosen, problems=_problems_of(problems, row_keys, chosen, video, subject))


Report = Callable[[str, str], None]


def _reporter(problems: list[Problem], path: Path, row: int, event: str) -> Report:
    def report(message: str, action: str) -> None:
        problems.append(Problem(file=path, row=row, clip=event, message=message, action=action))
    return report


def _read_workbook(path: Path) -> dict[str, pd.DataFrame]:
    if not path.is_file():
        raise AnnotationError(f"{path}: no such sheet file")
    try:
        return pd.read_excel(path, sheet_name=None, header=None, dtype=object)
    except Exception as exc:  # openpyxl raises many types (zipfile, KeyError, ValueError) for a bad file
        raise AnnotationError(f"{path}: cannot be read as an Excel workbook ({exc})") from exc


def _find_header(table: pd.DataFrame, first_cell: str) -> tuple[int, dict[str, int]] | None:
    """Row position and lower-case column name -> position of the header row, if any."""
    for position in range(min(40, len(table))):
        cells = [_text(value).lower() for value in table.iloc[position]]
        if cells and cells[0] == first_cell:
            return position, {name: column for column, name in enumerate(cells) if name}
    return None


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: object) -> float | None:
    try:
        number = float(_text(value))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _integer(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _sheet_frames(report: Report, onset_cell: object, apex_cell: object, offset_cell: object,
                  first_frame: int) -> tuple[int, int | None, int] | None:
    """Sheet frame numbers -> 0-based (onset, apex, offset), repairing what can be repaired."""
    raw = {"onset": _number(onset_cell), "apex": _number(apex_cell), "offset": _number(offset_cell)}
    fractional = {name: value for name, value in raw.items() if value is not None and not value.is_integer()}
    if fractional:
        shown = ", ".join(f"{name} {value:g}" for name, value in fractional.items())
        report(f"fractional frame number(s) {shown} rounded to the nearest frame", "repaired")
    numbers = {name: None if value is None else math.floor(value + 0.5) for name, value in raw.items()}
    onset, apex, offset = numbers["onset"], numbers["apex"], numbers["offset"]
    if apex in (-1, 0):
        report(f"apex {_text(apex_cell)} means not annotated; apex left empty", "repaired")
        apex = None
    elif apex is None:
        report(f"apex {_text(apex_cell)!r} is not a frame number; apex left empty", "repaired")
    if onset is None or offset is None or onset < 0 or offset < 0:
        report(f"onset {_text(onset_cell)!r} / offset {_text(offset_cell)!r} are not frame numbers", "skipped")
        return None
    if offset == 0:
        if apex is None or onset > apex:
            report("offset 0 (not annotated) and no usable apex to estimate it from", "skipped")
            return None
        offset = apex + (apex - onset)
        report(f"offset 0 means not annotated; estimated as apex + (apex - onset) = {offset}", "repaired")
    if onset == 0:
        if apex is None or apex > offset:
            report("onset 0 (not annotated) and no usable apex to estimate it from", "skipped")
            return None
        onset = max(first_frame, apex - (offset - apex))
        report(f"onset 0 means not annotated; estimated as apex - (offset - apex) = {onset}", "repaired")
    if onset > offset:
        report(f"onset {onset} after offset {offset}", "skipped")
        return None
    if onset < first_frame:
        report(f"onset {onset} before the first frame {first_frame}; moved to it", "repaired")
        onset = first_frame
    if apex is not None and not onset <= apex <= offset:
        report(f"apex {apex} outside onset..offset {onset}..{offset}; apex left empty", "repaired")
        apex = None
    shift = first_frame
    return onset - shift, None if apex is None else apex - shift, offset - shift


def _interval(*, video: str, subject: str, event: str, kind: str, frames: tuple[int, int | None, int], fps: float,
              emotion: str, action_units: str, row: int) -> GroundTruthInterval:
    onset, apex, offset = frames
    return GroundTruthInterval(
        video=video, subject=subject, event=event, kind=kind, onset_frame=onset, apex_frame=apex,
        offset_frame=offset, onset_s=frames_to_seconds(onset, fps),
        apex_s=None if apex is None else frames_to_seconds(apex, fps), offset_s=frames_to_seconds(offset, fps),
        emotion=emotion, action_units=action_units, row=row)


def _problems_of(problems: list[Problem], row_keys: dict[int, tuple[str, str]],
                 chosen: tuple[GroundTruthInterval, ...], video: str | None,
                 subject: str | None) -> tuple[Problem, ...]:
    """All problems of a whole sheet; for a selection, those of the chosen videos' rows."""
    if video is None and subject is None:
        return tuple(problems)
    videos = {(item.subject, item.video) for item in chosen}
    return tuple(item for item in problems if row_keys.get(item.row) in videos)


def _same_subject(stored: str, given: str) -> bool:
    """'6' and '006' are the same subject; otherwise compare text."""
    if stored.isdigit() and given.isdigit():
        return int(stored) == int(given)
    return stored == given


def _casme2_naming(sheets: dict[str, pd.DataFrame]) -> tuple[dict[int, int], dict[str, str]]:
    """Release folder number -> sheet subject number ('naming rule1'), video code -> name ('rule2')."""
    folders: dict[int, int] = {}
    codes: dict[str, str] = {}
    for name, table in sheets.items():
        key = name.lower().replace(" ", "")
        if key == "namingrule1" and table.shape[1] >= 3:
            for values in table.itertuples(index=False):
                folder, number = _integer(values[0]), _integer(values[2])
                if folder is not None and number is not None:
                    folders[folder] = number
        elif key == "namingrule2" and table.shape[1] >= 2:
            for values in table.itertuples(index=False):
                code = _text(values[0])
                if code.isdigit():
                    codes[code.zfill(4)] = _text(values[1])
    return folders, codes


def _casme2_select(path: Path, intervals: list[GroundTruthInterval], video: str | None, subject: str | None,
                   folders: dict[int, int], codes: dict[str, str]) -> tuple[GroundTruthInterval, ...]:
    if video is None and subject is None:
        return tuple(intervals)
    number: int | None = None
    if subject is not None:
        match = re.fullmatch(r"s(\d+)", subject.strip().lower())
        if match:
            if int(match[1]) not in folders:
                raise InputError(f"{path}: subject folder {subject!r} is not in sheet 'naming rule1'")
            number = folders[int(match[1])]
        elif subject.strip().isdigit():
            number = int(subject)
        else:
            raise InputError(f"{path}: subject {subject!r} is neither a sheet number ('1') nor a folder ('s15')")
    name = video
    if video is not None:
        stem = Path(video).stem
        release = re.match(r"s?(\d+)_(\d{4})", stem)
        if release:
            folder, code = int(release[1]), release[2]
            if folder not in folders or code not in codes:
                raise InputError(f"{path}: video {video!r}: folder {folder} or code {code} not in the naming sheets")
            if number is not None and number != folders[folder]:
                raise InputError(f"{path}: video {video!r} belongs to subject {folders[folder]}, not {subject!r}")
            number, name = folders[folder], codes[code]
        elif stem in codes:
            name = codes[stem]
        else:
            name = stem
    chosen = tuple(item for item in intervals
                   if (name is None or item.video == name) and (number is None or int(item.subject) == number))
    if not chosen:
        known = ", ".join(dict.fromkeys(f"{item.subject}/{item.video}" for item in intervals))
        raise InputError(f"{path}: no intervals for video {video!r} (subject {subject!r}); "
                         f"subject/video pairs: {known}")
    return chosen
