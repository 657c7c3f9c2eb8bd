"""The on-screen overlay, drawn the same way into the live window and into annotated.mp4.

Stateless: the pipeline keeps the history (motion traces, recent events) in an `OverlayState`
and `draw_overlay` paints it onto a copy of the frame. Colours are RGB (frames are RGB).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


def _traces(image: np.ndarray, state: OverlayState, top: int, height: int) -> None:
    """A scrolling motion trace per facial region, each in its own lane with its name.

    Square-root scaled, so that a micro-expression's few px/s stay visible beside a
    macro-expression's tens.
    """
    width = image.shape[1]
    panel = image[top:top + height]
    panel[:] = (panel * 0.35).astype(np.uint8)  # darken so the traces read on any face
    regions = list(state.motion.items())
    if not regions:
        return
    lane = height / len(regions)
    label_width = 84
    points = max(2, (width - label_width) // 2)
    for i, (region, values) in enumerate(regions):
        colour = TRACE_COLOURS[i % len(TRACE_COLOURS)]
        base = top + (i + 1) * lane - 1  # lane floor, y px
        cv2.putText(image, region, (3, int(base - lane / 2 + 4)), FONT, 0.33, colour, 1, cv2.LINE_AA)  # panel is dark
        if len(values) < 2:
            continue
        v = np.sqrt(np.clip(np.asarray(values, np.float32) / max(state.motion_scale, 1e-6), 0, 1))
        if len(v) > points:  # high frame rates: one point per 2 px, each the peak of its span
            v = np.maximum.reduceat(v, np.linspace(0, len(v), points, endpoint=False).astype(np.intp))
        xs = np.linspace(label_width, width - 1, len(v))
        ys = base - v * (lane * 1.6 - 2)  # may reach into the lane above: peaks stand out
        cv2.polylines(image, [np.stack([xs, ys], axis=1).astype(np.int32)], False, colour, 2, cv2.LINE_8)  # AA: 4x the time


MIN_WIDTH = 640  # narrower frames are enlarged first, so that the overlay's text stays legible


def draw_overlay(image: np.ndarray, state: OverlayState, *, trace_height: int = 132) -> np.ndarray:
    """(H, W, 3) RGB uint8 frame -> a new frame with the overlay (at least MIN_WIDTH wide)."""
    scale = max(1, -(-MIN_WIDTH // image.shape[1]))  # ceil: an integer factor keeps pixels square
    out = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR) if scale > 1 else image.copy()
    height, width = out.shape[:2]
    if state.face_box is not None:
        x0, y0, x1, y1 = (int(round(v * scale)) for v in state.face_box)
        cv2.rectangle(out, (x0, y0), (x1, y1), GREEN, 2)
        _text(out, f"face {state.face_confidence:.2f}", (x0, max(12, y0 - 6)), GREEN)
    status = [f"t {state.t_s:7.2f}s"]
    if state.fps is not None:
        status.append(f"{state.fps:5.1f} fps")
    status.append(f"dropped {state.dropped_frames}")
    if state.latency_ms is not None:
        status.append(f"label latency {state.latency_ms:.0f} ms")
    _text(out, "  ".join(status), (6, 16))
    _text(out, f"spotter: {state.spotter_state}", (6, 34), YELLOW)
    if state.recording:
        cv2.circle(out, (width - 14, 14), 6, RED, -1)
        _text(out, "REC", (width - 52, 19), RED)
    if state.paused:
        _text(out, "PAUSED", (width // 2 - 30, 20), RED, 0.6)
    for row, event in enumerate(reversed(list(state.events)[-4:])):
        confidence = "" if event.confidence is None else f" {event.confidence:.2f}"
        _text(out, f"#{event.event} {event.t_s:6.2f}s {event.label}{confidence}", (6, 54 + 18 * row), RED, 0.5)
    if state.model_note:  # its own line, above the key help
        _text(out, state.model_note[: max(8, width // 7)], (6, height - trace_height - 28), GREY, 0.4)
    _traces(out, state, height - trace_height, trace_height)
    if state.show_help:
        _text(out, HELP_LINE, (width - 8 - 7 * len(HELP_LINE), height - trace_height - 10), GREY, 0.4)
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
        return self.update(step.frame.t_s if step.frame is not None else 0.0,
                           step.motion.regions if step.motion is not None else {},
                           face_box=face.box if found else None, face_confidence=face.confidence if found else 0.0,
                           spotter_state=step.spotter_state, dropped_frames=dropped_frames, recording=recording,
                           paused=paused)

    def update(self, t_s: float, regions: Mapping[str, float], *, face_box: tuple[float, float, float, float] | None,
               face_confidence: float, spotter_state: str, dropped_frames: int = 0, recording: bool = False,
               paused: bool = False) -> OverlayState:
        self._times.append(t_s)
        for name, values in self._motion.items():
            values.append(float(regions.get(name, 0.0)))
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
