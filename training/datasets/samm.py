"""SAMM as shipped: `006/006_1_2/006_05562.jpg` (frame number = the digits after the last underscore).

The root may be the folder holding the subject folders (006/, 007/, ...) or one above it; the
coding sheet is `SAMM_Micro_FACS_Codes_v2.xlsx` (sheet MICRO_ONLY, header on row 14 under a
legend), found in the root, one folder down, or beside it.
"""

from __future__ import annotations

import re
from pathlib import Path

from realtime.core.problems import Problem
from training.datasets.release import FRAME_SUFFIXES, ReleaseFormat, subject_clip_folders
from training.datasets.sheets import numeric_subject

SUBJECT_FOLDER = re.compile(r"\d+")
subject_id = numeric_subject(3)  # '6', 6 -> '006'


def find_clip_folders(root: Path) -> tuple[dict[tuple[str, str], Path], list[Problem]]:
    return subject_clip_folders(root, SUBJECT_FOLDER, subject_id, "SAMM subject folders (006, ...)")


FORMAT = ReleaseFormat(
    name="samm", title="SAMM", sheet_patterns=("SAMM*Micro_FACS_Codes*.xlsx", "SAMM*Micro_FACS_Codes*.csv"),
    subject=subject_id, frame_pattern=re.compile(r".*_(\d+)" + FRAME_SUFFIXES, re.IGNORECASE),
    frame_names="<subject>_N.jpg",
    find_clip_folders=find_clip_folders)
