"""Segmentation stage: stretches of the score above the noise band, with their onset and offset.

A movement starts where the score (in noise units) leaves the noise band and ends where it
re-enters it; onset and offset then follow the falling score out to the resting level (at most
`tail_s` further): the band crossing clips the slow start and end of every movement.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SegmentConfig:
    band: float  # noise band, noise units
    end_s: float  # quiet time after the offset that closes a movement
    tail_s: float  # onset/offset may lie this far beyond the band crossing
    longest_s: float  # a movement still going after this long is closed as it stands


@dataclass
class Segment:
    """A stretch of scores above the noise band, being followed (indices into the score history)."""

    start: int  # first sample above the band
    onset_s: float
    peak: int
    end: int | None = None  # first sample back inside the band
    offset_s: float | None = None


class Segmenter:
    """Score history (time, value, z, cells) and the one segment being followed."""

    def __init__(self, config: SegmentConfig) -> None:
        self.config = config
        self.t: list[float] = []
        self.value: list[float] = []  # aggregate score, px
        self.z: list[float] = []  # score in noise units
        self.cells: list[np.ndarray] = []  # (C,) per-cell score, px
        self.open: Segment | None = None

    def add(self, t: float, value: float, z: float, cells: np.ndarray) -> tuple[list[Segment], str | None]:
        """Append a scored sample; (segments closed by it, the new state or None when unchanged)."""
        self.t.append(t)
        self.value.append(value)
        self.z.append(z)
        self.cells.append(cells)
        return self._follow(len(self.t) - 1)

    def _follow(self, j: int) -> tuple[list[Segment], str | None]:
        c = self.config
        z = self.z[j]
        above = z > c.band  # NaN (warming up) is never above
        seg = self.open
        if seg is None:
            state = "idle" if z == z else "warming up"
            if above:
                onset = self._crossing(j - 1, j) if j > 0 else self.t[j]
                self.open = Segment(start=j, onset_s=onset, peak=j)
                state = "movement"
            return [], state
        if above and self.t[j] - seg.onset_s > c.longest_s:  # no end in sight: close it, it is no micro
            seg.end, seg.offset_s = j, self.t[j]
            self.open = None
            return [seg], None
        if above:
            if seg.end is not None:  # back above within end_s: the same movement goes on
                seg.end, seg.offset_s = None, None
            if z > self.z[seg.peak]:
                seg.peak = j
            return [], None
        if seg.end is None:
            seg.end, seg.offset_s = j, self._crossing(j, j - 1)
        since = self.t[j] - seg.offset_s
        settled = z <= 0 or z > self.z[j - 1] or since >= c.tail_s  # at rest, rising again, or far enough
        if since < c.end_s or not settled:
            return [], None
        seg.offset_s = self._edge(seg.end, +1, j)
        seg.onset_s = self._edge(seg.start - 1, -1, j) if seg.start > 0 else self.t[seg.start]
        self.open = None
        return [seg], "idle"

    def _edge(self, outside: int, step: int, last: int) -> float:
        """Onset (step -1) or offset (+1) time, from the first sample back inside the band: follow
        the falling score outwards for at most `tail_s` to where it reaches the resting level
        (z = 0, interpolated) or stops falling."""
        inside = outside - step
        crossing = self._crossing(outside, inside)
        previous, k = inside, outside
        while 0 <= k <= last and abs(self.t[k] - crossing) <= self.config.tail_s:
            zk = self.z[k]
            if zk != zk or zk > self.z[previous]:  # warming up, or rising again: the minimum is behind
                break
            if zk <= 0:
                w = self.z[previous] / (self.z[previous] - zk)
                return self.t[previous] + w * (self.t[k] - self.t[previous])
            previous, k = k, k + step
        return crossing if previous == inside else self.t[previous]

    def _crossing(self, below: int, above: int) -> float:
        """Time between two samples where the score crosses the band (linear)."""
        zb, za = self.z[below], self.z[above]
        if zb != zb:  # NaN: warming up
            return self.t[above]
        w = (self.config.band - zb) / (za - zb) if za != zb else 0.0
        return self.t[below] + w * (self.t[above] - self.t[below])

    def curve(self, times: list[float]) -> np.ndarray:
        """The aggregate score at `times`, linear between samples."""
        return np.interp(times, self.t, self.value)

    def trim(self, horizon: float) -> None:
        drop = bisect.bisect_left(self.t, horizon)
        del self.t[:drop], self.value[:drop], self.z[:drop], self.cells[:drop]
