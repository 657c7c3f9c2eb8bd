"""Talking: syllable-rate jaw and lip movement, and the conversational brow raises that go with it.

Interviews are people talking, and speech is what a micro-expression spotter must see past: the
lower face moves by several pixels three to six times a second, and speakers raise their brows
now and then to stress a word (AU1+2), a movement of the micro-expression's size that belongs to
speech. A `SpeechPlan` is drawn once per video:

- talking segments of 2-8 s covering a requested share of the video, kept clear of
  macro-expressions (a spotter should meet speech and macro-expressions one at a time);
- in each segment, syllables of 1/6-1/3 s: the jaw drops and the lips part (`MouthOpening`,
  2-6 px at the lower lip of a 250 px face) and close again, now and then a short pause; the lip
  corners move a little with each syllable (rounding or spreading, 0.3-1 px);
- about one conversational brow raise per `BROW_RAISE_EVERY_S` of talk: AU1+2, 1-3 px,
  0.3-0.8 s, inside a segment and clear of every other event; symmetric (a conversational
  signal, where micro-expressions' two sides differ by up to 20 % each, see expression_warp).

The lips really part: `MouthOpening` is not a warp (a warp would stretch the closed lips) but a
gap opening along the lips' meeting line, showing the dark seam between them stretched, with
everything below it (lower lip, chin) moved down by the opening and fading out under the chin,
the way `EyeClosure` lets a lid cover the eye.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realtime.core.errors import InputError
from training.synth.actions import LIP_CORNER, Timing, expression_warp, face_frame
from training.synth.render import Deformation, Scene, Warp, frame_box, rbf_warp

SEGMENT_S = (2.0, 8.0)  # length of one talking segment
PAUSE_S = 1.0  # silence between two segments, at least
MACRO_CLEARANCE_S = 0.5  # talking keeps this far from a macro-expression
SYLLABLE_HZ = (3.0, 6.0)  # syllable rate
SYLLABLE_PAUSE = 0.15  # chance of a short pause (0.1-0.3 s) after a syllable
OPENING_PX = (2.0, 6.0)  # lips parting at the lower lip, px at a 250 px face
CORNER_PX = (0.3, 1.0)  # lip-corner movement per syllable, px at a 250 px face
BROW_RAISE_EVERY_S = 5.0  # one conversational brow raise per this much talk, on average
BROW_RAISE_S = (0.3, 0.8)
BROW_RAISE_PX = (1.0, 3.0)
BROW_RAISE_AUS = "1+2"
BROW_RAISE_ASYMMETRY = 0.05  # conversational raises are bilateral: both brows within +-5 % of each other
SPEECH_AUS = "25+26"  # lips part, jaw drops: the ground truth's action units of a talking segment
UPPER_FACE_REGIONS = frozenset({"brow_left", "brow_right", "forehead", "eye_left", "eye_right"})

# MediaPipe's inner lip contour, from one mouth corner (78) to the other (308).
_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
_CHIN = 152
_CORNER_SIGMA = 0.05  # lip-corner drag radius, fraction of the face width
_JAW_SPREAD = 0.6  # sideways reach of the jaw's drop beyond the mouth, in mouth widths (Gaussian)


@dataclass(frozen=True)
class Syllable:
    start_s: float
    duration_s: float
    opening_px: float  # scene px at the lower lip
    corner_px: float  # scene px, + spreads the corners, - rounds them

    def strength(self, t: float) -> float:
        """0..1: open and closed again over the syllable (sin^2, smooth at both ends)."""
        s = (t - self.start_s) / self.duration_s
        return float(np.sin(np.pi * s) ** 2) if 0.0 <= s <= 1.0 else 0.0


@dataclass(frozen=True)
class TalkSegment:
    start_s: float
    end_s: float
    syllables: tuple[Syllable, ...]
    widest: float  # the widest opening, px at a 250 px face


@dataclass(frozen=True)
class BrowRaise:
    timing: Timing
    amplitude: float  # px at a 250 px face
    warp: Warp


class MouthOpening:
    """The lips part by `opening` px at the middle of the mouth (scene px, at strength 1).

    In the mouth's frame (u from one inner corner to the other, v towards the forehead) with
    m(u) the lips' meeting line and p(u) = sin(pi u / W)^0.7 the opening's shape along the mouth,
    an opening o shows, for m - o p <= v < m, the seam at m (the dark line between closed lips,
    stretched), and below it the face moved down by o p, blending to the jaw's own sideways
    profile (a Gaussian beyond the corners) over the first `ramp` px and fading to nothing below
    the chin. The map stays continuous: the gap is zero at the corners and outside the mouth.
    """

    def __init__(self, scene: Scene) -> None:
        lm = scene.landmarks.astype(np.float64)
        _, _, face_up = face_frame(lm)
        self._origin = lm[_UPPER_INNER[0]]
        far = lm[_UPPER_INNER[-1]] - self._origin
        self._width = float(np.linalg.norm(far))
        self._along = far / self._width
        up = np.array([self._along[1], -self._along[0]])
        self._up = up if up @ face_up > 0 else -up
        mid = (lm[list(_UPPER_INNER)] + lm[list(_LOWER_INNER)]) / 2 - self._origin  # (11, 2) meeting line
        order = np.argsort(mid @ self._along)
        self._line_u, self._line_v = (mid @ self._along)[order], (mid @ self._up)[order]
        self._chin = float(-((lm[_CHIN] - self._origin) @ self._up))  # depth of the chin below the corner line
        self._ramp = 0.3 * self._chin
        corners = np.array([[-0.8, 0.3], [1.8, 0.3], [-0.8, -1.6], [1.8, -1.6]])  # (u / W, v / W) box
        box = corners[:, :1] * self._width * self._along + corners[:, 1:] * self._width * self._up
        self._corners = box + self._origin  # (4, 2) scene px

    def resample(self, maps: np.ndarray, strength: float, pose: np.ndarray | None) -> None:
        opening = float(strength)
        if opening <= 1e-3:
            return
        h, w = maps.shape[:2]
        x0, y0, x1, y1 = frame_box(self._corners, opening, pose, (w, h))
        window = maps[y0:y1, x0:x1]  # (h, w, 2) view: scene coordinates
        rel = window.astype(np.float64) - self._origin
        u, v = rel @ self._along, rel @ self._up
        line = np.interp(u, self._line_u, self._line_v)  # m(u)
        inside = np.clip(u / self._width, 0.0, 1.0)
        shape = np.sin(np.pi * inside) ** 0.7  # p(u): 0 at the corners and beyond
        jaw = np.exp(-(((u / self._width) - 0.5) / _JAW_SPREAD) ** 2)  # the jaw's drop beyond the mouth
        gap = opening * shape
        below = line - gap  # the lower lip's new edge
        depth = np.maximum(below - v, 0.0)  # how far under the moved lower lip
        profile = shape + (jaw - shape) * np.minimum(depth / self._ramp, 1.0)
        fade = np.clip(1.0 - (depth - self._chin) / (0.4 * self._chin), 0.0, 1.0)  # nothing moves below the neck
        source = v.copy()
        lower = v < below
        source[lower] = (v + opening * profile * fade)[lower]
        seam = (v >= below) & (v < line)
        source[seam] = line[seam]
        shift = ((source - v)[..., None] * self._up)
        moved = lower | seam
        window[moved] = (window[moved] + shift[moved]).astype(np.float32)


@dataclass(frozen=True)
class SpeechPlan:
    """What a video's speaker does and when; `deformations(t)` is what the renderer applies."""

    segments: tuple[TalkSegment, ...]
    brow_raises: tuple[BrowRaise, ...]
    mouth: MouthOpening | None
    corners: Warp | None  # 1 px lip-corner spreading at strength 1

    def talking(self, t: float) -> bool:
        return any(s.start_s <= t <= s.end_s for s in self.segments)

    def deformations(self, t: float) -> list[tuple[float, Deformation]]:
        out: list[tuple[float, Deformation]] = []
        for segment in self.segments:
            if not segment.start_s <= t <= segment.end_s:
                continue
            for syllable in segment.syllables:
                strength = syllable.strength(t)
                if strength > 0 and self.mouth is not None and self.corners is not None:
                    out.append((strength * syllable.opening_px, self.mouth))
                    out.append((strength * syllable.corner_px, self.corners))
        for raise_ in self.brow_raises:
            if raise_.timing.onset_s <= t <= raise_.timing.offset_s:
                out.append((float(raise_.timing.profile(t)), raise_.warp))
        return out


def no_speech() -> SpeechPlan:
    return SpeechPlan(segments=(), brow_raises=(), mouth=None, corners=None)


def talk_segments(rng: np.random.Generator, share: float, duration: float, start_s: float,
                  avoid: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(start, end) of talking segments adding up to about `share` of `duration`, after `start_s`,
    each 2-8 s, `PAUSE_S` apart and `MACRO_CLEARANCE_S` clear of every interval in `avoid`."""
    edges = [(start_s, duration - PAUSE_S)]
    for a, b in sorted(avoid):
        edges = _cut(edges, a - MACRO_CLEARANCE_S, b + MACRO_CLEARANCE_S)
    target, total, placed = share * duration, 0.0, []
    while target - total >= SEGMENT_S[0] / 2:
        length = min(rng.uniform(*SEGMENT_S), max(target - total, SEGMENT_S[0]))
        fits = [(a, b) for a, b in edges if b - a >= length]
        if not fits:
            longest = max((b - a for a, b in edges), default=0.0)
            if longest < SEGMENT_S[0]:
                break
            length = longest
            fits = [(a, b) for a, b in edges if b - a >= length]
        weights = np.array([b - a - length + 1e-3 for a, b in fits])
        a, b = fits[int(rng.choice(len(fits), p=weights / weights.sum()))]
        start = float(rng.uniform(a, b - length))
        placed.append((start, start + length))
        total += length
        edges = _cut(edges, start - PAUSE_S, start + length + PAUSE_S)
    return sorted(placed)


def _cut(edges: list[tuple[float, float]], a: float, b: float) -> list[tuple[float, float]]:
    """Free intervals `edges` without (a, b)."""
    out = []
    for lo, hi in edges:
        if b <= lo or a >= hi:
            out.append((lo, hi))
            continue
        if a > lo:
            out.append((lo, a))
        if b < hi:
            out.append((b, hi))
    return out


def plan_speech(scene: Scene, rng: np.random.Generator, spans: list[tuple[float, float]],
                busy: list[tuple[float, float]], clearance_s: float,
                raise_every_s: float = BROW_RAISE_EVERY_S) -> SpeechPlan:
    """Syllables for the talking `spans` and a brow raise per `raise_every_s` of them (0: none), clear
    of `busy` events by `clearance_s` (a spotter should see one movement of the face's upper half at a
    time)."""
    if not spans:
        return no_speech()
    segments = []
    for start, end in spans:
        syllables, t, widest = [], start, 0.0
        while True:
            length = 1.0 / rng.uniform(*SYLLABLE_HZ)
            if t + length > end:
                break
            sign = 1.0 if rng.random() < 0.5 else -1.0
            opening = float(rng.uniform(*OPENING_PX))
            widest = max(widest, opening)
            syllables.append(Syllable(start_s=t, duration_s=length, opening_px=scene.px(opening),
                                      corner_px=sign * scene.px(rng.uniform(*CORNER_PX))))
            t += length
            if rng.random() < SYLLABLE_PAUSE:
                t += rng.uniform(0.1, 0.3)
        segments.append(TalkSegment(start, end, tuple(syllables), widest))
    raises: list[BrowRaise] = []
    taken = list(busy)
    for start, end in spans if raise_every_s > 0 else ():
        for _ in range(int(rng.poisson((end - start) / raise_every_s))):
            length = rng.uniform(*BROW_RAISE_S)
            for _attempt in range(20):
                onset = rng.uniform(start, end - length)
                if all(onset + length + clearance_s <= a or onset >= b + clearance_s for a, b in taken):
                    rise, hold = rng.uniform(0.3, 0.5), rng.uniform(0.1, 0.3) * length
                    timing = Timing(onset, onset + rise * length + hold / 2, onset + length, hold)
                    raises.append(brow_raise(scene, timing, float(rng.uniform(*BROW_RAISE_PX)), rng))
                    taken.append((onset, onset + length))
                    break
    corners = _corner_warp(scene)
    return SpeechPlan(segments=tuple(segments), brow_raises=tuple(sorted(raises, key=lambda r: r.timing.onset_s)),
                      mouth=MouthOpening(scene), corners=corners)


def brow_raise(scene: Scene, timing: Timing, amplitude: float, rng: np.random.Generator) -> BrowRaise:
    """A conversational brow raise of `amplitude` px (at a 250 px face): AU1+2, both brows alike."""
    warp = expression_warp(scene, BROW_RAISE_AUS, scene.px(amplitude), rng, asymmetry=BROW_RAISE_ASYMMETRY)
    return BrowRaise(timing, amplitude, warp)


def _corner_warp(scene: Scene) -> Warp:
    """Both lip corners moving 1 px sideways, away from the midline (spreading the lips)."""
    lm = scene.landmarks.astype(np.float64)
    mid, lateral, _ = face_frame(lm)
    points = lm[list(LIP_CORNER)]
    vectors = np.array([np.sign((p - mid) @ lateral) * lateral for p in points])
    return rbf_warp(points, vectors, sigma=_CORNER_SIGMA * scene.face_width, shape=scene.image.shape[:2])


def check_talk(share: float) -> float:
    if not 0.0 <= share <= 0.8:
        raise InputError(f"--talk {share}: the share of the video spent talking must be in 0..0.8")
    return float(share)
