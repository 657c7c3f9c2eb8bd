"""Frame log: the recent frames' indices, times and tracking, for event frames and occlusion.

Events are found on flow samples (~50 Hz) but reported in the source's frames; a face lost or
tracked with low confidence near a movement makes it occlusion, never a micro-expression.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from realtime.core.errors import InputError


@dataclass(frozen=True)
class Gap:
    """Frames without a face: (index, time) of the first and the last."""

    start: tuple[int, float]
    end: tuple[int, float]


class FrameLog:
    def __init__(self, min_confidence: float, margin_s: float) -> None:
        self._min_confidence, self._margin_s = min_confidence, margin_s
        self._frames: deque[tuple[int, float, bool, float]] = deque()  # index, t_s, found, confidence
        self._lost_since: tuple[int, float] | None = None
        self.last: tuple[int, float] | None = None

    def add(self, index: int, t_s: float, found: bool, confidence: float) -> Gap | None:
        """Log a frame; returns the gap that ended with it (the face is back)."""
        if self.last is not None and t_s <= self.last[1]:
            raise InputError(f"frame {index}: time {t_s:.6f} s does not increase "
                             f"(previous frame {self.last[0]} at {self.last[1]:.6f} s)")
        self._frames.append((index, t_s, found, confidence))
        previous, self.last = self.last, (index, t_s)
        if not found:
            if self._lost_since is None:
                self._lost_since = (index, t_s)
            return None
        if self._lost_since is None or previous is None:
            return None
        gap, self._lost_since = Gap(self._lost_since, previous), None
        return gap

    def finish(self) -> Gap | None:
        """End of stream: the gap still open, if any."""
        if self._lost_since is None or self.last is None:
            return None
        gap, self._lost_since = Gap(self._lost_since, self.last), None
        return gap

    def at(self, t: float) -> tuple[int, float]:
        """The frame nearest to time t (index, its time)."""
        best = min(self._frames, key=lambda f: abs(f[1] - t))
        return best[0], best[1]

    def between(self, first: int, last: int) -> list[tuple[int, float]]:
        """(index, time) of the logged frames first..last (indices, inclusive)."""
        return [(i, t) for i, t, _, _ in self._frames if first <= i <= last]

    def occluded(self, onset_s: float, offset_s: float) -> bool:
        """A face lost or doubtful within the margin of [onset, offset]."""
        lo, hi = onset_s - self._margin_s, offset_s + self._margin_s
        return any(not found or conf < self._min_confidence for _, t, found, conf in self._frames if lo <= t <= hi)

    def trim(self, horizon: float) -> None:
        while self._frames and self._frames[0][1] < horizon:
            self._frames.popleft()

    def __len__(self) -> int:
        return len(self._frames)
