"""Talking stage: whether the person is speaking, from the jaw's up-and-down rhythm.

Speech opens and closes the jaw and lips three to six times a second: the lower face's vertical
position turns back and forth six to twelve times a second. A micro-expression or a single mouth
movement goes out and back once (two turns), a macro-expression rises, holds and falls (two),
so "at least `turns` turns of `step_px` or more within `window_s`" is speech. Turns are found by
a zigzag on the mean vertical displacement of the mouth and chin cells (a turn counts once the
signal has come back `step_px` from its extreme, so sensor noise makes none). Talking runs from
the first turn of the run to `close_s` after its last, the run ending when no turn came for
`hangover_s`: the spotter treats the face as silent again well within half a second after the
last syllable.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class TalkingConfig:
    step_px: float  # a turn counts once the jaw has come back this far from its extreme (aligned-crop px)
    turns: int  # talking: at least this many turns ...
    window_s: float  # ... within this long
    hangover_s: float  # a run of turns ends after this long without one
    close_s: float  # talking ends this long after the last turn (the closing half of the last syllable)


@dataclass(frozen=True)
class TalkSpan:
    start_s: float
    end_s: float


class TalkingDetector:
    """Streaming zigzag over the lower face's vertical position; talking spans as they end."""

    def __init__(self, config: TalkingConfig) -> None:
        self.config = config
        self._direction = 0  # +1 going down (jaw opening, image y grows), -1 going up, 0 not yet known
        self._high = self._low = None  # extremes while the direction is unknown: (value, t)
        self._extreme: tuple[float, float] = (0.0, 0.0)  # (value, t) of the current run's extreme
        self._turns: deque[float] = deque()  # turn times within the window
        self._run_start: float | None = None
        self._last_turn = -float("inf")
        self.talking = False
        self.spans: deque[TalkSpan] = deque()

    def add(self, t: float, y: float) -> TalkSpan | None:
        """One sample of the lower face's vertical position (px); returns a talking span that ended."""
        turn = self._zigzag(t, y)
        c = self.config
        if turn is not None:
            if turn - self._last_turn > c.hangover_s:
                self._run_start = turn
            self._last_turn = turn
            self._turns.append(turn)
        while self._turns and self._turns[0] < t - c.window_s:
            self._turns.popleft()
        if not self.talking:
            if len(self._turns) >= c.turns:
                self.talking = True
            return None
        if t - self._last_turn > c.hangover_s:
            return self.finish()
        return None

    def _zigzag(self, t: float, y: float) -> float | None:
        step = self.config.step_px
        if self._direction == 0:
            self._high = max(self._high or (y, t), (y, t))
            self._low = min(self._low or (y, t), (y, t))
            if self._high[0] - self._low[0] > step:  # the first move decides the direction
                rising = self._high[1] > self._low[1]
                self._direction = 1 if rising else -1
                self._extreme = self._high if rising else self._low
            return None
        value, when = self._extreme
        if (y - value) * self._direction >= 0:  # further the same way
            self._extreme = (y, t)
            return None
        if abs(y - value) > step:  # came back far enough: the extreme was a turn
            self._direction = -self._direction
            self._extreme = (y, t)
            return when
        return None

    def moving(self, t: float) -> bool:
        """Talking, or a turn of the jaw within `hangover_s` before t (talking may be starting)."""
        return self.talking or t - self._last_turn <= self.config.hangover_s

    @property
    def start_s(self) -> float | None:
        """Start of the current talking, None when silent."""
        return self._run_start if self.talking else None

    def finish(self) -> TalkSpan | None:
        if not self.talking:
            return None
        self.talking = False
        self._turns.clear()  # talking again needs turns of its own
        assert self._run_start is not None
        span = TalkSpan(self._run_start, self._last_turn + self.config.close_s)
        self.spans.append(span)
        return span

    def near(self, onset_s: float, offset_s: float, margin_s: float) -> bool:
        """Whether [onset, offset] lies within `margin_s` of talking (a finished span or the current one)."""
        spans = list(self.spans)
        if self.talking and self._run_start is not None:
            spans.append(TalkSpan(self._run_start, float("inf")))
        return any(s.start_s - margin_s <= offset_s and onset_s <= s.end_s + margin_s for s in spans)

    def trim(self, horizon: float) -> None:
        while self.spans and self.spans[0].end_s < horizon:
            self.spans.popleft()
