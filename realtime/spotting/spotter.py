"""Spotting micro-expressions in a stream of facial motion, and locating their phases.

Why this design (../shared/notes/spotting.md measured the alternatives): a threshold relative
to the video's maximum is set by the macro-expressions and misses the micro ones, and a k-frame
difference turns the edges of every slow movement into short bursts. Here:

- Out-and-back score per cell. With D(t) the cell's accumulated residual displacement, P the
  movement over the L seconds before t and N over the L seconds after,
  s = (|P| + |N| - |P + N|) / 2. A movement that leaves neutral and comes back within L scores
  its displacement from neutral (s(t) = g(t) for a profile g shorter than L), so the score's
  excursion *is* the movement's interval; a one-way movement (the rise or the fall of a
  macro-expression, a slow drift) scores zero, whatever its speed.
- Thresholds in units of the person's own noise: a rolling median and MAD of the score over the
  last `noise_window_s` seconds. A movement starts where the score leaves the noise band and
  ends where it re-enters it; onset and offset then follow the falling score out to the resting
  level (at most `tail_s` further). The apex is `realtime.spotting.apex.apex_from_motion` on the score at
  every frame in between: the score is the displacement from neutral, the curve that rule wants.
- What is not a micro-expression goes to a separate log (`Movement`), in this order: a face
  lost or barely tracked nearby (occlusion); a mouth movement after two others within 1.5 s
  (speech); an eye-dominated movement whose lids go down, or a large one (blink); one larger
  than `max_amplitude_px` of the canonical face, longer than `max_duration_s`, overlapping a
  large one-way movement, or next to a one-way movement larger than itself (macro). Large
  one-way movements (a macro-expression's rise and fall) are also logged on their own.

Streaming: the score at t needs the motion up to t + L, and a movement is decided once its
offset has been followed for `tail_s`, so a micro-expression comes out `lookahead_s`
(L + tail_s = 0.5 s) after its offset; live and offline runs make the same `process` calls.
Measured (parameters frozen on seeds 1-3 and 11, evaluated on held-out seeds 7-9): spotting F1
0.86-1.00 per `mer-synth video` interview at 30, 100 and 200 fps, no macro-expression or blink
reported, and no micro-expression reported on the ~86 s of real talking faces in
../shared/data/videos.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from realtime.core.errors import InputError
from realtime.spotting.apex import apex_from_motion
from realtime.spotting.motion import CellGrid, FrameMotion

MOUTH_REGIONS = ("mouth", "chin", "cheek_left", "cheek_right")  # where speech moves the face
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution -> its standard deviation


def out_and_back(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(|P| + |N| - |P + N|) / 2 per cell for movements P, N (..., 2): the part that came back.

    Zero when P and N point the same way (a one-way movement, however curved in time), |P| when
    N = -P (out and back), and never more than min(|P|, |N|).
    """
    return (np.linalg.norm(before, axis=-1) + np.linalg.norm(after, axis=-1)
            - np.linalg.norm(before + after, axis=-1)) / 2


@dataclass(frozen=True)
class SpotterConfig:
    """Every time in seconds (any frame rate); scores in units of the person's own noise."""

    window_s: float = 0.4  # L: a movement out and back within ~L scores fully (a 0.5 s ME's rise and fall
    #                        each take < 0.4 s); a 1-3 s macro-expression's rise and fall are further apart
    noise_window_s: float = 8.0  # rolling noise estimate: long enough that events are a minority in it
    warmup_s: float = 1.0  # no detection before this much score history (the noise estimate needs it)
    top_cells: int = 3  # score = mean of the k highest cells: an action unit moves a few cells
    threshold: float = 5.0  # peak score, noise units, for a movement to count
    band: float = 2.0  # noise band: onset/offset where the score re-enters it
    end_s: float = 0.04  # quiet time after the offset that closes a movement (2 flow steps)
    tail_s: float = 0.1  # onset/offset may lie this far beyond the band crossing (the slow ends of a movement)
    min_duration_s: float = 0.04  # shortest micro-expression
    max_duration_s: float = 0.5  # longest micro-expression
    longest_s: float = 3.0  # a movement still going after this long is closed (and logged) as it stands
    max_amplitude_px: float = 1.5  # larger peak displacements (aligned-crop px, face ~150 px wide) are macro or blink
    context_s: float = 0.4  # one-way movement is measured over this long just before onset and after offset
    one_way_ratio: float = 1.0  # ... and beyond this share of the event's own amplitude it is a macro's rise/fall
    one_way_noise: float = 4.0  # ... provided it also exceeds this many resting levels (weak events stay micro)
    blink_eye_share: float = 0.4  # an eye-dominated movement (this share of the score on eye cells) ...
    blink_down: float = 0.3  # ... whose eye cells move down (upper lids closing) is a blink; lids moving up
    #                          (AU6, AU7: cheek raiser, lid tightener) stay micro-expression candidates
    speech_window_s: float = 1.5  # mouth movements this close before another one make it speech ...
    speech_count: int = 2  # ... when there are at least this many
    min_confidence: float = 0.5  # tracking confidence below this is occlusion
    occlusion_margin_s: float = 0.1  # a lost or doubtful face this close to an event makes it occlusion

    def __post_init__(self) -> None:
        for name in ("window_s", "noise_window_s", "end_s", "max_duration_s", "threshold", "band"):
            if getattr(self, name) <= 0:
                raise InputError(f"SpotterConfig.{name}={getattr(self, name)}: must be positive")
        if self.context_s > self.window_s:
            raise InputError(f"SpotterConfig: context_s={self.context_s} must not exceed window_s={self.window_s} "
                             "(the look-ahead)")
        if self.band >= self.threshold:
            raise InputError(f"SpotterConfig: band={self.band} must be below threshold={self.threshold}")

    @property
    def lookahead_s(self) -> float:
        """How long after its offset an event comes out: L of future motion, then `end_s` of quiet."""
        return self.window_s + max(self.end_s, self.tail_s)


@dataclass(frozen=True)
class SpotEvent:
    """A micro-expression candidate: inclusive 0-based frame indices of the source, and times."""

    onset_frame: int
    apex_frame: int
    offset_frame: int
    onset_s: float
    apex_s: float
    offset_s: float
    peak_score: float  # peak out-and-back score in noise units
    amplitude_px: float  # peak displacement from neutral, aligned-crop px
    regions: tuple[str, ...]  # facial regions that moved, strongest first

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s


MOVEMENT_KINDS = ("macro", "blink", "occlusion", "speech")


@dataclass(frozen=True)
class Movement:
    """Any other movement; logged separately, never a micro-expression result."""

    kind: str  # one of MOVEMENT_KINDS
    onset_frame: int
    offset_frame: int
    onset_s: float
    offset_s: float
    peak_score: float  # noise units (0 for a face lost without motion)
    regions: tuple[str, ...]
    reason: str  # why it is not a micro-expression, for the log

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s


class _RollingNoise:
    """Median and robust spread (MAD as a sigma) of a score over the last `window_s` seconds.

    Recomputed every `every_s` of stream time rather than at every sample: the estimate moves
    on the scale of seconds, and the median is what a sample would otherwise spend most on.
    """

    def __init__(self, window_s: float, every_s: float = 0.1) -> None:
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
            self.spread = _MAD_TO_SIGMA * float(np.median(np.abs(values - self.level)))


@dataclass(frozen=True)
class _Features:
    """What a closed segment looks like; `_classify` decides from these alone."""

    onset_s: float
    offset_s: float
    apex_s: float
    peak_z: float  # noise units
    amplitude_px: float  # mean peak score of the top cells
    level_px: float  # the person's resting score level (median), px
    one_way_px: float  # larger net movement of the top cells in the context before onset / after offset
    eye_share: float  # share of the peak score on eye cells
    eye_down: float  # -1..1: how much the eye cells moved down (+) or up (-) from neutral to the peak
    mouth_share: float  # share of the peak score on mouth, chin and cheek cells
    mouth_before: int  # mouth movements in the speech window before the apex
    occluded: bool
    in_one_way: bool  # overlaps a large one-way movement (a macro-expression's rise, hold or fall)


@dataclass
class _Segment:
    """A stretch of scores above the noise band, being followed."""

    start: int  # index into the score history of the first sample above the band
    onset_s: float
    peak: int
    end: int | None = None  # first sample back inside the band
    offset_s: float | None = None


class Spotter:
    """Stage: per-frame `FrameMotion` in, closed events (`SpotEvent` or `Movement`) out.

    `state` says what the spotter is doing at the latest scored time, for frames.csv and the
    overlay: "warming up" (no noise estimate yet), "idle", "movement" (a score above the noise
    band is being followed), "face lost", "finished".
    """

    def __init__(self, grid: CellGrid, config: SpotterConfig = SpotterConfig()) -> None:
        self.config = config
        self.grid = grid
        self._mouth = np.array([r in MOUTH_REGIONS for r in grid.regions])
        self._k = min(config.top_cells, len(grid.regions))
        self.reset()

    def reset(self) -> None:
        c = self.config
        self._keep_s = c.window_s + c.max_duration_s * 2 + c.context_s + c.speech_window_s + 2.0
        self._t: list[float] = []  # sample times (flow steps, and the first frame of each tracked run)
        self._d: list[np.ndarray] = []  # (C, 2) float64 accumulated residual displacement at each sample
        self._total = np.zeros((len(self.grid.regions), 2), np.float64)
        self._frames: deque[tuple[int, float, bool, float]] = deque()  # index, t_s, found, confidence
        self._scored = 0  # samples whose score is known
        self._st: list[float] = []  # score history: times
        self._sv: list[float] = []  # aggregate score, px
        self._sz: list[float] = []  # score in noise units
        self._cells: list[np.ndarray] = []  # (C,) per-cell score, px
        self._ways = _RollingNoise(c.noise_window_s)  # of the one-way movement, px
        self._macro: list | None = None  # open one-way movement: [start, last above, peak px, peak z, (C,) cells]
        self._macros: deque[tuple[float, float]] = deque()  # (start, end) of recent closed one-way movements
        self._noise = _RollingNoise(c.noise_window_s)  # of the score, px: level = the person's resting score
        self._first_t = float("inf")  # time of the first score (warm-up runs from it)
        self._segment: _Segment | None = None
        self._mouth_times: deque[float] = deque()  # apex times of recent mouth movements
        self._lost_since: tuple[int, float] | None = None
        self._last_frame: tuple[int, float] | None = None
        self._anchor = True  # the next tracked frame starts a run of samples
        self.state = "warming up"

    # ------------------------------------------------------------------ input
    def process(self, motion: FrameMotion) -> list[SpotEvent | Movement]:
        """Take one frame's motion; return the events that closed with it, by onset.

        A micro-expression comes out `config.lookahead_s` after its offset; a one-way (macro)
        movement up to 3 L after it ends, so the log is not strictly in onset order.
        """
        if self._last_frame is not None and motion.t_s <= self._last_frame[1]:
            raise InputError(f"frame {motion.index}: time {motion.t_s:.6f} s does not increase "
                             f"(previous frame {self._last_frame[0]} at {self._last_frame[1]:.6f} s)")
        out: list[SpotEvent | Movement] = []
        self._frames.append((motion.index, motion.t_s, motion.found, motion.confidence))
        self._last_frame = (motion.index, motion.t_s)
        if not motion.found:
            if self._lost_since is None:
                self._lost_since = (motion.index, motion.t_s)
            self._anchor = True
            self.state = "face lost"
        else:
            if self._lost_since is not None:
                out += self._close_gap()
            if motion.cells is not None:
                self._total = self._total + motion.cells
                self._t.append(motion.t_s)
                self._d.append(self._total.copy())
            elif self._anchor:  # first frame of a tracked run: the displacement is held across the gap
                self._t.append(motion.t_s)
                self._d.append(self._total.copy())
            self._anchor = False
        out += self._advance(motion.t_s)
        self._trim(motion.t_s)
        return sorted(out, key=lambda e: e.onset_s)

    def finish(self) -> list[SpotEvent | Movement]:
        """End of stream: decide what is still open (with the motion there is) and return it."""
        out: list[SpotEvent | Movement] = []
        if self._lost_since is not None and self._last_frame is not None:
            out.append(self._gap_movement(self._lost_since, self._last_frame))
            self._lost_since = None
        if self._t:
            out += self._advance(self._t[-1] + self.config.window_s + 1e-9, final=True)
        self.state = "finished"
        return sorted(out, key=lambda e: e.onset_s)

    # ------------------------------------------------------------------ scoring
    def _interp(self, t: float) -> np.ndarray:
        """Accumulated displacement at time t, linear between samples, held beyond them."""
        i = bisect.bisect_left(self._t, t)
        if i == 0:
            return self._d[0]
        if i >= len(self._t):
            return self._d[-1]
        t0, t1 = self._t[i - 1], self._t[i]
        w = (t - t0) / (t1 - t0)
        return self._d[i - 1] * (1 - w) + self._d[i] * w

    def _advance(self, now: float, final: bool = False) -> list[SpotEvent | Movement]:
        out: list[SpotEvent | Movement] = []
        c = self.config
        while self._scored < len(self._t) and (self._t[self._scored] + c.window_s <= now or final):
            t = self._t[self._scored]
            d = self._d[self._scored]
            p = d - self._interp(t - c.window_s)  # (C, 2) movement over the L s before t
            n = self._interp(t + c.window_s) - d  # (C, 2) movement over the L s after t
            cells = out_and_back(p, n)
            value = float(np.partition(cells, -self._k)[-self._k:].mean())
            way = np.linalg.norm(p + n, axis=1)  # (C,) net one-way movement across t, px
            one_way = float(np.partition(way, -self._k)[-self._k:].mean())
            self._first_t = min(self._first_t, t)
            z = self._normalise(t, value)
            self._st.append(t)
            self._sv.append(value)
            self._sz.append(z)
            self._cells.append(cells)
            self._scored += 1
            out += self._follow_one_way(t, one_way, way)
            out += self._follow(len(self._st) - 1)
        if final and self._macro is not None:
            out += self._close_macro()
        return out

    def _follow_one_way(self, t: float, one_way: float, way: np.ndarray) -> list[Movement]:
        """Log large one-way movements (the rise and fall of a macro-expression) as one macro each.

        Out-and-back scoring makes them invisible to the micro-expression channel; here the net
        movement over 2 L must exceed `max_amplitude_px` and stand out of its own rolling noise
        (flow errors accumulate over 2 L like a random walk) by the detection threshold.
        Eye-dominated ones are blinks, which the other channel logs. A rise and a fall less than
        2 L apart are one movement, so a macro-expression is logged 3 L after its fall.
        """
        c = self.config
        out: list[Movement] = []
        if self._macro is not None and t - self._macro[1] > 2 * c.window_s:
            out += self._close_macro()
        self._ways.add(t, one_way)
        level, spread = self._ways.level, self._ways.spread
        eyes = float(way[self.grid.eye].sum() / max(way.sum(), 1e-12))
        if one_way > max(c.max_amplitude_px, level + c.threshold * spread) and eyes <= c.blink_eye_share:
            z = (one_way - level) / max(spread, 1e-6)
            if self._macro is None:
                self._macro = [t, t, one_way, z, way]
            else:
                self._macro[1] = t
                if one_way > self._macro[2]:
                    self._macro[2:] = [one_way, z, way]
        return out

    def _close_macro(self) -> list[Movement]:
        assert self._macro is not None
        start, end, peak, z, way = self._macro
        self._macro = None
        self._macros.append((start, end))
        onset, offset = self._frame_at(start), self._frame_at(end)
        return [Movement(kind="macro", onset_frame=onset[0], offset_frame=offset[0], onset_s=onset[1],
                         offset_s=offset[1], peak_score=z, regions=self._regions(way),
                         reason=f"one-way movement of {peak:.1f} px > {self.config.max_amplitude_px} px")]

    def _normalise(self, t: float, value: float) -> float:
        """Score in noise units against the last `noise_window_s` of scores (NaN while warming up)."""
        self._noise.add(t, value)
        if t - self._first_t < self.config.warmup_s:
            return float("nan")
        return (value - self._noise.level) / max(self._noise.spread, 1e-3 * max(self._noise.level, 1e-6))

    # ------------------------------------------------------------------ segments
    def _follow(self, j: int) -> list[SpotEvent | Movement]:
        c = self.config
        z = self._sz[j]
        above = z > c.band  # NaN (warming up) is never above
        seg = self._segment
        if seg is None:
            self.state = "idle" if z == z else "warming up"
            if above:
                onset = self._crossing(j - 1, j) if j > 0 else self._st[j]
                self._segment = _Segment(start=j, onset_s=onset, peak=j)
                self.state = "movement"
            return []
        if above and self._st[j] - seg.onset_s > c.longest_s:  # no end in sight: close it, it is no micro
            seg.end, seg.offset_s = j, self._st[j]
            self._segment = None
            return self._decide(seg)
        if above:
            if seg.end is not None:  # back above within end_s: the same movement goes on
                seg.end, seg.offset_s = None, None
            if z > self._sz[seg.peak]:
                seg.peak = j
            return []
        if seg.end is None:
            seg.end, seg.offset_s = j, self._crossing(j, j - 1)
        since = self._st[j] - seg.offset_s
        settled = z <= 0 or z > self._sz[j - 1] or since >= c.tail_s  # at rest, rising again, or far enough
        if since < c.end_s or not settled:
            return []
        seg.offset_s = self._edge(seg.end, +1, j)
        seg.onset_s = self._edge(seg.start - 1, -1, j) if seg.start > 0 else self._st[seg.start]
        self._segment = None
        self.state = "idle"
        return self._decide(seg)

    def _edge(self, outside: int, step: int, last: int) -> float:
        """Onset (step -1) or offset (+1) time, from the first sample back inside the band.

        The band crossing clips the slow start and end of every movement; from it, follow the
        falling score outwards for at most `tail_s` to where it reaches the resting level
        (z = 0, interpolated) or stops falling.
        """
        inside = outside - step
        crossing = self._crossing(outside, inside)
        previous, k = inside, outside
        while 0 <= k <= last and abs(self._st[k] - crossing) <= self.config.tail_s:
            zk = self._sz[k]
            if zk != zk or zk > self._sz[previous]:  # warming up, or rising again: the minimum is behind
                break
            if zk <= 0:
                w = self._sz[previous] / (self._sz[previous] - zk)
                return self._st[previous] + w * (self._st[k] - self._st[previous])
            previous, k = k, k + step
        return crossing if previous == inside else self._st[previous]

    def _crossing(self, below: int, above: int) -> float:
        """Time between two samples where the score crosses the band (linear)."""
        zb, za = self._sz[below], self._sz[above]
        if zb != zb:  # NaN: warming up
            return self._st[above]
        w = (self.config.band - zb) / (za - zb) if za != zb else 0.0
        return self._st[below] + w * (self._st[above] - self._st[below])

    def _decide(self, seg: _Segment) -> list[SpotEvent | Movement]:
        """Classify a closed segment: micro-expression, other movement, or noise (dropped)."""
        if self._sz[seg.peak] < self.config.threshold:
            return []
        features = self._measure(seg)
        kind, reason = self._classify(features)
        if features.mouth_share > 0.5:
            self._mouth_times.append(features.apex_s)
        if kind == "":
            return []
        onset_f, offset_f = self._frame_at(features.onset_s), self._frame_at(features.offset_s)
        regions = self._regions(self._cells[seg.peak])
        if kind != "micro":
            return [Movement(kind=kind, onset_frame=onset_f[0], offset_frame=offset_f[0], onset_s=onset_f[1],
                             offset_s=offset_f[1], peak_score=features.peak_z, regions=regions, reason=reason)]
        apex_f = self._apex(onset_f, offset_f)
        return [SpotEvent(onset_frame=onset_f[0], apex_frame=apex_f[0], offset_frame=offset_f[0],
                          onset_s=onset_f[1], apex_s=apex_f[1], offset_s=offset_f[1], peak_score=features.peak_z,
                          amplitude_px=features.amplitude_px, regions=regions)]

    def _measure(self, seg: _Segment) -> _Features:
        c = self.config
        assert seg.offset_s is not None
        cells = self._cells[seg.peak]  # (C,) px
        top = np.argsort(cells)[-self._k:]
        amplitude = float(cells[top].mean())
        lo, hi = seg.onset_s - c.context_s, seg.offset_s + c.context_s
        pre = np.linalg.norm(self._interp(seg.onset_s) - self._interp(lo), axis=1)[top].mean()
        post = np.linalg.norm(self._interp(hi) - self._interp(seg.offset_s), axis=1)[top].mean()
        rise = (self._interp(self._st[seg.peak]) - self._interp(self._st[seg.peak] - c.window_s))[self.grid.eye]
        eye_down = float(rise[:, 1].sum() / max(np.linalg.norm(rise, axis=1).sum(), 1e-12))
        total = max(float(cells.sum()), 1e-12)
        recent = [t for t in self._mouth_times if 0 < self._st[seg.peak] - t < c.speech_window_s]
        return _Features(onset_s=seg.onset_s, offset_s=seg.offset_s, apex_s=self._st[seg.peak],
                         peak_z=self._sz[seg.peak], amplitude_px=amplitude,
                         level_px=self._noise.level,
                         one_way_px=float(max(pre, post)),
                         eye_share=float(cells[self.grid.eye].sum()) / total, eye_down=eye_down,
                         mouth_share=float(cells[self._mouth].sum()) / total,
                         mouth_before=len(recent), occluded=self._occluded(seg.onset_s, seg.offset_s),
                         in_one_way=self._in_one_way(seg.onset_s, seg.offset_s))

    def _classify(self, f: _Features) -> tuple[str, str]:
        """(kind, reason): "micro", a `MOVEMENT_KINDS` entry, or "" for noise not worth logging."""
        c = self.config
        duration = f.offset_s - f.onset_s
        if f.occluded:
            return "occlusion", "face lost or tracked with low confidence"
        if f.mouth_share > 0.5 and f.mouth_before >= c.speech_count:
            return "speech", f"{f.mouth_before} other mouth movements in the {c.speech_window_s} s before"
        if f.eye_share > c.blink_eye_share and (f.eye_down > c.blink_down or f.amplitude_px > c.max_amplitude_px):
            return "blink", f"{f.eye_share:.0%} on the eyes, {f.eye_down:+.0%} downwards, {f.amplitude_px:.1f} px"
        if f.in_one_way:
            return "macro", "inside a large one-way movement"
        if f.amplitude_px > c.max_amplitude_px:
            return "macro", f"moves {f.amplitude_px:.1f} px > {c.max_amplitude_px} px"
        if duration > c.max_duration_s:
            return "macro", f"lasts {duration * 1000:.0f} ms > {c.max_duration_s * 1000:.0f} ms"
        if f.one_way_px > max(c.one_way_ratio * f.amplitude_px, c.one_way_noise * f.level_px):
            return "macro", (f"inside a one-way movement ({f.one_way_px:.2f} px next to a {f.amplitude_px:.2f} px "
                             "return)")
        if duration < c.min_duration_s:
            return "", ""
        return "micro", ""

    def _regions(self, cells: np.ndarray) -> tuple[str, ...]:
        order = np.argsort(cells)[::-1]
        strong = [self.grid.regions[i] for i in order if cells[i] >= 0.5 * cells[order[0]]]
        return tuple(dict.fromkeys(r for r in strong if r))

    def _apex(self, onset: tuple[int, float], offset: tuple[int, float]) -> tuple[int, float]:
        """Apex frame: realtime.spotting.apex's rule on the score at every frame of the event."""
        frames = [(i, t) for i, t, _, _ in self._frames if onset[0] <= i <= offset[0]]
        curve = np.interp([t for _, t in frames], self._st, self._sv)
        return frames[apex_from_motion(curve - curve[0])]

    def _frame_at(self, t: float) -> tuple[int, float]:
        """The frame nearest to time t (index, its time)."""
        best = min(self._frames, key=lambda f: abs(f[1] - t))
        return best[0], best[1]

    def _in_one_way(self, onset_s: float, offset_s: float) -> bool:
        spans = list(self._macros) + ([(self._macro[0], self._macro[1])] if self._macro is not None else [])
        return any(start <= offset_s and onset_s <= end for start, end in spans)

    # ------------------------------------------------------------------ occlusion
    def _occluded(self, onset_s: float, offset_s: float) -> bool:
        lo, hi = onset_s - self.config.occlusion_margin_s, offset_s + self.config.occlusion_margin_s
        return any(not found or conf < self.config.min_confidence
                   for _, t, found, conf in self._frames if lo <= t <= hi)

    def _close_gap(self) -> list[SpotEvent | Movement]:
        """The face is back: log the frames without it (the last of them is the frame before this one)."""
        assert self._lost_since is not None and len(self._frames) >= 2
        last_lost = self._frames[-2]
        movement = self._gap_movement(self._lost_since, (last_lost[0], last_lost[1]))
        self._lost_since = None
        return [movement]

    def _gap_movement(self, start: tuple[int, float], end: tuple[int, float]) -> Movement:
        return Movement(kind="occlusion", onset_frame=start[0], offset_frame=end[0], onset_s=start[1],
                        offset_s=end[1], peak_score=0.0, regions=(), reason="face lost")

    def _trim(self, now: float) -> None:
        """Drop history older than any open decision can need (memory stays flat over hours)."""
        horizon = now - self._keep_s
        while self._frames and self._frames[0][1] < horizon:
            self._frames.popleft()
        while self._mouth_times and self._mouth_times[0] < horizon:
            self._mouth_times.popleft()
        while self._macros and self._macros[0][1] < horizon:
            self._macros.popleft()
        drop = bisect.bisect_left(self._t, horizon)
        keep_scores = min(drop, self._scored)
        if self._segment is not None:
            keep_scores = 0
        if keep_scores > 64:  # trim in batches: list slicing is O(n)
            del self._t[:keep_scores]
            del self._d[:keep_scores]
            self._scored -= keep_scores
            s_drop = bisect.bisect_left(self._st, horizon)
            del self._st[:s_drop], self._sv[:s_drop], self._sz[:s_drop], self._cells[:s_drop]


def spot(motions: Iterable[FrameMotion], grid: CellGrid,
         config: SpotterConfig = SpotterConfig()) -> list[SpotEvent | Movement]:
    """All events of a finished stream (the same calls as live, then `finish`)."""
    spotter = Spotter(grid, config)
    events: list[SpotEvent | Movement] = []
    for motion in motions:
        events += spotter.process(motion)
    return sorted(events + spotter.finish(), key=lambda e: e.onset_s)
