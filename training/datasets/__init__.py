"""Readers for CASME-II, SAMM and MMEW releases as their owners ship them, and the MEGC2019 composite.

    index = load_dataset("casme2", Path("CASME2"))       # DatasetIndex(clips, problems, classes)
    sheet = read_sheet("samm", Path("SAMM_Micro_FACS_Codes_v2.xlsx"))   # rows + problems, no frames

Class orders are fixed by the class map (see `training.datasets.classes`).
"""

from __future__ import annotations

from training.datasets.classes import CLASS_MAPS, class_order, resolve_class_map
from training.datasets.clip import Clip, DatasetIndex
from training.datasets.composite import (MEGC3_CLASSES, CompositeEntry, load_composite,
                                         read_composite)
from training.datasets.loader import FORMATS, Release, load_dataset, read_release, read_sheet
from training.datasets.sheets import Sheet, SheetRow

__all__ = [
    "CLASS_MAPS", "FORMATS", "MEGC3_CLASSES", "Clip", "CompositeEntry", "DatasetIndex", "Release",
    "Sheet", "SheetRow", "class_order", "load_composite", "load_dataset", "read_composite", "read_release",
    "read_sheet", "resolve_class_map",
]
