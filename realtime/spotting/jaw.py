"""Jaw removal: the lower face's motion less what the jaw's opening explains (for spotting during talking).

A syllable drops the jaw and the lower lip and drags the cells around them by a share of that drop
(each cell its own share and direction, the lip corners little); a micro-expression there (lip corners
pulled AU12, dimpled AU14, pulled down AU15, chin raised AU17) moves a few cells in a way no drop of
the jaw explains. Each lower cell's flow step u is regressed on the jaw's step j (the chin's vertical
step): a = sum(u j) / sum(j^2), forgetting with time constant `memory_s` and learned only while the jaw
moves; the residual u - a j is what is left of the cell's motion once the speech pattern is removed,
and it is scored against its own noise measured during talking.
"""

from __future__ import annotations

import numpy as np


class JawRemoval:
    """Per-step residual of the `mask` cells (zero elsewhere) after the jaw's share is removed."""

    def __init__(self, mask: np.ndarray, jaw: np.ndarray, memory_s: float) -> None:
        self._mask, self._jaw, self._memory_s = mask, jaw, memory_s
        self._uj = np.zeros((int(mask.sum()), 2))  # forgetting sums of u * j per cell and axis
        self._jj = 0.0  # ... and of j^2
        self._t: float | None = None

    def __call__(self, t: float, cells: np.ndarray, learn: bool) -> np.ndarray:
        """(C, 2) flow step -> (C, 2) residual on the masked cells; `learn`: update the fit (the jaw moves)."""
        j = float(cells[self._jaw, 1].mean())
        u = cells[self._mask].astype(np.float64)
        if learn:
            keep = np.exp(-(t - self._t) / self._memory_s) if self._t is not None else 0.0
            self._uj = keep * self._uj + u * j
            self._jj = keep * self._jj + j * j
            self._t = t
        out = np.zeros(cells.shape, np.float64)
        out[self._mask] = u - (self._uj / self._jj) * j if self._jj > 0 else u
        return out
