"""MMEW as shipped: `Micro_Expression/<emotion>/<clip>/N.jpg` and the sheet `MMEW_Micro_Exp.xlsx`.

The sheet's columns are Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, AU, Estimated
Emotion; frame numbers are the N of N.jpg. Folders do not name the subject, so a clip folder is
matched by its name alone, whatever emotion folder it sits in (the folder's emotion is not
trusted over the sheet's). The root may be Micro_Expression/ itself or a folder up to two
levels above it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from realtime.core.problems import Problem
from training.datasets.release import FRAME_SUFFIXES, ReleaseFormat, folders_holding, pick_release

RELEASE_FOLDER = "micro_expression"


def find_clip_folders(root: Path) -> tuple[dict[tuple[str, str], Path], list[Problem]]:
    candidates = folders_holding(root, lambda folder: folder.name.lower() == RELEASE_FOLDER)
    release, problems = pick_release(root, candidates, "Micro_Expression folder")
    folders: dict[tuple[str, str], Path] = {}
    for folder, children, _ in sorted(os.walk(release)) if release is not None else ():
        if not children and Path(folder) != release:  # a leaf folder is a clip (emotion/clip)
            path = Path(folder)
            if ("", path.name) in folders:
                problems.append(Problem(file=path, row=None, clip=path.name, action="warning",
                                        message=f"clip folder name also used by {folders[('', path.name)]}; "
                                                f"reading that one"))
                continue
            folders[("", path.name)] = path
    return folders, problems


FORMAT = ReleaseFormat(
    name="mmew", title="MMEW", sheet_patterns=("MMEW_Micro_Exp*.xlsx", "MMEW_Micro_Exp*.csv"),
    subject=str.strip, frame_pattern=re.compile(r"(\d+)" + FRAME_SUFFIXES, re.IGNORECASE), frame_names="N.jpg",
    find_clip_folders=find_clip_folders, keyed_by_subject=False)
