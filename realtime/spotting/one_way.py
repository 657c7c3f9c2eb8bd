"""One-way stage: large one-way movements (a macro-expression's rise and fall), logged as macro.

Out-and-back scoring makes them invisible to the micro-expression channel; here the net
movement over 2 L must exceed `min_px` and stand out of its own rolling noise (flow errors
accumulate over 2 L like a random walk) by `threshold`. Eye-dominated ones are blinks, which
the other channel logs. A rise and a fall less than `join_s` apart are one movement, so a
macro-expression is logged `join_s` + L after its fall. Micro-expression candidates that
overlap one are vetoed (`overlaps`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from realtime.spotting.noise import RollingNoise


@dataclass(frozen=True)
class OneWayConfig:
    min_px: float  # smallest one-way movement that counts, px
    threshold: float  # ... and it must exceed its rolling level by this many spreads
    eye_share: float  # a one-way movement with more than this share on eye cells is left to the blink rule
    join_s: float  # one-way movements closer than this are one
    window_s: float  # rolling noise window
    every_s: float  # rolling noise refresh


@dataclass
class _Open:
    start: float
    last: float  # last time above
    peak_px: float
    peak_z: float
    way: np.ndarray  # (C,) cells at the peak


@dataclass(frozen=True)
class OneWayMovement:
    start: float
    end: float
    peak_px: float
    peak_z: float
    way: np.ndarray  # (C,) per-cell one-way movement at the peak, px


class OneWayTracker:
    def __init__(self, config: OneWayConfig, eye: np.ndarray, top_cells: int) -> None:
        self.config = config
        self._eye = eye
        self._k = top_cells
        self._noise = RollingNoise(config.window_s, config.every_s)
        self._open: _Open | None = None
        self._closed: deque[OneWayMovement] = deque()  # recent closed ones

    def add(self, t: float, way: np.ndarray) -> list[OneWayMovement]:
        """One scored sample's (C,) one-way movement; returns the movements it closed."""
        c = self.config
        out = []
        if self._open is not None and t - self._open.last > c.join_s:
            out.append(self.close())
        one_way = float(np.partition(way, -self._k)[-self._k:].mean())
        self._noise.add(t, one_way)
        level, spread = self._noise.level, self._noise.spread
        eyes = float(way[self._eye].sum() / max(way.sum(), 1e-12))
        if one_way > max(c.min_px, level + c.threshold * spread) and eyes <= c.eye_share:
            z = (one_way - level) / max(spread, 1e-6)
            if self._open is None:
                self._open = _Open(t, t, one_way, z, way)
            else:
                self._open.last = t
                if one_way > self._open.peak_px:
                    self._open.peak_px, self._open.peak_z, self._open.way = one_way, z, way
        return out

    def close(self) -> OneWayMovement:
        assert self._open is not None
        o, self._open = self._open, None
        movement = OneWayMovement(o.start, o.last, o.peak_px, o.peak_z, o.way)
        self._closed.append(movement)
        return movement

    @property
    def is_open(self) -> bool:
        return self._open is not None

    def overlaps(self, onset_s: float, offset_s: float,
                 ignore: Callable[[OneWayMovement], bool] = lambda m: False) -> bool:
        """Whether a one-way movement (closed or still open) overlaps [onset, offset], those `ignore`
        accepts (e.g. the jaw's as talking starts) left out."""
        spans = list(self._closed)
        if self._open is not None:
            o = self._open
            spans.append(OneWayMovement(o.start, o.last, o.peak_px, o.peak_z, o.way))
        return any(m.start <= offset_s and onset_s <= m.end and not ignore(m) for m in spans)

    def trim(self, horizon: float) -> None:
        while self._closed and self._closed[0].end < horizon:
            self._closed.popleft()
