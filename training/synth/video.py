"""`make_video`: a long synthetic interview with micro- and macro-expressions, blinks and head motion.

One synthetic identity (`make_scene`) at a 250 px face in a 640x480 frame, written as H.264
(realtime.capture.video_io.VideoWriter, crf 18) with `<stem>_groundtruth.csv` beside it. Events never
overlap and are separated by at least `MIN_GAP_S` of rest:

- micro-expressions: 1-3 px at a 250 px face, 200-500 ms, the AU combinations of the five
  CASME-II classes;
- macro-expressions: 6-12 px, 1-3 s, the same AU combinations with wider skin movement;
- blinks (AU45): the upper lids close by 80-100 % over 150-400 ms (times `blink_scale`: weak, partial
  blinks, as of a face whose lids barely move);
- with `talk`, speech (training.synth.speech): talking segments covering that share of the video,
  clear of macro-expressions, with syllable-rate jaw and lip movement and conversational brow
  raises. Micro-expressions that fall inside talking are upper-face ones (brows, eyes), drawn
  afresh where the first draw moved the lower face; with `lower_in_speech`, that share of them
  is a lower-face one instead (lip corners AU12/14/15, chin AU17: `LOWER_FACE_CHOICES`), drawn from
  a third stream so that speech and everything else stay those of the video without the option.
  Speech comes from its own random stream,
  so a video with talking has the same events, head motion and light as the silent video of
  its seed. The ground truth has a `speech` row per segment (action units 25+26) and per
  brow raise (1+2).

Under them, all the time: slow head drift (a sum of slow sinusoids, a few px and about a degree),
occasional larger head moves (10-30 px, up to 5 degrees, 0.5-1.2 s, only between events), a
slowly changing light (overall gain and a left-right / top-bottom gradient, a few per cent) and
sensor noise (2 grey levels before encoding; crf 18 keeps about 0.4 grey levels of it from
frame to frame, the level measured on real webcam recordings).
"""

from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime.capture.video_io import BackgroundVideoWriter, VideoWriter
from realtime.core.errors import InputError
from realtime.core.interval import Interval
from realtime.face.mesh import FaceMesh
from training.synth.actions import (BLINK_AUS, EMOTIONS, Timing, action_unit_regions, blink, draw_timing,
                                    expression_warp, min_jerk)
from training.synth.dataset import CLASSES, check_amplitude, people
from training.synth.identity import load_photos, make_scene
from training.synth.render import Deformation, FaceRenderer, Light, Scene, pose_matrix
from training.synth.speech import (BROW_RAISE_AUS, SPEECH_AUS, UPPER_FACE_REGIONS, SpeechPlan, check_talk,
                                   plan_speech, talk_segments)

log = logging.getLogger(__name__)

GROUNDTRUTH_COLUMNS = ("kind", "onset_frame", "apex_frame", "offset_frame", "onset_s", "apex_s", "offset_s",
                       "emotion", "action_units")
MIN_GAP_S = 0.6  # rest between events: a spotter looking ~0.5 s around a movement sees one at a time
LEAD_IN_S = 1.0  # neutral start: trackers and noise estimates settle before the first event
FACE_WIDTH = 250.0  # px in a 640x480 frame (the face size amplitudes are quoted at); scales with the height
MIN_SIZE = (160, 120)  # smallest frame: a 83 px face, still found and aligned by MediaPipe
NOISE_SIGMA = 2.0  # grey levels before encoding
MOVE_CLEARANCE_S = 0.3  # a large head move keeps this far from any event
SECONDS_PER_MICRO = 2.5  # default length: this much per micro-expression ...
BASE_DURATION_S = 10.0  # ... plus this (room for the macro-expressions, blinks and rests)
SPEECH_SEED = 1  # speech draws from np.random.default_rng([seed, SPEECH_SEED]), apart from the rest
LOWER_SEED = 2  # lower-face micro-expressions inside talking draw from np.random.default_rng([seed, LOWER_SEED])
LOWER_FACE_REGIONS = frozenset({"mouth", "chin", "cheek_left", "cheek_right"})  # what speech moves
UPPER_FACE_CHOICES = tuple((emotion, aus) for emotion, choices in EMOTIONS.items() for aus in dict.fromkeys(choices)
                           if set(action_unit_regions(aus)) <= UPPER_FACE_REGIONS)
"""(emotion, action units) of the micro-expressions that move only the upper face: those inside talking."""
LOWER_FACE_CHOICES = tuple((emotion, aus) for emotion, choices in EMOTIONS.items() for aus in dict.fromkeys(choices)
                           if set(action_unit_regions(aus)) <= LOWER_FACE_REGIONS)
"""(emotion, action units) of the micro-expressions that move only what speech moves (lip corners, chin: AU12,
14, 15, 17): those inside talking with `lower_in_speech`."""


@dataclass(frozen=True)
class SynthEvent:
    """One ground-truth event; frames are 0-based and inclusive, seconds are frame / fps."""

    kind: str  # "micro" | "macro" | "blink" | "speech"
    frames: Interval
    fps: float
    emotion: str  # a CASME-II class; "none" for blinks and speech
    action_units: str  # "6+12"; "45" for blinks; speech: "25+26" for a talking segment, "1+2" for a brow raise
    amplitude: float  # px at a 250 px face (blinks: fraction of the eye opening closed; talking: widest opening)

    @property
    def onset_s(self) -> float:
        return self.frames.seconds(self.fps)[0]

    @property
    def offset_s(self) -> float:
        return self.frames.seconds(self.fps)[2]

    def row(self) -> dict[str, object]:
        """Its ground-truth row (`GROUNDTRUTH_COLUMNS`) and its amplitude."""
        onset_s, apex_s, offset_s = self.frames.seconds(self.fps)
        return {"kind": self.kind, **self.frames.columns(), "onset_s": onset_s, "apex_s": apex_s, "offset_s": offset_s,
                "emotion": self.emotion, "action_units": self.action_units, "amplitude": self.amplitude}


@dataclass(frozen=True)
class SynthVideo:
    """What `make_video` wrote."""

    path: Path
    groundtruth: Path
    fps: float
    num_frames: int
    size: tuple[int, int]  # width, height
    events: tuple[SynthEvent, ...]
    identity: str


@dataclass(frozen=True)
class _HeadMove:
    """A larger head movement: from the previous pose to a new one, min-jerk over [start, end]."""

    start_s: float
    end_s: float
    target: tuple[float, float, float, float]  # tx, ty (px), roll (deg), scale


class _Motion:
    """Head pose and light as functions of time: slow sinusoids plus the large moves."""

    def __init__(self, rng: np.random.Generator, moves: list[_HeadMove], face_scale: float) -> None:
        def waves(amplitude: float, periods: tuple[float, float], count: int = 3) -> list[tuple[float, ...]]:
            """`count` sinusoids (amplitude, angular frequency, phase) adding up to about `amplitude`."""
            return [(amplitude * rng.uniform(0.4, 1.0) * 2 / count, 2 * np.pi / rng.uniform(*periods),
                     rng.uniform(0, 2 * np.pi)) for _ in range(count)]

        sway, light = (4.0, 25.0), (8.0, 30.0)  # periods in s
        self._tx, self._ty = waves(4.0 * face_scale, sway), waves(3.0 * face_scale, sway)  # px
        self._roll, self._scale = waves(1.0, sway), waves(0.012, sway)  # deg, relative
        self._gain, self._sx, self._sy = waves(0.02, light), waves(0.05, light, 2), waves(0.03, light, 2)
        self._moves = sorted(moves, key=lambda m: m.start_s)

    @staticmethod
    def _sum(waves: list[tuple[float, float, float]], t: float) -> float:
        return sum(a * np.sin(w * t + p) for a, w, p in waves)

    def pose(self, center: np.ndarray, t: float) -> np.ndarray:
        base = np.zeros(4)
        base[3] = 1.0
        for move in self._moves:
            if t <= move.start_s:
                break
            s = float(min_jerk((t - move.start_s) / (move.end_s - move.start_s)))
            base = base + s * (np.array(move.target) - base)
        return pose_matrix(center, tx=base[0] + self._sum(self._tx, t), ty=base[1] + self._sum(self._ty, t),
                           roll_deg=base[2] + self._sum(self._roll, t), scale=base[3] + self._sum(self._scale, t))

    def light(self, t: float) -> Light:
        return Light(gain=1.0 + self._sum(self._gain, t), slope_x=self._sum(self._sx, t),
                     slope_y=self._sum(self._sy, t))


def _schedule(rng: np.random.Generator, kinds: list[str], duration: float) -> list[tuple[str, Timing]]:
    """Non-overlapping timings for `kinds`, in random order, with random rests of >= MIN_GAP_S."""
    order = [kinds[i] for i in rng.permutation(len(kinds))]
    timings = [draw_timing(rng, kind) for kind in order]
    busy = LEAD_IN_S + sum(t.offset_s for t in timings) + MIN_GAP_S * (len(timings) + 1)
    free = duration - busy
    if free < 0:
        raise InputError(f"{len(kinds)} events need about {busy:.0f} s; give a --duration of at least that "
                         f"or fewer --micro")
    rests = MIN_GAP_S + free * rng.dirichlet(np.ones(len(timings) + 1))
    events, t = [], LEAD_IN_S
    for kind, timing, rest in zip(order, timings, rests):
        t += rest
        events.append((kind, timing.shifted(t)))
        t += timing.offset_s
    return events


def _head_moves(rng: np.random.Generator, events: list[tuple[str, Timing]], duration: float,
                face_scale: float) -> list[_HeadMove]:
    """About one large move per 15 s, each inside a rest between events."""
    gaps = []
    edges = [0.0] + [x for _, t in events for x in (t.onset_s, t.offset_s)] + [duration]
    for start, end in zip(edges[::2], edges[1::2]):
        start, end = start + MOVE_CLEARANCE_S, end - MOVE_CLEARANCE_S
        if end - start >= 0.6:
            gaps.append((start, end))
    wanted = max(1, round(duration / 15.0))
    chosen = sorted(rng.choice(len(gaps), size=min(wanted, len(gaps)), replace=False)) if gaps else []
    moves = []
    for g in chosen:
        start, end = gaps[g]
        length = min(rng.uniform(0.5, 1.2), end - start)
        begin = rng.uniform(start, end - length)
        target = (rng.uniform(-30, 30) * face_scale, rng.uniform(-20, 20) * face_scale, rng.uniform(-5, 5),
                  rng.uniform(0.96, 1.04))
        moves.append(_HeadMove(begin, begin + length, target))
    return moves


def frame_size(text: str) -> tuple[int, int]:
    """(width, height) from "WxH" (`mer-synth video --size`); make_video checks the numbers."""
    width, x, height = text.lower().partition("x")
    if not (x and width.strip().isdigit() and height.strip().isdigit()):
        raise InputError(f"--size {text!r}: give WIDTHxHEIGHT in px, e.g. 640x480")
    return int(width), int(height)


def make_video(out: Path, *, fps: float, duration: float | None = None, micro: int | None = None,
               faces: Path | None = None, seed: int = 0, size: tuple[int, int] = (640, 480), talk: float = 0.0,
               amplitude: float = 1.0, lower_in_speech: float = 0.0, blink_scale: float = 1.0) -> SynthVideo:
    """Write the video `out` (.mp4) and `<stem>_groundtruth.csv` beside it; deterministic per seed (the
    same .mp4 byte for byte).

    `size` is (width, height); the face is 250 px wide at a height of 480 and in proportion.
    Without `duration` and `micro`: 20 micro-expressions in 60 s; given one, the other follows
    (`SECONDS_PER_MICRO` per micro-expression + `BASE_DURATION_S`). There is one macro-expression
    per 15 s and one blink per 6 s (rounded: none in a video under 3 s). `talk` is the share of
    the video spent talking (0..0.8); `amplitude` scales the micro-expressions (1: 1-3 px);
    `lower_in_speech` (0..1) is the share of the micro-expressions inside talking that move the lower
    face (lip corners, chin) rather than the upper face; `blink_scale` scales every blink's closure (1: the lids
    close 80-100 %; 0.3: weak blinks, which a spotter must not take for eye-region micro-expressions).
    `blink_scale` changes no random draw: the video is otherwise that of the seed without it.
    """
    out = Path(out)
    if not 24 <= fps <= 200:
        raise InputError(f"fps {fps} is outside 24..200")
    if micro is not None and micro < 0:
        raise InputError(f"--micro must be >= 0, got {micro}")
    check_amplitude(amplitude)
    if not 0 <= lower_in_speech <= 1:
        raise InputError(f"--lower-in-speech {lower_in_speech}: must be in 0..1")
    if not 0 < blink_scale <= 1:
        raise InputError(f"--blink {blink_scale}: must be in (0, 1]")
    talk = check_talk(talk)
    width, height = size
    if width < MIN_SIZE[0] or height < MIN_SIZE[1] or width % 2 or height % 2:
        raise InputError(f"frame size {width}x{height}: width and height must be even (H.264's 4:2:0) and at least "
                         f"{MIN_SIZE[0]}x{MIN_SIZE[1]}")
    if micro is None:
        micro = 20 if duration is None else max(0, int((duration - BASE_DURATION_S) / SECONDS_PER_MICRO))
    duration = float(duration) if duration is not None else SECONDS_PER_MICRO * micro + BASE_DURATION_S
    if duration <= LEAD_IN_S:
        raise InputError(f"duration {duration} s is too short")
    rng = np.random.default_rng(seed)
    with FaceMesh(static_image_mode=True) as mesh:
        photos = people(load_photos(faces, mesh))
        scene = make_scene(photos[seed % len(photos)], size=(width, height),
                           face_width=FACE_WIDTH * height / 480 * rng.uniform(0.92, 1.08), rng=rng, mesh=mesh)
    kinds = ["micro"] * micro + ["macro"] * round(duration / 15) + ["blink"] * round(duration / 6)
    scheduled = _schedule(rng, kinds, duration)
    face_scale = scene.face_width / FACE_WIDTH
    motion = _Motion(rng, _head_moves(rng, scheduled, duration, face_scale), face_scale)
    speech_rng = np.random.default_rng([seed, SPEECH_SEED])
    lower_rng = np.random.default_rng([seed, LOWER_SEED])
    spans = talk_segments(speech_rng, talk, duration, LEAD_IN_S,
                          avoid=[(t.onset_s, t.offset_s) for kind, t in scheduled if kind == "macro"]) if talk else []

    events, warps = [], []
    for kind, timing in scheduled:
        talking = any(timing.onset_s < end and start < timing.offset_s for start, end in spans)
        lower = talking and kind == "micro" and lower_in_speech > 0 and lower_rng.random() < lower_in_speech
        event, warp = _event(scene, kind, timing, fps, rng, amplitude=amplitude, blink_scale=blink_scale,
                             upper_face=speech_rng if talking else None, lower_face=lower_rng if lower else None)
        events.append(event)
        warps.append((timing, warp))
    speech = plan_speech(scene, speech_rng, spans, busy=[(t.onset_s, t.offset_s) for _, t in scheduled],
                         clearance_s=MIN_GAP_S)

    num_frames = int(round(duration * fps))
    renderer = FaceRenderer(scene, noise_sigma=NOISE_SIGMA, rng=rng)
    center = scene.face_center
    started = time.perf_counter()
    # Same seed, same file; encoded on a second thread while the next frame renders (x264 is about half
    # of the time and releases the GIL).
    with BackgroundVideoWriter(VideoWriter(out, fps, reproducible=True)) as writer:
        active = 0
        for k in range(num_frames):
            t = k / fps
            while active < len(warps) and warps[active][0].offset_s < t:
                active += 1
            now: list[tuple[float, Deformation]] = []
            if active < len(warps) and warps[active][0].onset_s <= t:
                timing, warp = warps[active]
                now.append((float(timing.profile(t)), warp))
            now += speech.deformations(t)
            writer.write(renderer(pose=motion.pose(center, t), warps=now, light=motion.light(t)))
            if (k + 1) % max(1, num_frames // 10) == 0:
                log.info("%s: %d / %d frames (%.0f frames/s)", out.name, k + 1, num_frames,
                         (k + 1) / (time.perf_counter() - started))
    events = sorted(events + _speech_events(speech, fps), key=lambda e: (e.onset_s, e.kind))
    groundtruth = out.with_name(f"{out.stem}_groundtruth.csv")
    with groundtruth.open("w", newline="") as f:
        writer_csv = csv.writer(f)
        writer_csv.writerow(GROUNDTRUTH_COLUMNS)
        for e in events:
            row = e.row()
            writer_csv.writerow([f"{row[c]:.6f}" if c.endswith("_s") else row[c] for c in GROUNDTRUTH_COLUMNS])
    settings = {"fps": fps, "duration": duration, "micro": micro, "faces": str(faces) if faces else None,
                "seed": seed, "size": [width, height], "identity": scene.name, "face_width": scene.face_width,
                "noise_sigma": NOISE_SIGMA, "talk": talk, "amplitude": amplitude,
                "lower_in_speech": lower_in_speech, "blink_scale": blink_scale}
    out.with_name(f"{out.stem}_synth.json").write_text(
        json.dumps({"settings": settings, "events": [e.row() for e in events]}, indent=1))
    return SynthVideo(path=out, groundtruth=groundtruth, fps=fps, num_frames=num_frames, size=(width, height),
                      events=tuple(events), identity=scene.name)


def _speech_events(speech: SpeechPlan, fps: float) -> list[SynthEvent]:
    """Ground-truth rows of kind "speech": each talking segment and each conversational brow raise."""
    rows = []
    for segment in speech.segments:
        timing = Timing(segment.start_s, (segment.start_s + segment.end_s) / 2, segment.end_s)
        rows.append(_row("speech", timing, fps, "none", SPEECH_AUS, segment.widest))
    for raise_ in speech.brow_raises:
        rows.append(_row("speech", raise_.timing, fps, "none", BROW_RAISE_AUS, raise_.amplitude))
    return rows


def _row(kind: str, timing: Timing, fps: float, emotion: str, action_units: str, amplitude: float) -> SynthEvent:
    """The first and last frames where the face has moved; the apex frame nearest the apex time."""
    onset, offset = int(np.ceil(timing.onset_s * fps)), int(np.floor(timing.offset_s * fps))
    apex = min(max(int(round(timing.apex_s * fps)), onset), offset)
    return SynthEvent(kind=kind, frames=Interval(onset, apex, offset), fps=fps, emotion=emotion,
                      action_units=action_units, amplitude=amplitude)


def _event(scene: Scene, kind: str, timing: Timing, fps: float, rng: np.random.Generator, *,
           amplitude: float = 1.0, blink_scale: float = 1.0, upper_face: np.random.Generator | None = None,
           lower_face: np.random.Generator | None = None) -> tuple[SynthEvent, Deformation]:
    """One event's ground truth and movement; `amplitude` scales a micro-expression, `blink_scale` a
    blink's closure. With `upper_face` (an event inside talking), a micro-expression moving the lower
    face is drawn again from `UPPER_FACE_CHOICES` with that generator, so that `rng`'s stream stays the
    silent video's; with `lower_face` too, it is then drawn from `LOWER_FACE_CHOICES` with that one (the
    upper-face draw is still made, so that the speech drawn after it stays that of the video without
    lower-face ones)."""
    if kind == "blink":
        emotion, action_units, size = "none", BLINK_AUS, float(rng.uniform(0.8, 1.0)) * blink_scale
        warp: Deformation = blink(scene, size)
    else:
        emotion = CLASSES[int(rng.integers(len(CLASSES)))]
        action_units = str(rng.choice(EMOTIONS[emotion]))
        if kind == "micro":
            size, spread = float(rng.uniform(1.0, 3.0)) * amplitude, 1.0
            if upper_face is not None and (emotion, action_units) not in UPPER_FACE_CHOICES:
                emotion, action_units = UPPER_FACE_CHOICES[int(upper_face.integers(len(UPPER_FACE_CHOICES)))]
            if lower_face is not None:
                emotion, action_units = LOWER_FACE_CHOICES[int(lower_face.integers(len(LOWER_FACE_CHOICES)))]
        else:
            size, spread = float(rng.uniform(6.0, 12.0)), 1.4
        warp = expression_warp(scene, action_units, scene.px(size), rng, spread=spread)
    return _row(kind, timing, fps, emotion, action_units, size), warp
