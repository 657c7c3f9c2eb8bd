"""Coding sheets as the dataset owners ship them (xlsx or csv), read row by row with their quirks.

What real sheets do, and what this module does about it:
- legend rows above the header (SAMM: header on row 14): the header row is found by its content;
- subject ids stored as text ('01', '006') that a re-saved sheet may hold as numbers: every cell
  is read as text and numeric subjects are zero-padded back to the release's folder names;
- unnamed columns, extra columns, several sheets in a workbook: columns are found by name;
- an apex of '/', -1 or outside onset..offset: kept as "unknown", and the reader locates it at
  the peak of facial motion once the frames are at hand (`realtime.spotting.apex.locate_apex`);
- onset == apex or apex == offset: kept (a one-frame phase has an all-zero DI), with a warning;
- fractional frame numbers: rounded, reported.
Rows that cannot be used (no clip name, no onset, offset before onset, ...) are skipped and
reported by file and row number as a user sees them in Excel; only a file that cannot be read
at all (missing, not a spreadsheet, no header row) raises `AnnotationError`.
"""

from __future__ import annotations

import csv
import fnmatch
import math
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from realtime.core.errors import AnnotationError
from realtime.core.interval import Interval
from realtime.core.problems import Problem

HEADER_SEARCH_ROWS = 50  # SAMM's legend takes 13 rows, SAMM long videos' 9: plenty of margin

# Column -> accepted header spellings (lower-case, letters and digits only), in priority order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "subject": ("subject", "sub", "subjectid", "participant"),
    "clip": ("filename", "clip", "clipname", "clipid"),
    "onset": ("onsetframe", "onset"),
    "apex": ("apexframe", "apex"),
    "offset": ("offsetframe", "offset"),
    "emotion": ("estimatedemotion", "emotion"),
    "action_units": ("actionunits", "au", "aus"),
}
TITLES = {"subject": "Subject", "clip": "Filename", "onset": "OnsetFrame", "apex": "ApexFrame",
          "offset": "OffsetFrame", "emotion": "Estimated Emotion", "action_units": "Action Units"}
REQUIRED = ("subject", "clip", "onset", "apex", "offset", "emotion")


@dataclass(frozen=True)
class SheetRow:
    """One usable sheet row, before it meets the frame files."""

    file: Path
    row: int  # as Excel shows it
    subject: str
    clip_id: str
    frames: Interval  # the sheet's numbers; apex None: not a usable frame number, to be located from the frames
    emotion: str  # lower-case
    action_units: str
    apex_issue: str | None  # why apex_frame is None, e.g. "apex '/' is not a frame number"
    problems: tuple[Problem, ...]  # this row's other problems (rounded numbers, one-frame phases)


@dataclass(frozen=True)
class Sheet:
    """Every row of a coding sheet that names a clip, and every problem found in the sheet alone."""

    file: Path
    rows: tuple[SheetRow, ...]
    problems: tuple[Problem, ...]  # in row order, those of skipped rows included


def cell_text(value: object) -> str:
    """A cell as text: 46 and 46.0 -> '46', None -> '', strings stripped."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def read_table(path: Path) -> list[list[str]]:
    """The first sheet of `path` that has a header row, as text cells (row i = Excel row i + 1)."""
    if not path.is_file():
        raise AnnotationError(f"{path}: coding sheet not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        tables = [_read_csv(path)]
    elif suffix in (".xlsx", ".xlsm"):
        tables = list(read_workbook(path).values())
    else:
        raise AnnotationError(f"{path}: unsupported sheet type {suffix!r}; save it as .xlsx or .csv")
    for table in tables:
        if find_header(table) is not None:
            return table
    names = ", ".join(TITLES[name] for name in REQUIRED)
    raise AnnotationError(f"{path}: no header row with columns like {names} in the first "
                          f"{HEADER_SEARCH_ROWS} rows")


def _read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [[cell.strip() for cell in row] for row in csv.reader(text.splitlines(), dialect)]


def read_workbook(path: Path) -> dict[str, list[list[str]]]:
    """Worksheet title -> its text cells (read-only mode parses lazily, so errors can come at any row)."""
    if not path.is_file():
        raise AnnotationError(f"{path}: coding sheet not found")
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            return {sheet.title: [[cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
                    for sheet in workbook.worksheets}
        finally:
            workbook.close()
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError, InvalidFileException,
            ElementTree.ParseError) as exc:
        raise AnnotationError(f"{path}: not a readable xlsx file ({exc})") from exc


def find_header(table: Sequence[Sequence[str]]) -> tuple[int, dict[str, int]] | None:
    """(row index, column -> index) of the first row naming subject, clip and onset columns."""
    for index, row in enumerate(table[:HEADER_SEARCH_ROWS]):
        keys = [_key(cell) for cell in row]
        columns: dict[str, int] = {}
        for name, spellings in COLUMNS.items():
            for spelling in spellings:
                if spelling in keys:
                    columns[name] = keys.index(spelling)
                    break
        if {"subject", "clip", "onset"} <= columns.keys():
            return index, columns
    return None


def frame_number(text: str) -> tuple[int | None, bool]:
    """(frame number or None if not a usable number, whether it was rounded)."""
    try:
        value = float(text)
    except ValueError:
        return None, False
    if not math.isfinite(value) or value < 0:  # -1 marks "not annotated" in SAMM sheets
        return None, False
    return round(value), not value.is_integer()


def parse_rows(path: Path, table: Sequence[Sequence[str]], *,
               subject: Callable[[str], str] = lambda text: text) -> Sheet:
    """Check every row of `table` (from `read_table`); `subject` maps a Subject cell to its id."""
    header = find_header(table)
    if header is None:
        raise AnnotationError(f"{path}: no header row")
    header_index, columns = header
    missing = [TITLES[name] for name in REQUIRED if name not in columns]
    if missing:
        raise AnnotationError(f"{path}: the header on row {header_index + 1} has no column "
                              f"{', '.join(missing)}")
    rows: list[SheetRow] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str], int] = {}
    for index in range(header_index + 1, len(table)):
        cells = table[index]
        values = {name: cells[column] if column < len(cells) else "" for name, column in columns.items()}
        values.setdefault("action_units", "")
        if not any(values[name] for name in REQUIRED):
            continue  # blank row
        row = _parse_row(path, index + 1, values, subject, seen)
        if isinstance(row, SheetRow):
            rows.append(row)
            problems.extend(row.problems)
            if row.apex_issue is not None:
                problems.append(pending_apex_problem(row))
            seen[(row.subject, row.clip_id)] = row.row
        else:
            problems.append(row)
    return Sheet(file=path, rows=tuple(rows), problems=tuple(problems))


def _parse_row(path: Path, row: int, values: dict[str, str], subject: Callable[[str], str],
               seen: dict[tuple[str, str], int]) -> SheetRow | Problem:
    clip = values["clip"] or None

    def problem(message: str, action: str) -> Problem:
        return Problem(file=path, row=row, clip=clip, message=message, action=action)

    if not values["clip"]:
        return problem("no Filename: the row names no clip", "skipped")
    if not values["subject"]:
        return problem("no Subject", "skipped")
    subject_id = subject(values["subject"])
    if (subject_id, values["clip"]) in seen:
        return problem(f"same subject and clip as row {seen[(subject_id, values['clip'])]}", "skipped")
    emotion = " ".join(values["emotion"].split()).lower()
    if not emotion:
        return problem("no Estimated Emotion", "skipped")
    found: list[Problem] = []
    numbers: dict[str, int | None] = {}
    for name in ("onset", "apex", "offset"):
        numbers[name], rounded = frame_number(values[name])
        if rounded:
            found.append(problem(f"{name} {values[name]} is not a whole frame: rounded to "
                                 f"{numbers[name]}", "repaired"))
    onset, apex, offset = numbers["onset"], numbers["apex"], numbers["offset"]
    if onset is None:
        return problem(f"onset {values['onset']!r} is not a frame number", "skipped")
    if offset is None:
        return problem(f"offset {values['offset']!r} is not a frame number", "skipped")
    if offset < onset:
        return problem(f"offset {offset} is before onset {onset}", "skipped")
    if offset == onset:
        return problem(f"onset == offset ({onset}): no movement to pool", "skipped")
    apex_issue = None
    if apex is None:
        apex_issue = f"apex {values['apex']!r} is not a frame number" if values["apex"] else "no apex"
    elif apex < onset:
        apex_issue, apex = f"apex {apex} is before onset {onset}", None
    elif apex > offset:
        apex_issue, apex = f"apex {apex} is after offset {offset}", None
    elif apex == onset:
        found.append(problem(f"onset == apex ({apex}): the onset phase is one frame, its DI is zero",
                             "warning"))
    elif apex == offset:
        found.append(problem(f"apex == offset ({apex}): the offset phase is one frame, its DI is zero",
                             "warning"))
    return SheetRow(file=path, row=row, subject=subject_id, clip_id=values["clip"],
                    frames=Interval(onset, apex, offset), emotion=emotion,
                    action_units=values["action_units"], apex_issue=apex_issue, problems=tuple(found))


def pending_apex_problem(row: SheetRow) -> Problem:
    """The sheet-only report of an apex that the reader will locate once it has the frames."""
    return Problem(file=row.file, row=row.row, clip=row.clip_id, action="repaired",
                   message=f"{row.apex_issue}; to be located at the peak of facial motion between onset "
                           f"and offset")


def numeric_subject(width: int) -> Callable[[str], str]:
    """Subject cell -> folder id: '1', '1.0', 'sub1' -> '01' for width 2; other text unchanged."""
    def normalise(text: str) -> str:
        match = re.fullmatch(r"(?:sub)?0*(\d+)(?:\.0+)?", text.strip(), flags=re.IGNORECASE)
        return match.group(1).zfill(width) if match else text.strip()
    return normalise


def find_sheet(root: Path, patterns: Sequence[str], *, describe: str) -> Path:
    """The coding sheet inside `root` (or one or two folders down, or beside it)."""
    wanted = [pattern.lower() for pattern in patterns]
    for folder in (root, *sorted(p for p in root.iterdir() if p.is_dir()), root.parent):
        candidates = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(("~$", "."))
                            and any(fnmatch.fnmatch(p.name.lower(), pattern) for pattern in wanted))
        if candidates:
            return candidates[0]
    raise AnnotationError(f"{root}: no {describe} coding sheet ({' or '.join(patterns)}) in it, "
                          f"in its sub-folders or beside it; give it with --annotations")
