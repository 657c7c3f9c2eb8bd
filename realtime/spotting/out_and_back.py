"""Scoring stage: the out-and-back score of every cell, from the accumulated facial motion.

With D(t) a cell's accumulated residual displacement, P the movement over the L seconds before
t and N over the L seconds after, s = (|P| + |N| - |P + N|) / 2. A movement that leaves neutral
and comes back within L scores its displacement from neutral (s(t) = g(t) for a profile g shorter
than L), so the score's excursion *is* the movement's interval; a one-way movement (the rise or
the fall of a macro-expression, a slow drift) scores zero, whatever its speed. The net one-way
movement |P + N| is kept beside it for the macro-expression channel.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from realtime.spotting.motion import affine_design, robust_affine_fit


def out_and_back(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(|P| + |N| - |P + N|) / 2 per cell for movements P, N (..., 2): the part that came back.

    Zero when P and N point the same way (a one-way movement, however curved in time), |P| when
    N = -P (out and back), and never more than min(|P|, |N|).
    """
    return (np.linalg.norm(before, axis=-1) + np.linalg.norm(after, axis=-1)
            - np.linalg.norm(before + after, axis=-1)) / 2


class AffineRefit:
    """The motion of some cells (`mask`) less a robust affine fit over those cells alone.

    FacialMotion removes one affine fit over the whole face; when the jaw moves by pixels at
    every syllable, that fit is pulled by the lower face and leaves its error, an affine field,
    on the upper face (measured on a talking clip: the upper face's score rose from 0.05 to a 95th
    percentile of 0.25 px, the size of a micro-expression). Fitted again on the upper cells only,
    the error goes (95th percentile 0.07 px) and a brow movement, a few of those cells, stays.
    """

    def __init__(self, centres: np.ndarray, crop_size: int, mask: np.ndarray, iterations: int, tukey: float) -> None:
        self._design = affine_design(centres[mask], crop_size)  # (M, 3)
        self._mask = mask
        self._iterations, self._tukey = iterations, tukey

    def __call__(self, cells: np.ndarray) -> np.ndarray:
        """(C, 2) -> (C, 2): the masked cells' residual, zero elsewhere."""
        u = cells[self._mask].astype(np.float64)
        out = np.zeros(cells.shape, np.float64)
        out[self._mask] = u - robust_affine_fit(u, self._design, self._iterations, self._tukey)
        return out


@dataclass(frozen=True)
class CellScores:
    """One scored sample."""

    t: float
    cells: np.ndarray  # (C,) out-and-back score per cell, px
    way: np.ndarray  # (C,) net one-way movement across t (|P + N|), px


class MotionHistory:
    """Accumulated residual displacement at each flow sample, and its scoring L seconds later."""

    def __init__(self, cells: int, window_s: float) -> None:
        self._window_s = window_s
        self.t: list[float] = []  # sample times (flow steps, and the first frame of each tracked run)
        self._d: list[np.ndarray] = []  # (C, 2) float64 accumulated residual displacement at each sample
        self._total = np.zeros((cells, 2), np.float64)
        self._scored = 0  # samples whose score is known

    def add(self, t: float, cells: np.ndarray | None) -> None:
        """A flow step (`cells` (C, 2) px since the last sample) or, with None, the first frame of
        a tracked run: the displacement is held across the gap."""
        if cells is not None:
            self._total = self._total + cells
        self.t.append(t)
        self._d.append(self._total.copy())

    @property
    def last(self) -> np.ndarray:
        """(C, 2) accumulated displacement at the latest sample."""
        return self._d[-1]

    def at(self, t: float) -> np.ndarray:
        """(C, 2) accumulated displacement at time t, linear between samples, held beyond them."""
        i = bisect.bisect_left(self.t, t)
        if i == 0:
            return self._d[0]
        if i >= len(self.t):
            return self._d[-1]
        t0, t1 = self.t[i - 1], self.t[i]
        w = (t - t0) / (t1 - t0)
        return self._d[i - 1] * (1 - w) + self._d[i] * w

    def score(self, now: float, final: bool = False) -> list[CellScores]:
        """Every sample whose L seconds of future motion are in by `now` (all of them when `final`)."""
        out = []
        L = self._window_s
        while self._scored < len(self.t) and (self.t[self._scored] + L <= now or final):
            t, d = self.t[self._scored], self._d[self._scored]
            p = d - self.at(t - L)  # (C, 2) movement over the L s before t
            n = self.at(t + L) - d  # (C, 2) movement over the L s after t
            out.append(CellScores(t=t, cells=out_and_back(p, n), way=np.linalg.norm(p + n, axis=1)))
            self._scored += 1
        return out

    def trim(self, horizon: float, batch: int) -> bool:
        """Drop scored samples before `horizon`, `batch` or more at a time (list slicing is O(n));
        True when something was dropped."""
        drop = min(bisect.bisect_left(self.t, horizon), self._scored)
        if drop <= batch:
            return False
        del self.t[:drop]
        del self._d[:drop]
        self._scored -= drop
        return True

    @property
    def empty(self) -> bool:
        return not self.t
