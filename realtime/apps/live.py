"""A live session: camera -> pipeline -> window, recording, events file and session report.

The camera is read on its own thread (realtime.capture.sources.CameraSource), faces are aligned on the
pipeline's second thread and classification runs on its worker, so this loop only spots, draws
and shows. Every output is closed complete when the session ends for any reason: a key, Ctrl-C,
or a camera that disappears.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2

from realtime.capture.sources import CameraConfig, CameraSource
from realtime.capture.video_io import VideoWriter
from realtime.core.errors import VideoError
from realtime.core.frame import DEFAULT_FPS, Frame
from realtime.pipeline.pipeline import PipelineConfig, RecognitionPipeline, Step
from realtime.sinks.csv_stream import CsvStream
from realtime.sinks.overlay import OverlayHistory, draw_overlay
from realtime.sinks.run_folder import EVENT_COLUMNS, RunFolder, percentile

log = logging.getLogger(__name__)

WINDOW = "mer-live"
DISPLAY_HZ = 60.0  # a 200 fps camera is analysed frame by frame, but no screen shows 200 fps


@dataclass(frozen=True)
class LiveOptions:
    """What the user asked of the session (the command-line options)."""

    record: Path | None = None  # annotated H.264 recording; its report folder goes beside it
    events: Path | None = None  # events appended as they are labelled, flushed per event
    headless: bool = False  # no window (servers, tests)
    camera: CameraConfig = CameraConfig()


class Recording:
    """The annotated stream plus, beside it, the session folder with its report (toggled by 'r')."""

    def __init__(self, path: Path, fps: float, *, classes: tuple[str, ...], regions: tuple[str, ...]) -> None:
        self.path = path
        self.video = VideoWriter(path, fps, preset="veryfast")
        self.folder = RunFolder(path.with_name(f"{path.stem}_session"), classes=classes, regions=regions)

    def close(self, summary: dict) -> None:
        self.video.close()
        self.folder.close()
        self.folder.finalise({**summary, "recording": str(self.path)})


class LiveSession:
    """Runs one session until the stream ends or the user quits; `run()` returns its summary."""

    def __init__(self, camera: int | str | Path, *, config: PipelineConfig = PipelineConfig(), engine=None,
                 options: LiveOptions = LiveOptions(), model_note: str | None = None) -> None:
        self.camera = camera
        self.model_note = model_note or (engine.description if engine is not None else "spotting only")
        self.config = config
        self.engine = engine
        self.options = options
        self.recording_on = options.record is not None
        self.paused = False
        self.latencies_ms: list[float] = []  # event closed by the spotter -> its label on screen
        self._closed_at: dict[int, float] = {}

    def _key(self, key: int, recording: Recording | None, start_recording) -> tuple[bool, Recording | None]:
        """Handle one key press; returns (quit, recording)."""
        if key in (ord("q"), 27):
            return True, recording
        if key == ord("p"):
            self.paused = not self.paused
        elif key == ord("r"):
            if recording is None:
                recording = start_recording(Path(f"mer-live-{datetime.now():%Y%m%d-%H%M%S}.mp4"))
            self.recording_on = not self.recording_on if recording is not None else False
        return False, recording

    def run(self, stop: Callable[[], bool] | None = None) -> dict:
        """Until the stream ends, the user quits, or `stop()` says so (Ctrl-C)."""
        opts = self.options
        summary: dict = {"source": str(self.camera), "complete": False, "error": None,
                         "engine": {"description": self.model_note}}
        frames = 0
        started = time.monotonic()
        with ExitStack() as stack:
            source = stack.enter_context(CameraSource(self.camera, opts.camera))
            pipeline = stack.enter_context(RecognitionPipeline(self.config, engine=self.engine, fps=source.info.fps))
            fps = source.info.fps or DEFAULT_FPS
            history = OverlayHistory(pipeline.region_names, model_note=summary["engine"]["description"],
                                     show_help=not opts.headless)
            events_file = None
            if opts.events is not None:
                events_file = stack.enter_context(CsvStream(opts.events, [*EVENT_COLUMNS,
                                                                        *(f"prob_{c}" for c in pipeline.classes)]))
            recording: Recording | None = None

            def start_recording(path: Path) -> Recording:
                log.info("recording to %s", path)
                return Recording(path, fps, classes=pipeline.classes, regions=pipeline.region_names)

            if opts.record is not None:
                recording = start_recording(opts.record)
            if not opts.headless:
                cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE)
                stack.callback(cv2.destroyAllWindows)

            last_shown = -math.inf

            def show(step: Step) -> bool:
                """Draw, show, write; returns True when the user quits. The window is redrawn at
                most DISPLAY_HZ times a second, and always for a frame that brings a label."""
                nonlocal recording, last_shown
                for closed in step.closed:
                    self._closed_at[closed.event.event] = closed.closed_at
                recording_on = recording is not None and self.recording_on
                state = history.observe(step, dropped_frames=source.dropped_frames, recording=recording_on,
                                        paused=self.paused)
                display = not opts.headless and step.frame is not None and (
                    bool(step.finished) or time.monotonic() - last_shown >= 1 / DISPLAY_HZ)
                drawn = step.frame is not None and (display or recording_on)
                image = draw_overlay(step.frame.image, state) if drawn else None
                quit_now = False
                if display:
                    cv2.imshow(WINDOW, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                    quit_now, recording = self._key(cv2.waitKey(1) & 0xFF, recording, start_recording)
                    last_shown = time.monotonic()
                shown = time.monotonic()
                for event in step.finished:  # on screen now: that is the latency the user sees
                    closed_at = self._closed_at.pop(event.event, None)
                    if closed_at is not None and event.label is not None:
                        self.latencies_ms.append(1000 * (shown - closed_at))
                    if events_file is not None:
                        events_file.write(event.row(pipeline.classes))
                if recording is not None and self.recording_on:
                    recording.folder.write(step)
                    if image is not None:
                        recording.video.write(image)
                return quit_now

            def unpaused() -> Iterator[Frame]:
                """The camera's frames, less those that come while paused; ends on quit or stop()."""
                nonlocal recording, frames
                for frame in source:
                    if stop is not None and stop():
                        return
                    if self.paused:
                        quit_now, recording = self._key(cv2.waitKey(30) & 0xFF, recording, start_recording)
                        if quit_now:
                            return
                        continue
                    frames += 1
                    yield frame

            try:
                for step in pipeline.stream(unpaused(), ready=source.ready):
                    if show(step):
                        break
                summary["complete"] = True
            except VideoError as exc:
                log.error("%s", exc)
                summary["error"] = str(exc)
            finally:
                show(pipeline.finish())
                elapsed = time.monotonic() - started
                summary.update({"frames": frames, "dropped_frames": source.dropped_frames,
                                "fps": round(frames / elapsed, 2) if elapsed > 0 else None,
                                "classifier_fell_behind": pipeline.fell_behind,
                                "label_latency_ms_p50": percentile(self.latencies_ms, 50),
                                "label_latency_ms_p95": percentile(self.latencies_ms, 95)})
                if recording is not None:
                    recording.close(summary)
        return summary

