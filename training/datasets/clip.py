"""What a dataset reader returns: usable clips, the problems it found, the classes it kept."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from realtime.core.interval import Interval
from realtime.core.problems import Problem


@dataclass(frozen=True)
class Clip:
    """One micro-expression: its frame files and its phases, in sheet numbers and list positions.

    `frames` are sorted by frame number (img9 before img10), never by name; `positions` are the
    phases as 0-based positions in `frames`, `sheet_frames` the sheet's numbers after any repair, so
    `frame_numbers[positions.apex] == sheet_frames.apex`.
    """

    dataset: str  # "casme2" | "samm" | "mmew"
    subject: str  # as text, as in the sheet: "01", "006"
    clip_id: str  # sheet Filename, e.g. "EP02_01f", "006_1_2"
    frames: tuple[Path, ...]  # frame files in numeric order
    frame_numbers: tuple[int, ...]
    sheet_frames: Interval  # the sheet's frame numbers
    positions: Interval  # 0-based positions in `frames`
    emotion: str  # the sheet's estimated emotion, lower-case
    label: str | None  # after the class map; None = dropped class
    action_units: str

    @property
    def key(self) -> str:
        """A name unique within a release (clip ids repeat across subjects in CASME-II)."""
        return f"{self.dataset}/{self.subject}/{self.clip_id}"


@dataclass(frozen=True)
class DatasetIndex:
    """Usable labelled clips of one release (or of the composite), in sheet order."""

    clips: tuple[Clip, ...]  # usable clips with a label
    problems: tuple[Problem, ...]
    classes: tuple[str, ...]  # kept classes, in the class map's fixed order

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(sorted({clip.subject for clip in self.clips}))

    def counts(self) -> dict[str, int]:
        """Clips per class, in class order."""
        return {name: sum(clip.label == name for clip in self.clips) for name in self.classes}
