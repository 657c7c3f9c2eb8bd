"""The long-video releases as shipped, CAS(ME)^2 and SAMM Long Videos: sheets and frame folders.

Layouts (as public MER spotting code reads them, frames in natural order):
- CAS(ME)^2: `<root>/rawpic/s15/15_0101disgustingteeth/img1.jpg ...`; the sheet
  `CAS(ME)2_code_final.xlsx` has no header row (subject number, expression name, onset, apex,
  offset, AUs, coarse emotion, type, fine emotion); its tabs 'naming rule1' (folder s15 -> sheet
  subject 1) and 'naming rule2' (code 0101 -> disgust1) name the folders; 30 fps.
- SAMM Long Videos: `<root>/SAMM_longvideos/006_1/<frames>.jpg`; the sheet
  `SAMM_LongVideos_V2_Release.xlsx` has its header under a legend and no emotion; the micro rows
  get theirs from the SAMM micro sheet (`SAMM_Micro_FACS_Codes_v2.xlsx`, same clip names); 200 fps.

Every reader returns 0-based inclusive frame indices (the convention of events.csv) and reports
each wrong row as a `Problem` (repaired, skipped or warning) by file and Excel row; only a file
that cannot be read at all raises. Sheet quirks handled (those of the released sheets):
CAS(ME)^2 codes an offset it did not annotate as 0 (repaired as apex + (apex - onset), the rule
of the MEGC baseline code); SAMM has fractional frame numbers (rounded), -1 for an apex not
annotated and 0 for an onset not annotated (repaired as apex - (offset - apex)). An apex that is
missing or outside onset..offset becomes None; spotting is scored on onset and offset only.

Emotions: `emotion` is the fine one (CAS(ME)^2's last column, SAMM's 'Estimated Emotion'),
`emotion_class` the coarse MEGC class (negative, positive, surprise, others): CAS(ME)^2's own
column, SAMM's mapped by `MEGC_CLASS_OF`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from realtime.capture.sources import CASME2_LONG_FPS, SAMM_LONG_FPS, natural_key
from realtime.core.errors import AnnotationError, InputError
from realtime.core.interval import Interval
from realtime.core.problems import Problem
from realtime.spotting.ground_truth import (GroundTruth, GroundTruthInterval, parse_integer, parse_number,
                                            row_reporter)
from training.datasets.sheets import find_sheet, numeric_subject, parse_rows, read_table, read_workbook

LONG_DATASETS = ("casme2-long", "samm-long")
MEGC_CLASSES = ("negative", "positive", "surprise", "others")  # the MEGC 2024/2025 STR classes
MEGC_CLASS_OF = {  # fine emotion (CASME-II, SAMM, CAS(ME)^2 spellings) -> MEGC class
    "anger": "negative", "contempt": "negative", "disgust": "negative", "fear": "negative", "sadness": "negative",
    "repression": "negative", "negative": "negative", "happiness": "positive", "happy": "positive",
    "positive": "positive", "surprise": "surprise", "others": "others", "other": "others"}
CASME2_SUBJECT = re.compile(r"s(\d+)", re.IGNORECASE)
CASME2_VIDEO = re.compile(r"(\d+)_(\d{4})\w*")
SAMM_VIDEO = re.compile(r"(\d+)_(\d+)")


def megc_class(emotion: str) -> str:
    """A fine emotion (or a class label of a classifier) as a MEGC class; unknown ones are 'others'."""
    return MEGC_CLASS_OF.get(" ".join(emotion.split()).lower(), "others")


def read_long_sheet(path: str | Path, *, video: str | None = None, subject: str | None = None,
                    first_frame: int = 1) -> GroundTruth:
    """The CAS(ME)^2 or SAMM long-video sheet, recognised by its layout; narrowed to `video`.

    For CAS(ME)^2 `video` is the sheet's video name ("disgust1"), its code ("0101", with
    `subject`) or a release folder ("15_0101disgustingteeth", which names the subject too);
    `subject` is the sheet's number ("1") or the folder ("s15"). For SAMM, `video` is "006_1".
    `first_frame` is the sheet's number of a video's first frame (img1.jpg: 1).
    """
    path = Path(path)
    sheets = read_workbook(path)
    first = next(iter(sheets.values()), [])
    if _find_header(first, "subject") is not None:
        return _samm_long(path, sheets, video=video, subject=subject, first_frame=first_frame)
    if any(len(cells) >= 9 and "expression" in cells[7].lower() for cells in first[:20]):
        return _casme2_long(path, sheets, video=video, subject=subject, first_frame=first_frame)
    raise AnnotationError(f"{path}: neither the CAS(ME)^2 nor the SAMM long-video layout")


@dataclass(frozen=True)
class LongVideo:
    """One video of a release: its frame folder, rate and ground truth (maybe no interval at all)."""

    name: str  # the folder name, which names the output folder too ("15_0101disgustingteeth", "006_1")
    subject: str  # the sheet's subject ("1", "006")
    folder: Path
    fps: float
    truth: tuple[GroundTruthInterval, ...]

    def intervals(self, kind: str) -> list[tuple[int, int]]:
        return [item.frames.bounds for item in self.truth if item.kind == kind]


@dataclass(frozen=True)
class LongRelease:
    """A release's videos in natural order, and every problem of its sheets and folders."""

    dataset: str
    root: Path
    sheet: Path
    videos: tuple[LongVideo, ...]
    problems: tuple[Problem, ...]


def load_long_release(dataset: str, root: Path, annotations: Path | None = None,
                      micro_annotations: Path | None = None) -> LongRelease:
    """Pair the frame folders under `root` with the sheet's intervals (sheet found in or beside root)."""
    root = Path(root)
    if dataset not in LONG_DATASETS:
        raise InputError(f"unknown long-video dataset {dataset!r}; known: {', '.join(LONG_DATASETS)}")
    if not root.is_dir():
        raise InputError(f"{root}: no such release folder")
    if dataset == "casme2-long":
        sheet = annotations or find_sheet(root, ("CAS(ME)*code*.xlsx", "CAS(ME)*.xlsx"), describe="CAS(ME)^2")
        return _casme2_release(root, Path(sheet))
    sheet = annotations or find_sheet(root, ("SAMM_LongVideos*.xlsx",), describe="SAMM Long Videos")
    micro = micro_annotations or _optional_sheet(root, Path(sheet))
    return _samm_release(root, Path(sheet), micro)


# --- releases --------------------------------------------------------------------------------

def _frames_root(root: Path, name: str) -> Path:
    """`root/name` when it is there, else root itself (given as the frames folder)."""
    return root / name if (root / name).is_dir() else root


def _casme2_release(root: Path, sheet: Path) -> LongRelease:
    sheets = read_workbook(sheet)
    truth = _casme2_long(sheet, sheets, video=None, subject=None, first_frame=1)
    folders, codes = _casme2_naming(sheet, sheets)
    frames = _frames_root(root, "rawpic")
    problems = list(truth.problems)
    videos = []
    seen: set[tuple[str, str]] = set()
    for subject_dir in sorted((p for p in frames.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        match = CASME2_SUBJECT.fullmatch(subject_dir.name)
        if not match:
            continue
        for folder in sorted((p for p in subject_dir.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
            video = CASME2_VIDEO.match(folder.name)
            if not video:
                problems.append(Problem(file=folder, row=None, clip=folder.name, action="skipped",
                                        message="not a video folder named NN_<code><name> (15_0101disgustingteeth)"))
                continue
            number, name = folders.get(int(match[1])), codes.get(video[2])
            if number is None or name is None:
                problems.append(Problem(file=folder, row=None, clip=folder.name, action="skipped",
                                        message=f"folder {subject_dir.name} or code {video[2]} is not in the "
                                                f"sheet's naming tabs of {sheet.name}"))
                continue
            seen.add((str(number), name))
            videos.append(LongVideo(name=folder.name, subject=str(number), folder=folder, fps=CASME2_LONG_FPS,
                                    truth=tuple(item for item in truth.intervals
                                                if item.subject == str(number) and item.video == name)))
    problems.extend(_unmatched(sheet, truth, seen, frames))
    return LongRelease(dataset="casme2-long", root=root, sheet=sheet, videos=tuple(videos), problems=tuple(problems))


def _samm_release(root: Path, sheet: Path, micro_sheet: Path | None) -> LongRelease:
    truth = _samm_long(sheet, read_workbook(sheet), video=None, subject=None, first_frame=1)
    problems = list(truth.problems)
    intervals = _with_samm_emotions(sheet, truth.intervals, micro_sheet, problems)
    frames = _frames_root(root, "SAMM_longvideos")
    videos = []
    seen: set[tuple[str, str]] = set()
    for folder in sorted((p for p in frames.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        match = SAMM_VIDEO.fullmatch(folder.name)
        if not match:
            continue
        subject = match[1].zfill(3)
        seen.add((subject, folder.name))
        videos.append(LongVideo(name=folder.name, subject=subject, folder=folder, fps=SAMM_LONG_FPS,
                                truth=tuple(item for item in intervals if item.video == folder.name)))
    problems.extend(_unmatched(sheet, truth, seen, frames))
    return LongRelease(dataset="samm-long", root=root, sheet=sheet, videos=tuple(videos), problems=tuple(problems))


def _optional_sheet(root: Path, sheet: Path) -> Path | None:
    """The SAMM micro sheet in or beside the release (or beside the long-video sheet), if any."""
    for folder in (root, sheet.parent):
        try:
            return find_sheet(folder, ("SAMM*Micro_FACS_Codes*.xlsx",), describe="SAMM micro")
        except AnnotationError:
            continue
    return None


def _with_samm_emotions(sheet: Path, intervals: Sequence[GroundTruthInterval], micro_sheet: Path | None,
                        problems: list[Problem]) -> tuple[GroundTruthInterval, ...]:
    """SAMM long-video micro rows joined with the SAMM micro sheet's emotion by clip name."""
    if micro_sheet is None:
        problems.append(Problem(file=sheet, row=None, clip=None, action="warning",
                                message="no SAMM micro sheet in or beside the release: micro-expressions have "
                                        "no emotion, so no STR score (give it with --micro-annotations)"))
        return tuple(intervals)
    micro = parse_rows(micro_sheet, read_table(micro_sheet), subject=numeric_subject(3))
    emotions = {row.clip_id: row.emotion for row in micro.rows}
    joined = []
    for item in intervals:
        emotion = emotions.get(item.event, "")
        if item.kind == "micro" and not emotion:
            problems.append(Problem(file=sheet, row=item.row, clip=item.event, action="warning",
                                    message=f"no row {item.event!r} in {micro_sheet.name}: no emotion"))
        joined.append(_replace_emotion(item, emotion))
    return tuple(joined)


def _replace_emotion(item: GroundTruthInterval, emotion: str) -> GroundTruthInterval:
    return replace(item, emotion=emotion, emotion_class=megc_class(emotion) if emotion else "")


def _unmatched(sheet: Path, truth: GroundTruth, seen: set[tuple[str, str]], frames: Path) -> list[Problem]:
    """One warning per sheet video with no frame folder: its intervals are not scored."""
    found = []
    for subject, video in truth.videos:
        if (subject, video) not in seen:
            rows = [item.row for item in truth.intervals if (item.subject, item.video) == (subject, video)]
            micro = sum(1 for item in truth.intervals if (item.subject, item.video) == (subject, video)
                        and item.kind == "micro")
            found.append(Problem(file=sheet, row=rows[0], clip=video, action="warning",
                                 message=f"subject {subject} video {video} has no frame folder in {frames}: its "
                                         f"{len(rows)} intervals ({micro} micro) are not scored"))
    return found


# --- sheets ----------------------------------------------------------------------------------

Table = list[list[str]]
Report = Callable[[str, str], None]


def _casme2_long(path: Path, sheets: dict[str, Table], *, video: str | None, subject: str | None,
                 first_frame: int) -> GroundTruth:
    names = list(sheets)
    table = sheets[names[0]]
    problems: list[Problem] = []
    intervals = []
    row_keys: dict[int, tuple[str, str]] = {}  # row -> (subject, video), skipped rows too
    for position, cells in enumerate(table):
        row = position + 1
        values = [*cells, *[""] * (9 - len(cells))]
        event = values[1]
        report = row_reporter(problems, path, row, event or f"row {row}")
        number = parse_integer(values[0])
        row_keys[row] = (str(number), event.rsplit("_", 1)[0])
        kind = {"micro-expression": "micro", "macro-expression": "macro"}.get(values[7].lower())
        if number is None or not event:
            report(f"subject {values[0]!r} or expression name {event!r} missing", "skipped")
            continue
        if kind is None:
            report(f"type {values[7]!r} is neither micro- nor macro-expression", "skipped")
            continue
        frames = _sheet_frames(report, values[2], values[3], values[4], first_frame)
        if frames is None:
            continue
        coarse = values[6].lower()
        if coarse not in MEGC_CLASSES:
            report(f"emotion class {values[6]!r} is not one of {', '.join(MEGC_CLASSES)}; taken from the emotion",
                   "repaired")
            coarse = megc_class(values[8])
        intervals.append(_interval(
            video=event.rsplit("_", 1)[0], subject=str(number), event=event, kind=kind, frames=frames,
            fps=CASME2_LONG_FPS, emotion=values[8].lower(), emotion_class=coarse, action_units=values[5], row=row))
    folders, codes = _casme2_naming(path, sheets)
    chosen = _casme2_select(path, intervals, video, subject, folders, codes)
    return GroundTruth(source=path, intervals=chosen, problems=_problems_of(problems, row_keys, chosen, video, subject))


def _samm_long(path: Path, sheets: dict[str, Table], *, video: str | None, subject: str | None,
               first_frame: int) -> GroundTruth:
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
        cells = table[position]

        def cell(name: str) -> str:
            return cells[columns[name]] if name in columns and columns[name] < len(cells) else ""

        row = position + 1
        event = cell("filename")
        if not event and not cell("subject"):
            continue  # blank line at the end of the sheet
        report = row_reporter(problems, path, row, event or f"row {row}")
        row_keys[row] = (cell("subject"), event.rsplit("_", 1)[0])
        kind_text = cell("type").lower()
        kind = "micro" if kind_text.startswith("micro") else "macro" if kind_text.startswith("macro") else None
        if not event or "_" not in event:
            report(f"filename {event!r} is not <subject>_<video>_<n>", "skipped")
            continue
        if kind is None:
            report(f"type {cell('type')!r} is neither Micro nor Macro", "skipped")
            continue
        frames = _sheet_frames(report, cell("onset"), cell("apex"), cell("offset"), first_frame)
        if frames is None:
            continue
        intervals.append(_interval(
            video=event.rsplit("_", 1)[0], subject=cell("subject"), event=event, kind=kind,
            frames=frames, fps=SAMM_LONG_FPS, emotion="", emotion_class="", action_units=cell("action units"),
            row=row))
    chosen = tuple(intervals)
    if video is not None or subject is not None:
        chosen = tuple(item for item in intervals
                       if (video is None or item.video == Path(video).stem)
                       and (subject is None or _same_subject(item.subject, subject)))
        if not chosen:
            known = ", ".join(dict.fromkeys(item.video for item in intervals))
            raise InputError(f"{path}: no intervals for video {video!r} (subject {subject!r}); videos: {known}")
    return GroundTruth(source=path, intervals=chosen, problems=_problems_of(problems, row_keys, chosen, video, subject))


def _find_header(table: Table, first_cell: str) -> tuple[int, dict[str, int]] | None:
    """Row position and lower-case column name -> position of the header row, if any."""
    for position, cells in enumerate(table[:40]):
        names = [cell.lower() for cell in cells]
        if names and names[0] == first_cell:
            return position, {name: column for column, name in enumerate(names) if name}
    return None


def _sheet_frames(report: Report, onset_cell: str, apex_cell: str, offset_cell: str,
                  first_frame: int) -> tuple[int, int | None, int] | None:
    """Sheet frame numbers -> 0-based (onset, apex, offset), repairing what can be repaired."""
    raw = {"onset": parse_number(onset_cell), "apex": parse_number(apex_cell), "offset": parse_number(offset_cell)}
    fractional = {name: value for name, value in raw.items() if value is not None and not value.is_integer()}
    if fractional:
        shown = ", ".join(f"{name} {value:g}" for name, value in fractional.items())
        report(f"fractional frame number(s) {shown} rounded to the nearest frame", "repaired")
    numbers = {name: None if value is None else math.floor(value + 0.5) for name, value in raw.items()}
    onset, apex, offset = numbers["onset"], numbers["apex"], numbers["offset"]
    if apex in (-1, 0):
        report(f"apex {apex_cell} means not annotated; apex left empty", "repaired")
        apex = None
    elif apex is None:
        report(f"apex {apex_cell!r} is not a frame number; apex left empty", "repaired")
    if onset is None or offset is None or onset < 0 or offset < 0:
        report(f"onset {onset_cell!r} / offset {offset_cell!r} are not frame numbers", "skipped")
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


def _interval(*, video: str, subject: str, event: str, kind: str,
              frames: tuple[int, int | None, int], fps: float, emotion: str, emotion_class: str, action_units: str,
              row: int) -> GroundTruthInterval:
    interval = Interval(*frames)
    onset_s, apex_s, offset_s = interval.seconds(fps)
    return GroundTruthInterval(
        video=video, subject=subject, event=event, kind=kind, frames=interval, onset_s=onset_s, apex_s=apex_s,
        offset_s=offset_s, emotion=emotion, action_units=action_units, row=row, emotion_class=emotion_class)


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


def _casme2_naming(path: Path, sheets: dict[str, Table]) -> tuple[dict[int, int], dict[str, str]]:
    """Release folder number -> sheet subject number ('naming rule1'), video code -> name ('rule2')."""
    folders: dict[int, int] = {}
    codes: dict[str, str] = {}
    for name, table in sheets.items():
        key = name.lower().replace(" ", "")
        for cells in table:
            if key == "namingrule1" and len(cells) >= 3:
                folder, number = parse_integer(cells[0]), parse_integer(cells[2])
                if folder is not None and number is not None:
                    folders[folder] = number
            elif key == "namingrule2" and len(cells) >= 2 and cells[0].isdigit():
                codes[cells[0].zfill(4)] = cells[1]
    if not folders or not codes:
        raise AnnotationError(f"{path}: no 'naming rule1' / 'naming rule2' tab mapping folders and codes to "
                              f"the sheet's subjects and videos")
    return folders, codes


def _casme2_select(path: Path, intervals: list[GroundTruthInterval], video: str | None, subject: str | None,
                   folders: dict[int, int], codes: dict[str, str]) -> tuple[GroundTruthInterval, ...]:
    if video is None and subject is None:
        return tuple(intervals)
    number: int | None = None
    if subject is not None:
        match = CASME2_SUBJECT.fullmatch(subject.strip())
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


