"""What annotation readers report instead of failing: a wrong or incomplete row and what was done.

Shared by the spotting ground-truth readers (realtime.spotting.ground_truth) and the dataset
readers (training.datasets), so both speak of a bad sheet row in the same one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """A wrong or incomplete sheet row (or release folder), and what the reader did about it.

    `row` is the row number a user sees in Excel (or the line number of a csv file), None for
    problems that concern the whole file or folder.
    """

    file: Path
    row: int | None
    clip: str | None
    message: str
    action: str  # "repaired" | "skipped" | "warning"

    def __str__(self) -> str:
        where = f"{self.file.name}:{self.row}" if self.row is not None else str(self.file)
        clip = f" {self.clip}" if self.clip else ""
        return f"{where}{clip}: {self.message} ({self.action})"
