"""The on-screen overlay, drawn the same way into the live window and into annotated.mp4.

The picture is left as it is (only an outline around the tracked face); text and motion traces
go in a band added below it, so that nothing ever covers the face (mouth and chin included).

Stateless: the pipeline keeps the history (motion traces, recent events) in an `OverlayState`
and `draw_overlay` paints it onto a copy of the frame (the band's steady parts come from a cache
keyed by what they show). Colours are RGB (frames are RGB).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from realtime.pipeline.pipeline import Step

FONT = cv2.FONT_HERSHEY_SIMPLEX
GREEN = (60, 220, 60)
GREY = (160, 160, 160)
WHITE = (255, 255, 255)
RED = (235, 60, 60)
YELLOW = (250, 220, 40)
TRACE_COLOURS = ((255, 99, 71), (65, 105, 225), (50, 205, 50), (238, 130, 238), (255, 215, 0),
                 (0, 206, 209), (255, 140, 0), (186, 85, 211), (154, 205, 50), (240, 128, 128))
HELP_LINE = "q quit   p pause   r record   h help"


@dataclass(frozen=True)
class OverlayEvent:
    """One labelled micro-expression as the overlay lists it."""

    event: int
    t_s: float  # apex time
    label: str
    confidence: float | None


@dataclass(frozen=True)
class OverlayState:
    """Everything the overlay shows for one frame."""

    t_s: float
    face_box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 of the tracked face
    face_confidence: float = 0.0
    motion: Mapping[str, Sequence[float]] = field(default_factory=dict)  # region -> recent values, oldest first
    motion_scale: float = 1.0  # motion value drawn at full trace height
    spotter_state: str = ""
    events: Sequence[OverlayEvent] = ()  # most recent last
    fps: float | None = None
    dropped_frames: int = 0
    latency_ms: float | None = None  # event closed -> label shown
    recording: bool = False
    paused: bool = False
    model_note: str = ""  # e.g. "synthetic demo model"
    show_help: bool = False


def _text(image: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int] = WHITE,
          scale: float = 0.45) -> None:
    cv2.putText(image, text, org, FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)  # outline for any background
    cv2.putText(image, text, org, FONT, scale, colour, 1, cv2.LINE_AA)


MIN_WIDTH = 640  # narrower frames are enlarged first, so that the overlay's text stays legible
LINE_PX = 18  # one text row of the band
TEXT_ROWS = 4  # status, spotter and face, the latest events (two to a row), model and keys
BASELINES = tuple(LINE_PX * (k + 1) - 3 for k in range(TEXT_ROWS))  # y px of each text row in the band
LABEL_WIDTH = 84  # px left of the traces for the lanes' names

Text = tuple[str, tuple[int, int], tuple[int, int, int], float]  # what, where (baseline's left end), colour, scale


def _lanes(top: int, height: int, lanes: int) -> tuple[float, list[float]]:
    """Each trace lane's height and the y px its values rise from, top to bottom."""
    if not lanes:
        return 0.0, []
    lane = height / lanes
    return lane, [top + (i + 1) * lane - 1 for i in range(lanes)]


def _steady_texts(state: OverlayState, width: int) -> tuple[Text, ...]:
    """The band's text that stays the same over many frames: the spotter's state and the face's
    score, the latest events, the model and the keys (the first row, with the time, is per frame)."""
    found = state.face_box is not None
    face = f"face {state.face_confidence:.2f}" if found else "no face"
    texts: list[Text] = [(f"spotter: {state.spotter_state}", (6, BASELINES[1]), YELLOW, 0.5),
                         (face, (width - 8 - 8 * len(face), BASELINES[1]), GREEN if found else RED, 0.45)]
    for k, event in enumerate(reversed(list(state.events)[-2:])):
        confidence = "" if event.confidence is None else f" {event.confidence:.2f}"
        texts.append((f"#{event.event} {event.t_s:6.2f}s {event.label}{confidence}", (6 + k * (width // 2),
                      BASELINES[2]), RED, 0.5))
    if state.model_note:
        texts.append((state.model_note[: max(8, (width - 300) // 6)], (6, BASELINES[3]), GREY, 0.4))
    if state.show_help:
        texts.append((HELP_LINE, (width - 8 - 7 * len(HELP_LINE), BASELINES[3]), GREY, 0.4))
    return tuple(texts)


@lru_cache(maxsize=16)
def _band_background(width: int, top: int, height: int, regions: tuple[str, ...],
                     texts: tuple[Text, ...]) -> np.ndarray:
    """The band below the picture as far as it stays the same from frame to frame: the steady text
    rows and each trace lane's name, drawn once for as long as they hold. Anti-aliased text with an
    outline is the overlay's dearest part: redrawn on every frame, these took a third of its time
    (3.9 against 2.5 ms a 640x480 frame)."""
    band = np.zeros((top + height, width, 3), np.uint8)
    for text, org, colour, scale in texts:
        _text(band, text, org, colour, scale)
    lane, floors = _lanes(top, height, len(regions))
    for i, (region, base) in enumerate(zip(regions, floors)):
        cv2.putText(band, region, (3, int(base - lane / 2 + 4)), FONT, 0.33,
                    TRACE_COLOURS[i % len(TRACE_COLOURS)], 1, cv2.LINE_AA)
    band.flags.writeable = False
    return band


def _traces(band: np.ndarray, state: OverlayState, top: int, height: int) -> None:
    """A scrolling motion trace per facial region, each in its own lane (named by `_band_background`).

    Square-root scaled, so that a micro-expression's few px/s stay visible beside a
    macro-expression's tens. A frame without a value (face lost, region covered) is a gap.
    """
    width = band.shape[1]
    if not state.motion:
        return
    lane, floors = _lanes(top, height, len(state.motion))
    points = max(2, (width - LABEL_WIDTH) // 2)
    for i, (values, base) in enumerate(zip(state.motion.values(), floors)):
        colour = TRACE_COLOURS[i % len(TRACE_COLOURS)]
        if len(values) < 2:
            continue
        v = np.sqrt(np.clip(np.asarray(values, np.float32) / max(state.motion_scale, 1e-6), 0, 1))  # NaN stays NaN
        if len(v) > points:  # high frame rates: one point per 2 px, each the peak of its span (NaN if any is)
            v = np.maximum.reduceat(v, np.linspace(0, len(v), points, endpoint=False).astype(np.intp))
        xs = np.linspace(LABEL_WIDTH, width - 1, len(v))
        ys = base - v * (lane * 1.6 - 2)  # may reach into the lane above: peaks stand out
        known = ~np.isnan(ys)
        runs = np.split(np.arange(len(v)), np.flatnonzero(np.diff(known.astype(np.int8))) + 1)
        lines = [np.stack([xs[r], ys[r]], axis=1).astype(np.int32) for r in runs if known[r[0]] and len(r) > 1]
        if lines:
            cv2.polylines(band, lines, False, colour, 2, cv2.LINE_8)  # AA: 4x the time


def draw_overlay(image: np.ndarray, state: OverlayState, *, trace_height: int = 132) -> np.ndarray:
    """(H, W, 3) RGB uint8 frame -> a new, taller frame: the picture untouched but for the face's
    outline, and below it a band with the text and the motion traces (at least MIN_WIDTH wide).
    Nothing is ever drawn across the face."""
    scale = max(1, -(-MIN_WIDTH // image.shape[1]))  # ceil: an integer factor keeps pixels square
    picture = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR) if scale > 1 else image
    height, width = picture.shape[:2]
    text_height = TEXT_ROWS * LINE_PX + 6
    out = np.empty((height + text_height + trace_height, width, 3), np.uint8)
    out[:height] = picture
    out[height:] = _band_background(width, text_height, trace_height, tuple(state.motion), _steady_texts(state, width))
    if state.face_box is not None:
        x0, y0, x1, y1 = (int(round(v * scale)) for v in state.face_box)
        cv2.rectangle(out, (x0 - 2, y0 - 2), (x1 + 2, min(y1 + 2, height - 1)), GREEN, 1)  # around it, not on it
    if state.recording:
        cv2.circle(out, (width - 14, 14), 6, RED, -1)  # a corner of the picture
    band = out[height:]
    status = [f"t {state.t_s:7.2f}s"]
    if state.fps is not None:
        status.append(f"{state.fps:5.1f} fps")
    status.append(f"dropped {state.dropped_frames}")
    if state.latency_ms is not None:
        status.append(f"label latency {state.latency_ms:.0f} ms")
    if state.recording:
        status.append("REC")
    if state.paused:
        status.append("PAUSED")
    _text(band, "  ".join(status), (6, BASELINES[0]))
    _traces(band, state, text_height, trace_height)
    return out


class OverlayHistory:
    """Keeps what the overlay scrolls and lists (motion traces, recent events, fps) across frames."""

    def __init__(self, regions: Sequence[str], *, trace_s: float = 6.0, fps_window: int = 60,
                 model_note: str = "", motion_scale: float = 30.0, show_help: bool = False) -> None:
        self._trace_s = trace_s
        self._motion: dict[str, deque[float]] = {r: deque() for r in regions}
        self._times: deque[float] = deque()
        self._clock: deque[float] = deque(maxlen=fps_window)  # wall-clock times of recent frames
        self._events: deque[OverlayEvent] = deque(maxlen=8)
        self._latency_ms: float | None = None
        self._model_note = model_note
        self._motion_scale = motion_scale  # region speed (aligned px/s) drawn at full trace height
        self._show_help = show_help  # the key help line, for the live window only

    def add_event(self, event: OverlayEvent, latency_ms: float | None) -> None:
        self._events.append(event)
        if latency_ms is not None:
            self._latency_ms = latency_ms

    def observe(self, step: Step, *, dropped_frames: int = 0, recording: bool = False,
                paused: bool = False) -> OverlayState:
        """Take one pipeline step (a frame, its face, motion and finished events) into the history."""
        for event in step.finished:
            self.add_event(OverlayEvent(event.event, event.spot.apex_s, event.label or "micro", event.confidence),
                           event.latency_ms)
        face = step.face
        found = face is not None and face.found
        seen = step.motion is not None and step.motion.found
        regions = {r: (v if r not in step.covered else float("nan")) for r, v in step.motion.regions.items()} \
            if seen else {}
        return self.update(step.frame.t_s if step.frame is not None else 0.0, regions,
                           face_box=face.box if found else None, face_confidence=face.confidence if found else 0.0,
                           spotter_state=step.spotter_state, dropped_frames=dropped_frames, recording=recording,
                           paused=paused)

    def update(self, t_s: float, regions: Mapping[str, float], *, face_box: tuple[float, float, float, float] | None,
               face_confidence: float, spotter_state: str, dropped_frames: int = 0, recording: bool = False,
               paused: bool = False) -> OverlayState:
        self._times.append(t_s)
        for name, values in self._motion.items():
            values.append(float(regions.get(name, float("nan"))))  # no value: a gap in the trace
        while self._times and self._times[0] < t_s - self._trace_s:
            self._times.popleft()
            for values in self._motion.values():
                values.popleft()
        self._clock.append(time.monotonic())
        fps = (len(self._clock) - 1) / (self._clock[-1] - self._clock[0]) if len(self._clock) > 1 and \
            self._clock[-1] > self._clock[0] else None
        return OverlayState(t_s=t_s, face_box=face_box, face_confidence=face_confidence, motion=self._motion,
                            motion_scale=self._motion_scale, spotter_state=spotter_state, events=tuple(self._events),
                            fps=fps, dropped_frames=dropped_frames, latency_ms=self._latency_ms,
                            recording=recording, paused=paused, model_note=self._model_note,
                            show_help=self._show_help)
