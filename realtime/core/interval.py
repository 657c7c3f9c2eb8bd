"""The one interval type: a movement's onset, apex and offset as inclusive frame numbers.

Every record with phases holds an `Interval` (spotted events and movements, ground truth, sheet
rows, dataset clips, synthetic events, predictions, covered spans, an event's dynamic images), so
the rules live here once: 0 <= onset <= apex <= offset, [10, 19] holds 10 frames, the phases share
the apex frame, IoU is MEGC's. The apex is None where there is none (a movement's or a
prediction's interval) or it is not known (a sheet's '/'). Seconds are frame / fps
(`realtime.core.frame`); a record whose times come from the source's clock (the spotter's) keeps
those times beside its interval.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from realtime.core.errors import InputError
from realtime.core.frame import frames_to_seconds

FRAME_COLUMNS = ("onset_frame", "apex_frame", "offset_frame")  # an interval's columns in every csv


@dataclass(frozen=True)
class Interval:
    """onset..offset, inclusive, and the apex: 0-based frames of a video, a sheet's frame numbers, or positions
    in a clip's frame list."""

    onset: int
    apex: int | None  # None: no apex (a movement, a prediction) or not known yet
    offset: int

    def __post_init__(self) -> None:
        if not 0 <= self.onset <= self.offset:
            raise InputError(f"interval {self.onset}..{self.offset} needs 0 <= onset <= offset")
        if self.apex is not None and not self.onset <= self.apex <= self.offset:
            raise InputError(f"interval {self.onset}..{self.offset}: apex {self.apex} breaks onset <= apex <= offset")

    @property
    def length(self) -> int:
        """Frames it holds: [10, 19] holds 10."""
        return self.offset - self.onset + 1

    @property
    def bounds(self) -> tuple[int, int]:
        """(onset, offset): what spotting is scored on."""
        return self.onset, self.offset

    def phases(self) -> tuple[Interval, Interval]:
        """onset..apex and apex..offset (what DI-Onset and DI-Offset pool): the two share the apex frame."""
        if self.apex is None:
            raise InputError(f"interval {self.onset}..{self.offset} has no apex to split its phases at")
        return Interval(self.onset, None, self.apex), Interval(self.apex, None, self.offset)

    def contains(self, frame: int) -> bool:
        return self.onset <= frame <= self.offset

    def overlap(self, other: Interval) -> int:
        """Frames the two hold in common (0 when disjoint)."""
        return max(0, min(self.offset, other.offset) - max(self.onset, other.onset) + 1)

    def iou(self, other: Interval) -> float:
        """Intersection over union in frames, MEGC's hit measure."""
        common = self.overlap(other)
        return common / (self.length + other.length - common) if common else 0.0

    def shifted(self, frames: int) -> Interval:
        """The same interval `frames` later (earlier when negative): sheet numbers <-> list positions."""
        return Interval(self.onset + frames, None if self.apex is None else self.apex + frames, self.offset + frames)

    def seconds(self, fps: float) -> tuple[float, float | None, float]:
        """(onset_s, apex_s, offset_s): the time of each frame at `fps`; apex_s None without an apex."""
        apex_s = None if self.apex is None else frames_to_seconds(self.apex, fps)
        return frames_to_seconds(self.onset, fps), apex_s, frames_to_seconds(self.offset, fps)

    def columns(self) -> dict[str, int | None]:
        """The csv columns of every table of intervals (events.csv, ground truth, sheets)."""
        return dict(zip(FRAME_COLUMNS, (self.onset, self.apex, self.offset)))


def flat_row(record: Any) -> dict[str, Any]:
    """A record's fields with its interval spread, in place, into `FRAME_COLUMNS`: its csv or json row."""
    row: dict[str, Any] = {}
    for item in fields(record):
        value = getattr(record, item.name)
        row.update(value.columns() if isinstance(value, Interval) else {item.name: value})
    return row


def flat_columns(record_type: type) -> list[str]:
    """A record type's field names with its interval spread into `FRAME_COLUMNS`: the header of its `flat_row`s."""
    return [column for item in fields(record_type)
            for column in (FRAME_COLUMNS if item.type in ("Interval", Interval) else (item.name,))]
