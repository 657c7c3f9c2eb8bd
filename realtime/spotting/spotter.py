"""Spotting micro-expressions in a stream of facial motion, and locating their phases.

Why this design: a threshold relative to the video's maximum is set by the macro-expressions and
misses the micro ones, and a k-frame difference turns the edges of every slow movement into short
bursts. `Spotter` runs small stages, each in its own module:

- scoring (`out_and_back`): the out-and-back score per cell, s = (|P| + |N| - |P + N|) / 2 over
  L seconds either side; a movement that leaves neutral and returns within L scores its
  displacement, a one-way movement scores zero;
- noise (`noise`): the score of the top cells in units of the person's own noise, a rolling
  median and MAD over the last `noise_window_s` seconds;
- talking (`talking`): whether the person speaks, from the jaw's up-and-down rhythm;
- segmentation (`segments`): a movement starts where the score leaves the noise band and ends
  where it re-enters it; onset and offset follow the falling score out to the resting level;
  the apex is `realtime.spotting.apex.apex_from_motion` on the score at every frame in between;
- one-way movements (`one_way`): a macro-expression's rise and fall, logged as macro and
  vetoing what overlaps them;
- rules (`rules`): occlusion, speech, blink, macro or micro, from the closed movement's features.

Talking. Speech moves the lower face by pixels three to six times a second, which would hide every
movement near it in a whole-face score and noise. While the person talks, the spotter therefore
scores the upper face (brows, forehead, eyes, nose) on its own: its motion refitted without the
lower face (`AffineRefit`: speech otherwise leaks into it through the head-motion fit), against
its own noise, which speech does not raise. The whole face's noise estimate is not fed while the
person talks, so it is valid again the moment they stop. Lower-face movements next to talking
are speech when the jaw opens (a syllable) and stay candidates when it does not (a chin raiser or
lip corners); upper-face movements during talking are candidates, flagged `during_speech`,
except conversational brow raises (both brows up alike for `raise_min_s` or longer), logged as
speech, and upper-face movements that the upper face's own score does not confirm (speech
leaking in before talking was known). A lower-face movement taken for speech while the upper face's own
score stands out (`hidden_upper_z`) is measured again on the upper face: a micro-expression of the brows or
eyes on the first syllable, segmented with it on the whole face before talking was known, is found that way,
and one-way movements of the lower face (the jaw's first drop) never veto the upper face's candidates. The
cheeks count as lower face (`speech_regions`): the jaw's drop drags them at every syllable, and AU6 still
shows in the lower lids, which are eye cells. Lower-face micro-expressions during talking are looked for on a channel of their own
(`lower_in_speech`): the lower cells' motion less the share the jaw's opening explains
(`jaw.JawRemoval`: syllables drop the jaw and drag each cell by its own share of the drop, a lip-corner
pull moves the corners in a way no drop explains), scored out and back, against its own noise
measured during talking, segmented apart from the upper face; a peak of `lower_threshold` or more is a
candidate, flagged `during_speech`. (On the whole face's motion they were not separable: lip-corner and
chin movements of 2 px reach 9-15 of their cells' speech spreads, the syllables around them 15-34.)

Streaming: the score at t needs the motion up to t + L, and a movement is decided once its
offset has been followed for `tail_s`, so a micro-expression comes out L + tail_s = 0.5 s after
its offset; one decided away from known talking waits `talk_hold_s` more (talking is known
after a few turns of the jaw, so that a sentence's first syllable is not reported), so
`lookahead_s` is 0.8 s at most. Live and offline runs make the same `process` calls.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from realtime.core.interval import Interval
from realtime.face.regions import CANONICAL_LANDMARKS
from realtime.spotting.apex import apex_from_motion
from realtime.spotting.config import SpotterConfig
from realtime.spotting.frames import FrameLog, Gap
from realtime.spotting.jaw import JawRemoval
from realtime.spotting.motion import CellGrid, FrameMotion
from realtime.spotting.noise import NoiseNormaliser
from realtime.spotting.one_way import OneWayMovement, OneWayTracker
from realtime.spotting.out_and_back import AffineRefit, CellScores, MotionHistory, out_and_back
from realtime.spotting.rules import Features, classify
from realtime.spotting.segments import Segment, Segmenter
from realtime.spotting.talking import TalkingDetector, TalkSpan

__all__ = ["MOUTH_REGIONS", "MOVEMENT_KINDS", "Movement", "SpotEvent", "Spotter", "SpotterConfig", "out_and_back",
           "spot"]

MOUTH_REGIONS = ("mouth", "chin", "cheek_left", "cheek_right")  # where speech moves the face
_NOSE_TIP = 1  # MediaPipe mesh point: cells of no region below it belong to the lower face
_LID_POINTS = (159, 145, 386, 374)  # MediaPipe mesh: upper and lower lid middles; eye cells above their mean are
#                                     the upper lids', below it the lower lids'
_EYE_CORNERS = (33, 133, 362, 263)  # MediaPipe mesh: each eye's outer and inner corner (the lids lie between)


@dataclass(frozen=True)
class SpotEvent:
    """A micro-expression candidate: inclusive 0-based frame indices of the source, and times."""

    frames: Interval  # onset, apex, offset
    onset_s: float
    apex_s: float
    offset_s: float
    peak_score: float  # peak out-and-back score in noise units
    amplitude_px: float  # peak displacement from neutral, aligned-crop px
    regions: tuple[str, ...]  # facial regions that moved, strongest first
    during_speech: bool = False  # found while the person was talking (a lower-face one is less certain)

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s


MOVEMENT_KINDS = ("macro", "blink", "occlusion", "speech")


@dataclass(frozen=True)
class Movement:
    """Any other movement; logged separately, never a micro-expression result."""

    kind: str  # one of MOVEMENT_KINDS
    frames: Interval  # no apex
    onset_s: float
    offset_s: float
    peak_score: float  # noise units (0 for a face lost without motion)
    regions: tuple[str, ...]
    reason: str  # why it is not a micro-expression, for the log

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s


@dataclass(frozen=True)
class _Pending:
    """A measured segment waiting for its classification."""

    features: Features
    onset: tuple[int, float]  # frame index, time
    offset: tuple[int, float]
    apex: tuple[int, float]
    regions: tuple[str, ...]
    release_s: float  # classified once the stream is this far


class Spotter:
    """Stage: per-frame `FrameMotion` in, closed events (`SpotEvent` or `Movement`) out.

    `state` says what the spotter is doing at the latest scored time, for frames.csv and the
    overlay: "warming up" (no noise estimate yet), "idle", "movement" (a score above the noise
    band is being followed), "face lost", "finished"; `talking` whether the person is speaking
    there.
    """

    def __init__(self, grid: CellGrid, config: SpotterConfig = SpotterConfig()) -> None:
        self.config = config
        self.grid = grid
        self._mouth = np.array([r in MOUTH_REGIONS for r in grid.regions])
        nose_tip_y = CANONICAL_LANDMARKS[_NOSE_TIP, 1] * grid.crop_size
        self._lower = np.array([r in config.speech_regions or (not r and y > nose_tip_y)
                                for r, y in zip(grid.regions, grid.centres[:, 1])])
        self._jaw = np.array([r in config.talk_regions for r in grid.regions])
        self._chin = np.array([r == "chin" for r in grid.regions])
        self._jawless = self._lower & ~self._chin  # the chin is the jaw's reference: what is left there is the fit's
        #                                           error on the syllable itself, not a movement of its own
        self._anchor_cells = np.array([r in ("eye_left", "eye_right", "nose", "nose_bridge") for r in grid.regions])
        self._brow = np.array([r.startswith("brow") or r == "forehead" for r in grid.regions])
        eye_line = CANONICAL_LANDMARKS[list(_LID_POINTS), 1].mean() * grid.crop_size  # between the lids
        corners = CANONICAL_LANDMARKS[list(_EYE_CORNERS), 0].reshape(2, 2) * grid.crop_size
        x = grid.centres[:, 0]
        lids = grid.eye & np.any([(x >= a.min()) & (x <= a.max()) for a in corners], axis=0)  # not the nose's
        self._upper_lid = lids & (grid.centres[:, 1] < eye_line)
        self._lower_lid = lids & (grid.centres[:, 1] >= eye_line)
        self._sides = (np.array([r == "brow_left" for r in grid.regions]),
                       np.array([r == "brow_right" for r in grid.regions]))
        self._k = min(config.top_cells, len(grid.regions))
        self._refit = AffineRefit(grid.centres, grid.crop_size, ~self._lower, config.refit_iterations,
                                  config.refit_tukey)
        self.reset()

    def reset(self) -> None:
        c = self.config
        self._keep_s = c.window_s + c.max_duration_s * 2 + c.context_s + c.speech_window_s + c.history_margin_s
        self._motion = MotionHistory(len(self.grid.regions), c.window_s)
        self._upper_motion = MotionHistory(len(self.grid.regions), c.window_s)  # upper face, refitted on its own
        self._lower_motion = MotionHistory(len(self.grid.regions), c.window_s)  # lower face less the jaw's share
        self._jaw_removal = JawRemoval(self._jawless, self._chin, c.jaw_memory_s)
        self._noise = NoiseNormaliser(c.noise_window_s, c.noise_refresh_s, c.warmup_s, c.noise_floor)
        self._noise_upper = NoiseNormaliser(c.noise_window_s, c.noise_refresh_s, c.warmup_s, c.noise_floor)
        self._noise_lower = NoiseNormaliser(c.noise_window_s, c.noise_refresh_s, c.warmup_s, c.noise_floor)
        self._talk = TalkingDetector(c.talking)
        self._talk_onset: tuple[int, float] | None = None  # first frame of the current talking
        self._pending: deque[_Pending] = deque()  # segments decided away from known talking, waiting for it
        self._upper_z: deque[tuple[float, float]] = deque()  # (t, upper face's own score in noise units)
        self._segments = Segmenter(c.segments)
        self._lower_segments = Segmenter(c.segments)  # the lower face less the jaw, while talking
        self._one_way = OneWayTracker(c.one_way, self.grid.eye, self._k)
        self._frames = FrameLog(c.min_confidence, c.occlusion_margin_s)
        self._mouth_times: deque[float] = deque()  # apex times of recent mouth movements
        self._blink_end = -float("inf")  # offset of the latest blink
        self._anchor = True  # the next tracked frame starts a run of samples
        self._now = -float("inf")  # time of the latest frame
        self.state = "warming up"

    # ------------------------------------------------------------------ input
    def process(self, motion: FrameMotion) -> list[SpotEvent | Movement]:
        """Take one frame's motion; return the events that closed with it, by onset.

        A micro-expression comes out `config.lookahead_s` after its offset; a one-way (macro)
        movement up to (`one_way_join` + 1) L after it ends, so the log is not strictly in onset order.
        """
        out: list[SpotEvent | Movement] = []
        self._now = motion.t_s
        gap = self._frames.add(motion.index, motion.t_s, motion.found, motion.confidence)
        if gap is not None:
            out.append(self._occlusion(gap))
        if not motion.found:
            self._anchor = True
            self.state = "face lost"
        else:
            if motion.cells is not None or self._anchor:  # a flow step, or the first frame of a tracked run
                self._motion.add(motion.t_s, motion.cells)
                if motion.cells is None:
                    self._upper_motion.add(motion.t_s, None)
                elif self._talk.moving(motion.t_s):  # the jaw moves: refit the upper face without it
                    self._upper_motion.add(motion.t_s, self._refit(motion.cells))
                else:  # a still lower face pulls nothing: the whole face's fit holds (and costs nothing more)
                    self._upper_motion.add(motion.t_s, np.where(self._lower[:, None], 0.0, motion.cells))
                if self.config.lower_in_speech:
                    self._lower_motion.add(motion.t_s, None if motion.cells is None else self._jaw_removal(
                        motion.t_s, motion.cells, learn=self._talk.moving(motion.t_s)))
                span = self._talk.add(motion.t_s, float(self._motion.last[self._jaw, 1].mean()))
                if self._talk.start_s is not None and self._talk_onset is None:  # resolved while the frame is held
                    self._talk_onset = self._frames.at(self._talk.start_s)
                if span is not None:
                    out.append(self._speech(span))
            self._anchor = False
        out += self._advance(motion.t_s)
        out += self._release(motion.t_s)
        self._trim(motion.t_s)
        return sorted(out, key=lambda e: e.onset_s)

    def finish(self) -> list[SpotEvent | Movement]:
        """End of stream: decide what is still open (with the motion there is) and return it."""
        out: list[SpotEvent | Movement] = []
        gap = self._frames.finish()
        if gap is not None:
            out.append(self._occlusion(gap))
        if not self._motion.empty:
            out += self._advance(self._motion.t[-1] + self.config.window_s + 1e-9, final=True)
        span = self._talk.finish()
        if span is not None:
            out.append(self._speech(span))
        out += self._release(float("inf"))
        self.state = "finished"
        return sorted(out, key=lambda e: e.onset_s)

    def _advance(self, now: float, final: bool = False) -> list[SpotEvent | Movement]:
        out: list[SpotEvent | Movement] = []
        lower = self._lower_motion.score(now, final) if self.config.lower_in_speech else []
        for i, (sample, upper) in enumerate(zip(self._motion.score(now, final), self._upper_motion.score(now, final))):
            way = upper.way if self._talk.near(sample.t, sample.t, self.config.window_s) else sample.way
            out += [self._macro(m) for m in self._one_way.add(sample.t, way)]
            out += self._score(sample, upper)
            if lower:
                out += self._score_lower(lower[i])
        if final and self._one_way.is_open:
            out.append(self._macro(self._one_way.close()))
        return out

    def _top(self, cells: np.ndarray) -> float:
        k = min(self._k, len(cells))
        return float(np.partition(cells, -k)[-k:].mean())

    @property
    def talking(self) -> bool:
        return self._talk.talking

    def _score(self, sample: CellScores, upper_sample: CellScores) -> list[SpotEvent | Movement]:
        """Noise, talking and segmentation for one scored sample.

        The whole face is scored against its resting noise while the person is silent; while
        they talk, only the upper face is, against its own noise (speech does not move it), and
        the whole face's estimate is held at what it was before the talking, so it is valid again
        the moment the talking stops."""
        upper_value = self._top(upper_sample.cells[~self._lower])
        upper = self._noise_upper(sample.t, upper_value)
        self._upper_z.append((sample.t, upper))
        talking = self._talk.near(sample.t, sample.t, 0.0)  # the detector is L ahead of the scores
        value = self._top(sample.cells)
        whole = self._noise(sample.t, value, learn=not talking)
        if talking:
            value, z, cells = upper_value, upper, upper_sample.cells
        else:
            z, cells = whole, sample.cells
        closed, state = self._segments.add(sample.t, value, z, cells)
        if state is not None:
            self.state = state
        return [event for segment in closed for event in self._decide(segment)]

    def _score_lower(self, sample: CellScores) -> list[SpotEvent | Movement]:
        """The lower face less the jaw's share, against its own noise while talking; segmented on its own
        (silent, the whole face's score sees the lower face already)."""
        talking = self._talk.near(sample.t, sample.t, 0.0)
        value = self._top(sample.cells[self._jawless])
        started = len(self._noise_lower.noise) > 0  # its noise is learned during talking only, from the first
        z = self._noise_lower(sample.t, value, learn=talking) if talking or started else float("nan")
        closed, _ = self._lower_segments.add(sample.t, value, z if talking else float("nan"), sample.cells)
        out: list[SpotEvent | Movement] = []
        for seg in closed:
            if self._lower_segments.z[seg.peak] < self.config.lower_threshold:
                continue
            features = replace(self._measure(seg, self._lower_segments, self._lower_motion),
                               lower_z=self._lower_segments.z[seg.peak])
            onset_f, offset_f = self._frames.at(features.onset_s), self._frames.at(features.offset_s)
            out += self._classify(_Pending(features, onset_f, offset_f,
                                           self._apex(onset_f, offset_f, self._lower_segments),
                                           self._regions(self._lower_segments.cells[seg.peak]), self._now))
        return out

    def _speech(self, span: TalkSpan) -> Movement:
        onset, offset = self._talk_onset or self._frames.at(span.start_s), self._frames.at(span.end_s)
        self._talk_onset = None
        return Movement(kind="speech", frames=Interval(onset[0], None, offset[0]), onset_s=onset[1],
                        offset_s=offset[1], peak_score=0.0, regions=("mouth", "chin"), reason="talking")

    def _lower_share(self, movement: OneWayMovement) -> float:
        return float(movement.way[self._lower].sum() / max(movement.way.sum(), 1e-12))

    def _jaw_talking(self, movement: OneWayMovement) -> bool:
        """A one-way movement of the lower face near talking: the jaw as talking starts or stops."""
        return self._lower_share(movement) > self.config.speech_mouth_share and \
            self._talk.near(movement.start, movement.end, self.config.speech_margin_s)

    def _vetoes(self, mouth_share: float) -> Callable[[OneWayMovement], bool]:
        """Which one-way movements leave a candidate with this share on the lower face alone: the jaw's as
        talking starts, and for one of the upper face every one of the lower face (the jaw opening on the first
        syllable, before the turns that tell talking are in, is no macro-expression of the brows or eyes)."""
        upper = mouth_share <= self.config.speech_mouth_share
        return lambda m: self._jaw_talking(m) or (upper and self._lower_share(m) > self.config.speech_mouth_share)

    def _macro(self, movement: OneWayMovement) -> Movement:
        onset, offset = self._frames.at(movement.start), self._frames.at(movement.end)
        if self._jaw_talking(movement):
            return Movement(kind="speech", frames=Interval(onset[0], None, offset[0]), onset_s=onset[1],
                            offset_s=offset[1], peak_score=movement.peak_z, regions=self._regions(movement.way),
                            reason="the jaw's movement as talking starts")
        return Movement(kind="macro", frames=Interval(onset[0], None, offset[0]), onset_s=onset[1],
                        offset_s=offset[1], peak_score=movement.peak_z, regions=self._regions(movement.way),
                        reason=f"one-way movement of {movement.peak_px:.1f} px > {self.config.max_amplitude_px} px")

    # ------------------------------------------------------------------ decisions
    def _decide(self, seg: Segment) -> list[SpotEvent | Movement]:
        """Measure a closed segment and classify it; a lower-face one far from known talking waits
        `talk_hold_s` (talking is known only after a few turns of the jaw, and its first syllable must
        not come out as a micro-expression)."""
        if self._segments.z[seg.peak] < self.config.threshold:
            return []
        talking = self._talk.near(seg.onset_s, seg.offset_s, self.config.speech_margin_s)
        features = self._measure(seg, self._segments, self._upper_motion if talking else self._motion)
        if features.mouth_share > self.config.speech_mouth_share:
            self._mouth_times.append(features.apex_s)
        onset_f, offset_f = self._frames.at(features.onset_s), self._frames.at(features.offset_s)
        pending = _Pending(features, onset_f, offset_f, self._apex(onset_f, offset_f, self._segments),
                           self._regions(self._segments.cells[seg.peak]), self._now + self.config.talk_hold_s)
        if not features.talking:
            self._pending.append(pending)
            return []
        return self._classify(pending)

    def _release(self, now: float) -> list[SpotEvent | Movement]:
        """Classify the held lower-face segments whose wait is over, with what is known of talking now."""
        out: list[SpotEvent | Movement] = []
        while self._pending and self._pending[0].release_s <= now:
            held = self._pending.popleft()
            f = held.features
            talking = self._talk.near(f.onset_s, f.offset_s, self.config.speech_margin_s)
            in_one_way = self._one_way.overlaps(f.onset_s, f.offset_s, self._vetoes(f.mouth_share))
            upper_z = max((z for t, z in self._upper_z if f.onset_s <= t <= f.offset_s), default=float("nan"))
            out += self._classify(replace(held, features=replace(f, talking=talking, in_one_way=in_one_way,
                                                                 upper_z=upper_z)))
        return out

    def _classify(self, p: _Pending) -> list[SpotEvent | Movement]:
        kind, reason = self._rule(p)
        f, c = p.features, self.config
        if kind == "speech" and f.mouth_share > c.speech_mouth_share and f.upper_z >= c.hidden_upper_z:
            upper = self._upper_view(p)  # a brow or eye movement hidden in the syllable, if any
            if upper is not None:
                p = upper
                kind, reason = self._rule(p)
        if kind == "blink":
            self._blink_end = max(self._blink_end, p.features.offset_s)
        if kind == "":
            return []
        if kind != "micro":
            return [Movement(kind=kind, frames=Interval(p.onset[0], None, p.offset[0]), onset_s=p.onset[1],
                             offset_s=p.offset[1], peak_score=p.features.peak_z, regions=p.regions, reason=reason)]
        return [SpotEvent(frames=Interval(p.onset[0], p.apex[0], p.offset[0]),
                          onset_s=p.onset[1], apex_s=p.apex[1], offset_s=p.offset[1], peak_score=p.features.peak_z,
                          amplitude_px=p.features.amplitude_px, regions=p.regions,
                          during_speech=self._talk.near(p.features.onset_s, p.features.offset_s, 0.0))]

    def _rule(self, p: _Pending) -> tuple[str, str]:
        return classify(replace(p.features, since_blink_s=p.features.onset_s - self._blink_end), self.config.rules)

    def _upper_view(self, p: _Pending) -> _Pending | None:
        """A lower-face movement taken for speech, measured again on the upper face, or None when the upper face
        did not move on its own: a micro-expression of the brows or eyes on a syllable, segmented with it on the
        whole face before talking was known (measured on rendered interviews at 100 fps: a brow lowerer and a lid
        tightener taken for the first syllables). The upper face's motion is refitted here on its own
        (`AffineRefit`) whatever it was when it came: before the first turn of the jaw told talking, the first
        syllable leaks into it through the whole face's fit (a rendered clip: 17 noise units on nose and
        forehead, none left after the refit)."""
        f = p.features
        at, L = self._motion.at, self.config.window_s
        best: tuple[float, float, np.ndarray] | None = None
        for t, _ in self._upper_z:
            if f.onset_s <= t <= f.offset_s:
                cells = out_and_back(self._refit(at(t) - at(t - L)), self._refit(at(t + L) - at(t)))  # (C,) px
                z = self._noise_upper(t, self._top(cells[~self._lower]), learn=False)
                if best is None or z > best[1]:
                    best = (t, z, cells)
        if best is None or best[1] < self.config.hidden_upper_z:
            return None
        upper = self._features(f.onset_s, f.offset_s, *best, self._upper_motion)
        return replace(p, features=replace(upper, talking=f.talking), regions=self._regions(best[2]))

    def _measure(self, seg: Segment, history: Segmenter, motion: MotionHistory) -> Features:
        """A closed segment's features, from the scores it was segmented on and the motion they came from."""
        assert seg.offset_s is not None
        return self._features(seg.onset_s, seg.offset_s, history.t[seg.peak], history.z[seg.peak],
                              history.cells[seg.peak], motion)

    def _features(self, onset_s: float, offset_s: float, peak_t: float, peak_z: float, cells: np.ndarray,
                  motion: MotionHistory) -> Features:
        """What a movement from onset to offset looks like, from its cells' scores at its peak (C,) px and the
        motion they came from."""
        c = self.config
        talking = self._talk.near(onset_s, offset_s, c.speech_margin_s)
        at = motion.at
        top = np.argsort(cells)[-self._k:]
        amplitude = float(cells[top].mean())
        lo, hi = onset_s - c.context_s, offset_s + c.context_s
        pre = np.linalg.norm(at(onset_s) - at(lo), axis=1)[top].mean()
        post = np.linalg.norm(at(hi) - at(offset_s), axis=1)[top].mean()
        rise = (at(peak_t) - at(peak_t - c.window_s))[self.grid.eye]
        eye_down = float(rise[:, 1].sum() / max(np.linalg.norm(rise, axis=1).sum(), 1e-12))
        total = max(float(cells.sum()), 1e-12)
        recent = [t for t in self._mouth_times if 0 < peak_t - t < c.speech_window_s]
        brows = [float(cells[side].sum()) for side in self._sides]
        lift = at(peak_t) - at(onset_s)  # (C, 2) movement from onset to the peak
        lid_lift = -float(lift[self._lower_lid, 1].mean()) / max(amplitude, 1e-12)  # image y grows downwards
        lid_rise = -float(lift[self._upper_lid, 1].mean()) / max(amplitude, 1e-12)
        brow_up = float(lift[self._anchor_cells, 1].mean() - lift[self._brow, 1].mean()) / max(amplitude, 1e-12)
        chin = (self._motion.at(peak_t) - self._motion.at(onset_s))[self._chin, 1]  # whole face: the jaw's own
        jaw_open = float(chin.mean()) / max(amplitude, 1e-12)  # image y grows downwards
        mouth_share = float(cells[self._mouth].sum()) / total
        return Features(onset_s=onset_s, offset_s=offset_s, apex_s=peak_t, peak_z=peak_z,
                        amplitude_px=amplitude, level_px=self._noise.level, one_way_px=float(max(pre, post)),
                        eye_share=float(cells[self.grid.eye].sum()) / total, eye_down=eye_down,
                        lid_lift=lid_lift, lid_rise=lid_rise,
                        mouth_share=mouth_share, mouth_before=len(recent),
                        occluded=self._frames.occluded(onset_s, offset_s),
                        in_one_way=self._one_way.overlaps(onset_s, offset_s, self._vetoes(mouth_share)),
                        talking=talking,
                        brow_share=float(cells[self._brow].sum()) / total,
                        brow_symmetry=min(brows) / max(max(brows), 1e-12), brow_up=brow_up, jaw_open=jaw_open,
                        upper_z=max((z for t, z in self._upper_z if onset_s <= t <= offset_s),
                                    default=float("nan")))

    def _regions(self, cells: np.ndarray) -> tuple[str, ...]:
        order = np.argsort(cells)[::-1]
        strong = [self.grid.regions[i] for i in order if cells[i] >= self.config.region_share * cells[order[0]]]
        return tuple(dict.fromkeys(r for r in strong if r))

    def _apex(self, onset: tuple[int, float], offset: tuple[int, float], history: Segmenter) -> tuple[int, float]:
        """Apex frame: training.apex's rule on the score at every frame of the event."""
        frames = self._frames.between(onset[0], offset[0])
        curve = history.curve([t for _, t in frames])
        return frames[apex_from_motion(curve - curve[0])]

    def _occlusion(self, gap: Gap) -> Movement:
        return Movement(kind="occlusion", frames=Interval(gap.start[0], None, gap.end[0]), onset_s=gap.start[1],
                        offset_s=gap.end[1], peak_score=0.0, regions=(), reason="face lost")

    @property
    def history_size(self) -> int:
        """Samples, frames and scores held: what must stay flat over a long stream."""
        return (len(self._motion.t) + len(self._frames) + len(self._segments.t) + len(self._lower_motion.t)
                + len(self._lower_segments.t))

    def _trim(self, now: float) -> None:
        """Drop history older than any open decision can need (memory stays flat over hours)."""
        horizon = now - self._keep_s
        self._frames.trim(horizon)
        while self._mouth_times and self._mouth_times[0] < horizon:
            self._mouth_times.popleft()
        self._one_way.trim(horizon)
        self._talk.trim(horizon)
        while self._upper_z and self._upper_z[0][0] < horizon:
            self._upper_z.popleft()
        if self._segments.open is None and self._lower_segments.open is None and \
                self._motion.trim(horizon, self.config.trim_batch):
            self._upper_motion.trim(horizon, 0)
            self._lower_motion.trim(horizon, 0)
            self._segments.trim(horizon)
            self._lower_segments.trim(horizon)


def spot(motions: Iterable[FrameMotion], grid: CellGrid,
         config: SpotterConfig = SpotterConfig()) -> list[SpotEvent | Movement]:
    """All events of a finished stream (the same calls as live, then `finish`)."""
    spotter = Spotter(grid, config)
    events: list[SpotEvent | Movement] = []
    for motion in motions:
        events += spotter.process(motion)
    return sorted(events + spotter.finish(), key=lambda e: e.onset_s)
