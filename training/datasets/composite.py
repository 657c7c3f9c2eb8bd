"""The MEGC2019 composite set: its official 3-class list, read and joined with the releases.

`combined_3class_gt.csv` (no header) lists dataset, subject, filename, label per line, label
0 = negative, 1 = positive, 2 = surprise, for SMIC, CASME-II and SAMM clips. The list is the
authority: it leaves out some clips that the emotion mapping ("megc3" class map) would keep
(for CASME-II the '/'-apex and onset == apex rows and three clips of subject 24, 145 clips
instead of 150), so `mer-train --dataset composite` uses this reader, not the class map.
Subjects are written as the challenge wrote them ('sub01', '6') and normalised to the releases'
ids ('01', '006'). SMIC has no reader here; its lines are reported as not used.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from realtime.core.errors import AnnotationError
from realtime.core.problems import Problem
from training.datasets.clip import Clip, DatasetIndex
from training.datasets.loader import FORMATS, read_release

MEGC3_CLASSES = ("negative", "positive", "surprise")  # labels 0, 1, 2 of the list, in this fixed order
_DATASET_NAMES = {"casme2": "casme2", "casmeii": "casme2", "samm": "samm", "smic": "smic"}


@dataclass(frozen=True)
class CompositeEntry:
    """One line of the composite list."""

    dataset: str  # "casme2" | "samm" | "smic" | as written for other names
    subject: str  # the release's id: "01" (CASME-II), "006" (SAMM); as written otherwise
    clip_id: str
    label: str  # one of MEGC3_CLASSES
    row: int  # line number in the file


def read_composite(path: Path) -> tuple[tuple[CompositeEntry, ...], tuple[Problem, ...]]:
    """Entries of a composite list (csv, no header) and the problems of its lines."""
    path = Path(path)
    try:
        lines = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path}: cannot read the composite list ({exc})") from exc
    entries: list[CompositeEntry] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, cells in enumerate(lines, start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells) or (number == 1 and "label" in (cell.lower() for cell in cells)):
            continue  # blank line, or a header some copies carry

        def problem(message: str, clip: str | None = None) -> Problem:
            return Problem(file=path, row=number, clip=clip, message=message, action="skipped")

        if len(cells) < 4 or not all(cells[:4]):
            problems.append(problem(f"expected dataset, subject, filename, label; got {','.join(cells)!r}"))
            continue
        dataset = _DATASET_NAMES.get(re.sub(r"[^a-z0-9]", "", cells[0].lower()), cells[0].lower())
        subject = FORMATS[dataset].subject(cells[1]) if dataset in FORMATS else cells[1]
        clip_id, label = cells[2], cells[3]
        if label not in ("0", "1", "2"):
            problems.append(problem(f"label {label!r} is not 0, 1 or 2", clip_id))
            continue
        key = (dataset, subject, clip_id)
        if key in seen:
            problems.append(problem(f"same clip as line {seen[key]}", clip_id))
            continue
        seen[key] = number
        entries.append(CompositeEntry(dataset=dataset, subject=subject, clip_id=clip_id,
                                      label=MEGC3_CLASSES[int(label)], row=number))
    if not entries:
        raise AnnotationError(f"{path}: no composite entries (lines of dataset, subject, filename, label)")
    return tuple(entries), tuple(problems)


def load_composite(roots: Mapping[str, Path], *, gt: Path,
                   annotations: Mapping[str, Path] | None = None) -> DatasetIndex:
    """The composite clips found in the given releases (`{"casme2": root, "samm": root}`), labelled by `gt`.

    Problems: the list's own, the releases' problems that concern listed clips, one skip per
    listed clip that its release does not provide, and one warning per dataset not read.
    """
    gt = Path(gt)
    entries, list_problems = read_composite(gt)
    problems: list[Problem] = list(list_problems)
    per_dataset = Counter(entry.dataset for entry in entries)
    for dataset, count in per_dataset.items():
        if dataset not in roots:
            why = f"no root given for {dataset}" if dataset in FORMATS else f"no reader for {dataset}"
            problems.append(Problem(file=gt, row=None, clip=None, action="warning",
                                    message=f"{count} {dataset} clips of the list not used: {why}"))
    clips: list[Clip] = []
    for name, root in roots.items():
        listed = [entry for entry in entries if entry.dataset == name]
        release = read_release(name, root, annotations=(annotations or {}).get(name))
        listed_ids = {entry.clip_id for entry in listed}
        problems.extend(problem for problem in release.problems  # folder-level ones and those of listed clips
                        if problem.clip in listed_ids or (problem.row is None and problem.clip is None))
        found = {(clip.subject, clip.clip_id): clip for clip in release.clips}
        for entry in listed:
            clip = found.get((entry.subject, entry.clip_id))
            if clip is None:
                problems.append(Problem(file=gt, row=entry.row, clip=entry.clip_id, action="skipped",
                                        message=f"subject {entry.subject}, clip {entry.clip_id} is not a usable "
                                                f"clip of the {name} release under {root}"))
            else:
                clips.append(replace(clip, label=entry.label))
    classes = tuple(name for name in MEGC3_CLASSES if any(clip.label == name for clip in clips))
    return DatasetIndex(clips=tuple(clips), problems=tuple(problems), classes=classes)
