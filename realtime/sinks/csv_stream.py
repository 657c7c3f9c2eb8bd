"""Streamed CSV tables: rows written as results arrive, flushed, closed cleanly on Ctrl-C.

Every sink writes as results arrive and flushes, so an interrupted run keeps what it found;
each is a context manager, so Ctrl-C or an error still closes complete, readable files.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

MOTION_PREFIX = "motion_"  # frames.csv columns holding per-region motion


class CsvStream:
    """A CSV table written row by row with a fixed header, flushed at most every `flush_s`."""

    def __init__(self, path: str | Path, columns: Sequence[str], *, flush_s: float = 0.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns = list(columns)
        self._known = frozenset(self.columns)
        self._handle = self.path.open("w", newline="")
        self._writer = csv.writer(self._handle)  # rows as lists in column order: DictWriter's checks cost as
        self._writer.writerow(self.columns)  #      much as the writing, on the frame thread, once a frame
        self._handle.flush()
        self._flush_s = flush_s
        self._last_flush = time.monotonic()
        self.rows = 0

    def write(self, row: Mapping[str, Any]) -> None:
        """One row; a missing column is an empty cell, an unknown one a ValueError (as csv.DictWriter)."""
        if not self._known.issuperset(row):
            raise ValueError(f"{self.path}: no such columns {sorted(set(row) - self._known)}")
        self._writer.writerow([_cell(row.get(column, "")) for column in self.columns])
        self.rows += 1
        now = time.monotonic()
        if now - self._last_flush >= self._flush_s:
            self._handle.flush()
            self._last_flush = now

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> CsvStream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _cell(value: Any) -> Any:
    """Floats rounded to what the data supports, so tables stay readable and diffable."""
    if isinstance(value, (float, np.floating)):
        return "" if value != value else f"{float(value):.6g}"  # NaN is the one value unequal to itself
    return value


def read_rows(path: Path) -> list[dict[str, str]]:
    """A CSV table a run wrote, as dicts; a file not written (yet) has no rows."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def cell_float(value: object) -> float:
    """A CSV cell as a number; an empty cell (face lost, region covered) or a missing one is NaN."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan

