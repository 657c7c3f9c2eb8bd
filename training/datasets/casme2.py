"""CASME-II as shipped: `subXX/<clip>/imgN.jpg` (raw) or `subXX/<clip>/reg_imgN.jpg` (cropped).

The root may be the folder holding the subXX folders (CASME2-RAW/, Cropped/) or one above it;
the coding sheet (`CASME2-coding-20190701.xlsx`, or `CASME2-coding-synth.xlsx` written by
`mer-synth dataset`) sits in the root, one folder down, or beside it. Frame numbers are the N
of imgN, as in the sheet's OnsetFrame/ApexFrame/OffsetFrame; raw clips do not start at img1.
"""

from __future__ import annotations

import re
from pathlib import Path

from realtime.core.problems import Problem
from training.datasets.release import FRAME_SUFFIXES, ReleaseFormat, subject_clip_folders
from training.datasets.sheets import numeric_subject

SUBJECT_FOLDER = re.compile(r"sub(\d+)", re.IGNORECASE)
subject_id = numeric_subject(2)  # '1', 1, 'sub01' -> '01'


def find_clip_folders(root: Path) -> tuple[dict[tuple[str, str], Path], list[Problem]]:
    return subject_clip_folders(root, SUBJECT_FOLDER, subject_id, "CASME-II subject folders (subXX)")


FORMAT = ReleaseFormat(
    name="casme2", title="CASME-II", sheet_patterns=("*coding*.xlsx", "*coding*.csv"), subject=subject_id,
    frame_pattern=re.compile(r"(?:reg_)?img(\d+)" + FRAME_SUFFIXES, re.IGNORECASE),
    frame_names="imgN.jpg or reg_imgN.jpg",
    find_clip_folders=find_clip_folders)
