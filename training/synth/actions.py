"""FACS-like facial movements as displacement fields around MediaPipe landmarks, and their timing.

An action unit (AU) is declared as data: groups of face-mesh points and the direction each
group moves in the face's own frame (`lateral`: away from the midline, `up`: towards the
forehead), with the Gaussian radius of the skin dragged along. An expression (e.g. '6+12') is
the sum of its AUs' fields, held still at the bone-anchored points (`ANCHORED`) and scaled so
that its largest movement equals the requested amplitude. Left and right sides get slightly
different strengths (faces are not symmetric, and neither are their movements). Blinks are an
`EyeClosure` (the lid hides the eye; a warp would squeeze it).

Time profiles are minimum-jerk ramps (10 s^3 - 15 s^4 + 6 s^5, the smooth profile of voluntary
and facial movements) from onset up to the apex, an optional short hold, and back to neutral at
the offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realtime.core.errors import InputError
from training.synth.render import Scene, Warp, frame_box, pinned, rbf_warp

# MediaPipe face-mesh point groups ("left"/"right" never matter: directions are per side).
INNER_BROW = (107, 66, 55, 65, 336, 296, 285, 295)
MID_BROW = (105, 52, 334, 282)
OUTER_BROW = (70, 63, 46, 53, 300, 293, 276, 283)
UPPER_LID = (159, 158, 160, 161, 157, 386, 385, 387, 384, 388)
LOWER_LID = (145, 144, 153, 163, 154, 374, 373, 380, 390, 381)
CHEEK = (117, 118, 101, 50, 123, 205, 36, 346, 347, 330, 280, 352, 425, 266)
NOSE_SIDE = (129, 48, 64, 98, 209, 358, 278, 294, 327, 429)
NOSE_BRIDGE_SIDE = (114, 196, 343, 419)
NOSTRIL = (98, 327)
UPPER_LIP = (0, 37, 267, 39, 269, 40, 270, 185, 409)
LIP_CORNER = (61, 291)
NEAR_CORNER = (146, 375, 185, 409)
LOWER_LIP = (17, 84, 314, 181, 405, 91, 321)
CHIN = (152, 175, 199, 200, 18, 171, 396, 208, 428, 32, 262)
ANCHORED = (133, 362, 168, 6, 1, 4)
"""Inner eye corners, nose bridge and tip: held by the medial canthal tendons, bone and cartilage,
so facial actions barely move them (which is why the aligner fits its similarity to them)."""
ANCHOR_RADIUS = 0.035  # fraction of the face width over which the skin around them is held
MIDLINE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 0, 13, 14, 17, 18, 200, 199, 175, 152)


@dataclass(frozen=True)
class Movement:
    """One point group's share of an AU, as a direction in the face frame (lengths are relative)."""

    points: tuple[int, ...]
    lateral: float  # + away from the face midline, - towards it
    up: float  # + towards the forehead, - towards the chin


@dataclass(frozen=True)
class ActionUnit:
    code: int
    name: str
    movements: tuple[Movement, ...]
    sigma: float  # Gaussian radius of the dragged skin, as a fraction of the face width
    regions: tuple[str, ...]  # realtime.face.regions names where its motion shows


ACTION_UNITS: dict[int, ActionUnit] = {au.code: au for au in (
    ActionUnit(1, "inner brow raiser", (Movement(INNER_BROW, 0.0, 1.0), Movement(MID_BROW, 0.0, 0.5)),
               0.045, ("brow_left", "brow_right")),
    ActionUnit(2, "outer brow raiser", (Movement(OUTER_BROW, 0.0, 1.0), Movement(MID_BROW, 0.0, 0.6)),
               0.045, ("brow_left", "brow_right")),
    ActionUnit(4, "brow lowerer", (Movement(INNER_BROW, -0.5, -0.85), Movement(MID_BROW, -0.25, -0.6)),
               0.045, ("brow_left", "brow_right")),
    ActionUnit(6, "cheek raiser", (Movement(CHEEK, 0.0, 1.0), Movement(LOWER_LID, 0.0, 0.4)),
               0.06, ("cheek_left", "cheek_right", "eye_left", "eye_right")),
    ActionUnit(7, "lid tightener", (Movement(LOWER_LID, 0.0, 1.0), Movement(UPPER_LID, 0.0, -0.35)),
               0.03, ("eye_left", "eye_right")),
    ActionUnit(9, "nose wrinkler", (Movement(NOSE_SIDE, 0.0, 1.0), Movement(NOSE_BRIDGE_SIDE, 0.0, 0.6)),
               0.04, ("nose",)),
    ActionUnit(10, "upper lip raiser", (Movement(UPPER_LIP, 0.0, 1.0), Movement(NOSTRIL, 0.0, 0.3)),
               0.04, ("mouth", "nose")),
    ActionUnit(12, "lip corner puller", (Movement(LIP_CORNER, 0.8, 0.6), Movement(NEAR_CORNER, 0.5, 0.4)),
               0.045, ("mouth", "cheek_left", "cheek_right")),
    ActionUnit(14, "dimpler", (Movement(LIP_CORNER, 1.0, 0.0), Movement(NEAR_CORNER, 0.5, 0.0)),
               0.04, ("mouth", "cheek_left", "cheek_right")),
    ActionUnit(15, "lip corner depressor", (Movement(LIP_CORNER, 0.2, -1.0), Movement(NEAR_CORNER, 0.0, -0.5)),
               0.045, ("mouth", "chin")),
    ActionUnit(17, "chin raiser", (Movement(CHIN, 0.0, 1.0), Movement(LOWER_LIP, 0.0, 0.6)),
               0.06, ("chin", "mouth")),
)}
"""The AUs the synthetic data uses; blinks (AU45) are an `EyeClosure`, not a warp."""

EMOTIONS: dict[str, tuple[str, ...]] = {
    "happiness": ("6+12", "12", "6+12"),
    "disgust": ("9+10", "9", "10", "4+9"),
    "surprise": ("1+2", "1+2", "1"),
    "repression": ("14", "15", "17", "15+17", "14+17"),
    "others": ("4", "7", "4+7"),
}
"""CASME-II's five kept classes and the AU combinations each is drawn from (repeats weight a draw)."""

OBJECTIVE_CLASSES: dict[str, int] = {"happiness": 1, "surprise": 2, "others": 3, "disgust": 4, "repression": 5}
"""The CASME-II sheet's 'Objective Classes' (Davison et al.'s AU-based classes) of each emotion."""

BLINK_AUS = "45"


def parse_action_units(text: str) -> tuple[ActionUnit, ...]:
    """'6+12' -> the two AUs; an unknown code raises InputError naming it."""
    try:
        codes = [int(part) for part in str(text).split("+")]
    except ValueError:
        raise InputError(f"action units {text!r}: expected codes like '6+12'") from None
    unknown = [c for c in codes if c not in ACTION_UNITS]
    if unknown:
        raise InputError(f"action units {text!r}: no movement defined for AU{unknown[0]} "
                         f"(known: {sorted(ACTION_UNITS)})")
    return tuple(ACTION_UNITS[c] for c in codes)


def action_unit_regions(text: str) -> tuple[str, ...]:
    """The face regions where the motion of '6+12' etc. shows, without repeats."""
    if text == BLINK_AUS:
        return ("eye_left", "eye_right")
    return tuple(dict.fromkeys(r for au in parse_action_units(text) for r in au.regions))


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(midline point, lateral unit vector, up unit vector) of a face, in image px."""
    up = landmarks[10] - landmarks[152]  # chin -> forehead
    up = up / np.linalg.norm(up)
    lateral = np.array([-up[1], up[0]])
    return landmarks[168].astype(np.float64), lateral, up


def _side(landmarks: np.ndarray, index: int, mid: np.ndarray, lateral: np.ndarray) -> float:
    """+1 / -1 for the two sides of the face, 0 for midline points."""
    if index in MIDLINE:
        return 0.0
    return float(np.sign((landmarks[index] - mid) @ lateral))


def expression_warp(scene: Scene, action_units: str, amplitude_px: float, rng: np.random.Generator, *,
                    spread: float = 1.0, asymmetry: float = 0.2) -> Warp:
    """The apex displacement of '6+12' etc. on `scene`, whose largest movement is `amplitude_px`.

    `spread` widens the dragged skin (macro-expressions move more of the face); each side's
    strength is drawn from 1 +- `asymmetry`.
    """
    lm = scene.landmarks.astype(np.float64)
    mid, lateral, up = face_frame(lm)
    strength = {-1.0: 1 + rng.uniform(-asymmetry, asymmetry), 0.0: 1.0,
                1.0: 1 + rng.uniform(-asymmetry, asymmetry)}  # per side of the face
    total: Warp | None = None
    for au in parse_action_units(action_units):
        points, vectors = [], []
        for move in au.movements:
            for index in move.points:
                side = _side(lm, index, mid, lateral)
                points.append(lm[index])
                vectors.append((move.lateral * side * lateral + move.up * up) * strength[side])
        field = rbf_warp(np.array(points), np.array(vectors), sigma=au.sigma * spread * scene.face_width,
                         shape=scene.image.shape[:2])
        total = field if total is None else total + field
    anchored = _anchored(total, scene)
    return anchored.scaled(amplitude_px / anchored.reach)


def _anchored(warp: Warp, scene: Scene) -> Warp:
    return pinned(warp, scene.landmarks[list(ANCHORED)], ANCHOR_RADIUS * scene.face_width)


# Each eye's lid margins from the outer to the inner corner (MediaPipe's eye contour).
_EYES = (
    ((33, 246, 161, 160, 159, 158, 157, 173, 133), (33, 7, 163, 144, 145, 153, 154, 155, 133)),  # right eye
    ((263, 466, 388, 387, 386, 385, 384, 398, 362), (263, 249, 390, 373, 374, 380, 381, 382, 362)),  # left eye
)
_LID_EDGE_PX = 1.0  # width of the lid margin's soft edge: it moves smoothly by sub-pixel steps


@dataclass(frozen=True)
class _Eye:
    origin: np.ndarray  # (2,) outer corner, scene px
    along: np.ndarray  # (2,) unit vector outer -> inner corner
    up: np.ndarray  # (2,) unit vector towards the brow
    u: np.ndarray  # (9,) margin points' position along the eye
    upper: np.ndarray  # (9,) upper margin's height above the corner line
    lower: np.ndarray  # (9,) lower margin's height
    skin: float  # height of the upper lid's skin fold above the margin, px


class EyeClosure:
    """A blink (AU45): the upper lids slide down over the eyes, which they hide.

    Not a warp: an eyelid covers the eye rather than pushing it. In each eye's frame (u along
    the eye, v up), at closing k the upper margin m(u) comes down to m' = m - k (m - l(u)) with
    l the lower margin; the frame shows the lid's skin between its fold m + s and m',
    stretched from [m, m + s], and the uncovered eye below m' where it was (the lower lid stays).
    The margin is a soft edge of `_LID_EDGE_PX`, so that it moves by sub-pixel steps like every
    other movement.
    """

    def __init__(self, scene: Scene, closure: float) -> None:
        if not 0 < closure <= 1:
            raise InputError(f"blink closure must be in (0, 1], got {closure}")
        self.closure = float(closure)
        lm = scene.landmarks.astype(np.float64)
        _, _, face_up = face_frame(lm)
        self._eyes = []
        for upper, lower in _EYES:
            origin = lm[upper[0]]
            along = (lm[upper[-1]] - origin) / np.linalg.norm(lm[upper[-1]] - origin)
            up = np.array([along[1], -along[0]])
            up = up if up @ face_up > 0 else -up
            rel_u, rel_l = lm[list(upper)] - origin, lm[list(lower)] - origin
            u = rel_u @ along
            lower_v = np.interp(u, rel_l @ along, rel_l @ up)
            opening = float((rel_u @ up - lower_v).max())
            self._eyes.append(_Eye(origin, along, up, u, rel_u @ up, lower_v, skin=0.6 * opening))
        points = lm[[i for upper, lower in _EYES for i in upper + lower]]
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        self._corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]])  # (4, 2) both eyes' box
        self._reach = 2.5 * max(eye.skin for eye in self._eyes)  # the lid's fold lies above the box

    def resample(self, maps: np.ndarray, strength: float, pose: np.ndarray | None) -> None:
        closing = self.closure * float(np.clip(strength, 0.0, 1.0))
        if closing <= 0:
            return
        h, w = maps.shape[:2]
        x0, y0, x1, y1 = frame_box(self._corners, self._reach, pose, (w, h))
        window = maps[y0:y1, x0:x1]  # (h, w, 2) view: scene coordinates
        for eye in self._eyes:
            rel = window.astype(np.float64) - eye.origin
            u, v = rel @ eye.along, rel @ eye.up
            inside = (u > eye.u[0]) & (u < eye.u[-1])
            margin = np.interp(u, eye.u, eye.upper)
            lowered = margin - closing * (margin - np.interp(u, eye.u, eye.lower))  # m'
            fold = margin + eye.skin
            source = v.copy()
            lid = inside & (v >= lowered) & (v < fold)  # the lid's skin, stretched down
            source[lid] = (margin + (v - lowered) * eye.skin / (fold - lowered))[lid]
            edge = inside & (v < lowered) & (v >= lowered - _LID_EDGE_PX)  # soft margin edge
            start = lowered - _LID_EDGE_PX
            source[edge] = (start + (v - start) * (margin - start) / _LID_EDGE_PX)[edge]
            moved = lid | edge
            shift = ((source - v)[..., None] * eye.up)[moved]  # along `up` only
            window[moved] = (window[moved] + shift).astype(np.float32)


def blink(scene: Scene, closure: float) -> EyeClosure:
    """AU45 at its apex: both upper lids close `closure` (0..1) of the way to the lower lids."""
    return EyeClosure(scene, closure)


def min_jerk(s: np.ndarray) -> np.ndarray:
    """0 -> 1 over s in [0, 1] with zero velocity and acceleration at both ends."""
    s = np.clip(s, 0.0, 1.0)
    return s ** 3 * (10 - 15 * s + 6 * s * s)


@dataclass(frozen=True)
class Timing:
    """When a movement happens: rise from onset to the apex, a hold around it, fall to offset."""

    onset_s: float
    apex_s: float  # middle of the hold
    offset_s: float
    hold_s: float = 0.0

    def profile(self, t: np.ndarray | float) -> np.ndarray:
        """Movement strength 0..1 at times `t` (s)."""
        t = np.asarray(t, np.float64)
        rise_end = self.apex_s - self.hold_s / 2
        fall_start = self.apex_s + self.hold_s / 2
        rise = min_jerk((t - self.onset_s) / max(rise_end - self.onset_s, 1e-9))
        fall = 1 - min_jerk((t - fall_start) / max(self.offset_s - fall_start, 1e-9))
        return np.where(t < fall_start, rise, fall)

    def shifted(self, dt: float) -> Timing:
        return Timing(self.onset_s + dt, self.apex_s + dt, self.offset_s + dt, self.hold_s)


def draw_timing(rng: np.random.Generator, kind: str) -> Timing:
    """A timing starting at 0 s for a 'micro' (200-500 ms), 'macro' (1-3 s) or 'blink' (150-400 ms)."""
    if kind == "micro":
        duration, rise, hold = rng.uniform(0.2, 0.5), rng.uniform(0.35, 0.55), rng.uniform(0.0, 0.15)
    elif kind == "macro":
        duration, rise, hold = rng.uniform(1.0, 3.0), rng.uniform(0.2, 0.35), rng.uniform(0.15, 0.4)
    elif kind == "blink":
        duration, rise, hold = rng.uniform(0.15, 0.4), rng.uniform(0.3, 0.45), rng.uniform(0.0, 0.1)
    else:
        raise InputError(f"unknown movement kind {kind!r}: expected micro, macro or blink")
    hold_s = hold * duration
    apex = rise * duration + hold_s / 2
    return Timing(0.0, apex, duration, hold_s)
