"""A release on disk: where its clip folders are, their frame files, and sheet rows matched to them.

Each dataset module (casme2, samm, mmew) describes its release by a `ReleaseFormat`; this module
does the rest the same way for all three. Frame files are ordered by the number in their name
(img9 before img10), never by the name itself; the sheet's onset/apex/offset numbers become
positions in that list, repaired when the files do not cover them exactly.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.core.interval import Interval
from realtime.core.problems import Problem
from realtime.spotting.apex import locate_apex
from training.datasets.clip import Clip
from training.datasets.sheets import SheetRow

log = logging.getLogger(__name__)

FRAME_SUFFIXES = r"\.(?:jpe?g|png|bmp|tiff?)"


@dataclass(frozen=True)
class ReleaseFormat:
    """How one dataset ships: its sheet's name, subject ids, folders and frame file names."""

    name: str  # "casme2"
    title: str  # "CASME-II", for messages
    sheet_patterns: tuple[str, ...]  # file name patterns of the coding sheet (case-insensitive)
    subject: Callable[[str], str]  # Subject cell -> id as in the folder names
    frame_pattern: re.Pattern[str]  # a frame file name; group 1 is the frame number
    frame_names: str  # the same, for messages: "imgN.jpg or reg_imgN.jpg"
    # release root -> ({(subject, clip id): clip folder}, problems); subject "" where folders do not say it
    find_clip_folders: Callable[[Path], tuple[dict[tuple[str, str], Path], list[Problem]]]
    keyed_by_subject: bool = True  # False: clip folders are matched by clip id alone (MMEW)

    def folder_key(self, row: SheetRow) -> tuple[str, str]:
        return (row.subject if self.keyed_by_subject else "", row.clip_id)


def subfolders(folder: Path) -> list[Path]:
    """Sorted sub-folders; none for a folder that cannot be listed (a release is read, not fixed)."""
    try:
        return sorted(child for child in folder.iterdir() if child.is_dir())
    except OSError:
        return []


def folders_holding(root: Path, wanted: Callable[[Path], bool], *, depth: int = 2) -> list[Path]:
    """Folders at the smallest depth (0 = root itself) up to `depth` for which `wanted` is true."""
    level = [root]
    for _ in range(depth + 1):
        found = [folder for folder in level if wanted(folder)]
        if found:
            return found
        level = [child for folder in level for child in subfolders(folder)]
    return []


def pick_release(root: Path, candidates: list[Path], what: str) -> tuple[Path | None, list[Problem]]:
    """The one release folder among `candidates`, with a warning when there is a choice or none."""
    if not candidates:
        return None, [Problem(file=root, row=None, clip=None, action="warning",
                              message=f"no {what} found in this folder or two levels below")]
    problems = []
    if len(candidates) > 1:
        others = ", ".join(str(path) for path in candidates[1:])
        problems.append(Problem(file=root, row=None, clip=None, action="warning",
                                message=f"several releases found; reading {candidates[0]} "
                                        f"(not {others}); point --root at the one you want"))
    return candidates[0], problems


def subject_clip_folders(root: Path, subject_folder: re.Pattern[str], subject_id: Callable[[str], str],
                         what: str) -> tuple[dict[tuple[str, str], Path], list[Problem]]:
    """{(subject, clip): folder} of a release laid out as <subject folder>/<clip folder>/frames,
    the subject folders named by `subject_folder` (CASME-II `sub01`, SAMM `006`)."""
    def holds_subjects(folder: Path) -> bool:
        return any(subject_folder.fullmatch(child.name) for child in subfolders(folder))

    release, problems = pick_release(root, folders_holding(root, holds_subjects), what)
    folders: dict[tuple[str, str], Path] = {}
    for subject in subfolders(release) if release is not None else ():
        if subject_folder.fullmatch(subject.name):
            for clip in subfolders(subject):
                folders[(subject_id(subject.name), clip.name)] = clip
    return folders, problems


def list_frames(folder: Path, pattern: re.Pattern[str]) -> tuple[list[Path], list[int]]:
    """Frame files of a clip folder and their numbers, in numeric order (duplicate numbers: first name kept)."""
    numbered: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        match = pattern.fullmatch(path.name)
        if match and path.is_file():
            numbered.setdefault(int(match.group(1)), path)
    numbers = sorted(numbered)
    return [numbered[number] for number in numbers], numbers


def read_grey(paths: list[Path]) -> np.ndarray | None:
    """(T, H, W) grey uint8 at half resolution (enough to find a motion peak), None if a file is unreadable."""
    frames = [cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_2) for path in paths]
    if any(frame is None for frame in frames) or len({frame.shape for frame in frames}) != 1:
        return None
    return np.stack(frames)


def resolve_row(row: SheetRow, folder: Path, release: ReleaseFormat) -> tuple[Clip | None, list[Problem]]:
    """Match a sheet row to the frame files of its folder: a Clip (label None) and what was repaired."""
    problems: list[Problem] = []

    def problem(message: str, action: str) -> Problem:
        return Problem(file=row.file, row=row.row, clip=row.clip_id, message=message, action=action)

    paths, numbers = list_frames(folder, release.frame_pattern)
    if not numbers:
        return None, [problem(f"no frame files named {release.frame_names} in {folder}",
                              "skipped")]
    first, last = numbers[0], numbers[-1]
    if row.frames.onset > last or row.frames.offset < first:
        return None, [problem(f"onset..offset {row.frames.onset}..{row.frames.offset} lies outside the frame "
                              f"files {first}..{last} in {folder}", "skipped")]
    onset = bisect.bisect_left(numbers, row.frames.onset)  # first file at or after the sheet's onset
    offset = bisect.bisect_right(numbers, row.frames.offset) - 1  # last file at or before its offset
    for name, wanted, position in (("onset", row.frames.onset, onset), ("offset", row.frames.offset, offset)):
        if numbers[position] != wanted:
            problems.append(problem(f"no frame file for {name} {wanted} (files {first}..{last}): "
                                    f"{name} set to {numbers[position]}", "repaired"))
    if offset <= onset:
        return None, [*problems, problem("fewer than two frame files between onset and offset", "skipped")]
    apex_issue = row.apex_issue
    if apex_issue is None and not numbers[onset] <= row.frames.apex <= numbers[offset]:
        apex_issue = f"apex {row.frames.apex} is outside the frame files {numbers[onset]}..{numbers[offset]}"
    if apex_issue is None:
        apex = min(range(onset, offset + 1), key=lambda position: abs(numbers[position] - row.frames.apex))
        if numbers[apex] != row.frames.apex:
            problems.append(problem(f"no frame file for apex {row.frames.apex}: apex set to the nearest, "
                                    f"{numbers[apex]}", "repaired"))
    else:
        frames = read_grey(paths[onset:offset + 1])  # (T, H, W) grey uint8
        if frames is None:
            return None, [*problems, problem(f"{apex_issue}, and the frames {numbers[onset]}..{numbers[offset]} "
                                             f"in {folder} cannot all be read to locate it", "skipped")]
        apex = onset + locate_apex(frames, 0, len(frames) - 1)
        problems.append(problem(f"{apex_issue}; located at frame {numbers[apex]}, the peak of facial motion "
                                f"between onset and offset", "repaired"))
    clip = Clip(dataset=release.name, subject=row.subject, clip_id=row.clip_id, frames=tuple(paths),
                frame_numbers=tuple(numbers), sheet_frames=Interval(numbers[onset], numbers[apex], numbers[offset]),
                positions=Interval(onset, apex, offset), emotion=row.emotion,
                label=None, action_units=row.action_units)
    return clip, problems
