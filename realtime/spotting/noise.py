"""Noise stage: a score in units of the person's own noise, from a rolling robust estimate.

Thresholds relative to the video's maximum are set by the macro-expressions and miss the micro
ones; a rolling median and MAD of the score over the last
`window_s` seconds follow the person, the camera and the light instead.
"""

from __future__ import annotations

from collections import deque

import numpy as np

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution -> its standard deviation


class RollingNoise:
    """Median and robust spread (MAD as a sigma) of a score over the last `window_s` seconds.

    Recomputed every `every_s` of stream time rather than at every sample: the estimate moves
    on the scale of seconds, and the median is what a sample would otherwise spend most on.
    """

    def __init__(self, window_s: float, every_s: float) -> None:
        self._window_s, self._every_s = window_s, every_s
        self._times: deque[float] = deque()
        self._values: deque[float] = deque()
        self._refreshed = -float("inf")
        self.level = 0.0
        self.spread = 0.0

    def add(self, t: float, value: float) -> None:
        self._times.append(t)
        self._values.append(value)
        while self._times[0] < t - self._window_s:
            self._times.popleft()
            self._values.popleft()
        if t - self._refreshed >= self._every_s:
            self._refreshed = t
            values = np.fromiter(self._values, np.float64, len(self._values))
            self.level = float(np.median(values))
            self.spread = MAD_TO_SIGMA * float(np.median(np.abs(values - self.level)))

    def __len__(self) -> int:
        return len(self._values)


class NoiseNormaliser:
    """A score in noise units against its own rolling estimate; NaN for the first `warmup_s`.

    `floor` keeps a near-constant score (a still synthetic face) from dividing by ~0: the spread
    is taken as at least that share of the resting level.
    """

    def __init__(self, window_s: float, every_s: float, warmup_s: float, floor: float) -> None:
        self.noise = RollingNoise(window_s, every_s)
        self._warmup_s, self._floor = warmup_s, floor
        self._first_t = float("inf")
        self._last_t: float | None = None
        self._paused = 0.0  # stream time not learned from: the window covers `window_s` of learned time

    @property
    def level(self) -> float:
        return self.noise.level

    def __call__(self, t: float, value: float, learn: bool = True) -> float:
        """`value` at t in noise units; `learn`: let it into the estimate (False while another movement,
        speech, would inflate it: the estimate of the face at rest then stays what it was)."""
        self._first_t = min(self._first_t, t)
        if learn or not len(self.noise):
            self.noise.add(t - self._paused, value)
        elif self._last_t is not None:
            self._paused += t - self._last_t
        self._last_t = t
        if t - self._first_t < self._warmup_s:
            return float("nan")
        return (value - self.noise.level) / max(self.noise.spread, self._floor * max(self.noise.level, 1e-6))

