"""Covered regions between the occlusion detector and the spotter's results.

While a region is covered its motion is left out of spotting (its cells arrive as no motion);
what the spotter still reports from a region that was covered around that time (the occluder's
arrival, seen before the detector's answer), or from any region near a lost face (an occluder
large enough to lose the face), is dropped, and each covered span is logged once as an
`occlusion` movement with its regions. No micro-expression ever comes from a covered region.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from realtime.core.interval import Interval
from realtime.spotting.motion import CellGrid, FrameMotion
from realtime.spotting.spotter import Movement, SpotEvent

log = logging.getLogger(__name__)


@dataclass
class _Span:
    frames: Interval  # no apex; grows while the span goes on
    onset_s: float
    offset_s: float
    regions: set[str]
    by_hand: bool
    logged: bool = True  # False for a lost face: the spotter logs that itself


class CoverLog:
    """Masks covered motion, keeps the covered spans, and filters the spotter's results by them."""

    def __init__(self, grid: CellGrid, *, margin_s: float, keep_s: float = 10.0) -> None:
        self.grid = grid
        self.margin_s = margin_s  # how long before a span its occluder may already have moved the face
        self.keep_s = keep_s  # spans older than this cannot meet a result still to come
        self._cells = {name: np.array([r == name for r in grid.regions]) for name in grid.region_names}
        self._open: _Span | None = None
        self._lost: _Span | None = None  # the face-lost span going on: no region can be trusted near it
        self._spans: deque[_Span] = deque()
        self._closed: list[_Span] = []  # ended spans not yet logged

    def mask(self, motion: FrameMotion, covered: frozenset[str], *, by_hand: frozenset[str]) -> FrameMotion:
        """The frame's motion with covered cells as no motion; records the span it belongs to."""
        self._record(motion, covered, by_hand)
        if not covered or motion.cells is None:
            return motion
        keep = np.ones(len(self.grid.regions), bool)
        for name in covered & self._cells.keys():  # regions the motion grid pools cells in
            keep &= ~self._cells[name]
        return replace(motion, cells=motion.cells * keep[:, None])

    def _record(self, motion: FrameMotion, covered: frozenset[str], by_hand: frozenset[str]) -> None:
        if not motion.found:
            if self._lost is None:
                self._lost = _Span(Interval(motion.index, None, motion.index), motion.t_s, motion.t_s, set(self._cells),
                                   False, False)
                self._spans.append(self._lost)
            self._lost.frames, self._lost.offset_s = replace(self._lost.frames, offset=motion.index), motion.t_s
        else:
            self._lost = None
        span = self._open
        if covered:
            if span is None:
                span = self._open = _Span(Interval(motion.index, None, motion.index), motion.t_s, motion.t_s, set(),
                                          False)
                self._spans.append(span)
            span.frames, span.offset_s = replace(span.frames, offset=motion.index), motion.t_s
            span.regions |= covered
            span.by_hand |= bool(by_hand)
        elif span is not None:
            self._open = None
            self._closed.append(span)
        while self._spans and self._spans[0] not in (self._open, self._lost) and \
                self._spans[0].offset_s < motion.t_s - self.keep_s:
            self._spans.popleft()

    def closed(self, *, final: bool = False) -> list[Movement]:
        """Occlusion movements for the spans that ended since the last call (all of them at the end)."""
        if final and self._open is not None:
            self._closed.append(self._open)
            self._open = None
        out = [Movement(kind="occlusion", frames=s.frames, onset_s=s.onset_s,
                        offset_s=s.offset_s, peak_score=0.0, regions=tuple(sorted(s.regions)),
                        reason="covered: a hand" if s.by_hand else "covered: appearance the face does not explain")
               for s in self._closed if s.logged]
        self._closed = []
        return out

    def allowed(self, item: SpotEvent | Movement) -> bool:
        """False for a result from a region covered during it (or `margin_s` before or after)."""
        regions = set(item.regions)
        for span in self._spans:
            if span.regions & regions and span.onset_s - self.margin_s <= item.offset_s and \
                    item.onset_s <= span.offset_s + self.margin_s:
                log.debug("dropped %s at %.2f-%.2f s: %s covered", type(item).__name__, item.onset_s,
                          item.offset_s, "+".join(sorted(span.regions & regions)))
                return False
        return True
