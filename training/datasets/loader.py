"""`load_dataset`: a release as its owners ship it -> labelled clips, problems, classes.

Steps: find and read the coding sheet (`read_sheet`, usable without the frames), match each row
to its clip folder and frame files (repairing what can be repaired, skipping the rest, every
problem reported by file and row), then apply the class map and drop the classes with too few
clips. Only a sheet that cannot be read at all raises (`AnnotationError`); a missing root
raises `InputError`; everything else is a `Problem`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from realtime.core.errors import InputError
from realtime.core.problems import Problem
from training.datasets import casme2, mmew, samm
from training.datasets.classes import ClassMap, class_order, resolve_class_map
from training.datasets.clip import Clip, DatasetIndex
from training.datasets.release import ReleaseFormat, resolve_row
from training.datasets.sheets import Sheet, SheetRow, find_sheet, parse_rows, pending_apex_problem, read_table

log = logging.getLogger(__name__)

FORMATS: Mapping[str, ReleaseFormat] = {fmt.name: fmt for fmt in (casme2.FORMAT, samm.FORMAT, mmew.FORMAT)}


def release_format(name: str) -> ReleaseFormat:
    if name not in FORMATS:
        raise InputError(f"unknown dataset {name!r}; known: {', '.join(FORMATS)}")
    return FORMATS[name]


def read_sheet(name: str, path: Path) -> Sheet:
    """The rows of a `name` ("casme2" | "samm" | "mmew") coding sheet and its problems, without frames."""
    return parse_rows(Path(path), read_table(Path(path)), subject=release_format(name).subject)


@dataclass(frozen=True)
class Release:
    """Every clip of a release matched to its frames, before the class map (labels are None)."""

    sheet: Path
    clips: tuple[Clip, ...]
    problems: tuple[Problem, ...]


def read_release(name: str, root: Path, *, annotations: Path | None = None) -> Release:
    """Read the sheet of a release under `root` and match its rows to the frame files."""
    release = release_format(name)
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: dataset root is not a folder")
    sheet_path = Path(annotations) if annotations is not None else find_sheet(
        root, release.sheet_patterns, describe=release.title)
    sheet = read_sheet(name, sheet_path)
    folders, problems = release.find_clip_folders(root)
    clips: list[Clip] = []
    for row in sheet.rows:
        folder = folders.get(release.folder_key(row))
        if folder is None:
            where = f"subject {row.subject}, clip {row.clip_id}" if release.keyed_by_subject else f"clip {row.clip_id}"
            clip, found = None, [Problem(file=row.file, row=row.row, clip=row.clip_id, action="skipped",
                                         message=f"no frame folder for {where} under {root}")]
        else:
            clip, found = resolve_row(row, folder, release)
        if clip is None:
            problems.extend([*row.problems, *_pending(row), *found])
        else:
            clips.append(clip)
            problems.extend([*row.problems, *found])
    sheet_level = [problem for problem in sheet.problems if problem.action == "skipped"]
    log.debug("%s: %d of %d sheet rows matched to frames in %s", sheet_path, len(clips), len(sheet.rows), root)
    return Release(sheet=sheet_path, clips=tuple(clips),
                   problems=tuple(sorted([*sheet_level, *problems], key=_problem_order)))


def _pending(row: SheetRow) -> list[Problem]:
    return [pending_apex_problem(row)] if row.apex_issue is not None else []


def _problem_order(problem: Problem) -> tuple[int, int]:
    """Folder-level problems first, then by sheet row (stable within a row)."""
    return (0, 0) if problem.row is None else (1, problem.row)


def apply_class_map(clips: tuple[Clip, ...], class_map: ClassMap, *, sheet: Path,
                    min_clips_per_class: int) -> tuple[tuple[Clip, ...], tuple[str, ...], list[Problem]]:
    """Label clips, drop unmapped emotions and classes under `min_clips_per_class`; report each drop."""
    problems: list[Problem] = []

    def dropped(count: int, what: str, why: str) -> None:
        problems.append(Problem(file=sheet, row=None, clip=None, action="warning",
                                message=f"{count} clip{'s' * (count != 1)} of {what} not used: {why}"))

    emotions = Counter(clip.emotion for clip in clips)
    for emotion, count in emotions.items():
        if emotion not in class_map:
            dropped(count, f"emotion {emotion!r}", "not in the class map")
        elif class_map[emotion] is None:
            dropped(count, f"emotion {emotion!r}", "the class map drops it")
    labels = Counter(class_map.get(clip.emotion) for clip in clips)
    kept = []
    for name in class_order(class_map):
        if labels[name] >= max(min_clips_per_class, 1):
            kept.append(name)
        elif labels[name]:
            dropped(labels[name], f"class {name!r}", f"fewer than {min_clips_per_class} clips")
    labelled = tuple(replace(clip, label=class_map[clip.emotion]) for clip in clips
                     if class_map.get(clip.emotion) in kept)
    return labelled, tuple(kept), problems


def load_dataset(name: str, root: Path, *, annotations: Path | None = None,
                 class_map: Mapping[str, str | None] | str | None = None,
                 min_clips_per_class: int = 10) -> DatasetIndex:
    """Usable labelled clips of a CASME-II, SAMM or MMEW release under `root`.

    `annotations=None` finds the sheet in the release (see each dataset module); `class_map` is
    a mapping emotion -> label (None drops it) or a name from `classes.CLASS_MAPS`, by default
    the dataset's own (the paper's classes). Classes keep the map's order (`classes` docs).
    """
    release_format(name)  # an unknown dataset fails before the class map does
    mapping = resolve_class_map(name, class_map)
    release = read_release(name, root, annotations=annotations)
    clips, classes, dropped = apply_class_map(release.clips, mapping, sheet=release.sheet,
                                              min_clips_per_class=min_clips_per_class)
    return DatasetIndex(clips=clips, problems=(*release.problems, *dropped), classes=classes)
