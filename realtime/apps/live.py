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
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import cv2

from realtime.apps.run import run
from realtime.capture.sources import CameraConfig, CameraSource, Source
from realtime.capture.video_io import annotated_video_writer
from realtime.core.frame import DEFAULT_FPS, Frame
from realtime.pipeline.pipeline import PipelineConfig, RecognitionPipeline, Step
from realtime.pipeline.records import EngineNote, RunSummary, Sink
from realtime.sinks.csv_stream import CsvStream
from realtime.sinks.overlay import OverlayHistory, draw_overlay
from realtime.sinks.run_folder import EVENT_COLUMNS, RunFolder

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
        log.info("recording to %s", path)
        self.path = path
        self.video = annotated_video_writer(path, fps)
        self.folder = RunFolder(path.with_name(f"{path.stem}_session"), classes=classes, regions=regions)

    def close(self, summary: RunSummary) -> None:
        self.video.close()
        self.folder.close(replace(summary, extra={**summary.extra, "recording": str(self.path)}))


class Controls:
    """The session's switches, set by keys in the window: pause, recording on/off, quit."""

    def __init__(self, start_recording: Callable[[Path], Recording], recording: Recording | None) -> None:
        self.start_recording = start_recording
        self.recording = recording
        self.recording_on = recording is not None
        self.paused = False

    @property
    def recording_now(self) -> Recording | None:
        return self.recording if self.recording_on else None

    def key(self, key: int) -> bool:
        """Handle one key press; True to quit."""
        if key in (ord("q"), 27):
            return True
        if key == ord("p"):
            self.paused = not self.paused
        elif key == ord("r"):
            if self.recording is None:
                self.recording = self.start_recording(Path(f"mer-live-{datetime.now():%Y%m%d-%H%M%S}.mp4"))
            self.recording_on = not self.recording_on
        return False


class PausableSource(Source):
    """The camera's frames, less those that come while paused (keys are still read then)."""

    def __init__(self, camera: CameraSource, controls: Controls, *, window: bool) -> None:
        self.camera = camera
        self.info = camera.info
        self.controls = controls
        self.window = window
        self.quit = False

    @property
    def dropped_frames(self) -> int:  # type: ignore[override]
        return self.camera.dropped_frames

    def ready(self) -> bool:
        return self.camera.ready()

    def __iter__(self) -> Iterator[Frame]:
        for frame in self.camera:
            if self.controls.paused:
                if self.window and self.controls.key(cv2.waitKey(30) & 0xFF):
                    self.quit = True
                    return
                continue
            yield frame


class LiveScreen:
    """The window (at most DISPLAY_HZ redraws a second, always for a frame that brings a label)
    and the recording, both drawn from one overlay history."""

    def __init__(self, source: PausableSource, controls: Controls, history: OverlayHistory, *, window: bool) -> None:
        self.source = source
        self.controls = controls
        self.history = history
        self.window = window
        self.last_shown = -math.inf

    def write(self, step: Step) -> bool:
        recording = self.controls.recording_now
        state = self.history.observe(step, dropped_frames=self.source.dropped_frames, recording=recording is not None,
                                     paused=self.controls.paused)
        display = self.window and step.frame is not None and (
            bool(step.finished) or time.monotonic() - self.last_shown >= 1 / DISPLAY_HZ)
        image = draw_overlay(step.frame.image, state) if step.frame is not None and (display or recording) else None
        quit_now = False
        if display:
            cv2.imshow(WINDOW, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            quit_now = self.controls.key(cv2.waitKey(1) & 0xFF)
            self.last_shown = time.monotonic()
        if recording is not None:
            recording.folder.write(step)
            if image is not None:
                recording.video.write(image)
        return quit_now

    def close(self, summary: RunSummary) -> None:
        if self.controls.recording is not None:
            self.controls.recording.close(summary)


class EventsFile:
    """--events: each labelled event appended to a CSV, flushed per event."""

    def __init__(self, path: Path, classes: tuple[str, ...]) -> None:
        self.classes = classes
        self.stream = CsvStream(path, [*EVENT_COLUMNS, *(f"prob_{c}" for c in classes)])

    def write(self, step: Step) -> None:
        for event in step.finished:
            self.stream.write(event.row(self.classes))

    def close(self, summary: RunSummary) -> None:
        self.stream.close()


class EventPrinter:
    """--headless: each micro-expression as it is labelled, one line on `out` (time, label, confidence)."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out

    def write(self, step: Step) -> None:
        for event in step.finished:
            spot = event.spot
            what = (f"{event.label} ({event.confidence:.2f})" if event.label is not None
                    else f"unlabelled ({event.error})" if event.error else "spotted (no classifier)")
            self.out(f"{spot.apex_s:8.2f} s  micro-expression #{event.event}: {what}  "
                     f"[{spot.onset_s:.2f}-{spot.offset_s:.2f} s]")

    def close(self, summary: RunSummary) -> None:
        """Nothing held."""


class LiveSession:
    """Runs one session until the stream ends or the user quits; `run()` returns its summary."""

    def __init__(self, camera: int | str | Path, *, config: PipelineConfig = PipelineConfig(), engine=None,
                 options: LiveOptions = LiveOptions(), model_note: str | None = None,
                 print_event: Callable[[str], None] | None = None) -> None:
        self.camera = camera
        self.print_event = print_event  # where --headless prints each event as it comes
        self.model_note = model_note or (engine.description if engine is not None else "spotting only")
        self.config = config
        self.engine = engine
        self.options = options

    def run(self, stop: Callable[[], bool] | None = None) -> RunSummary:
        """Until the stream ends, the user quits, or `stop()` says so (Ctrl-C)."""
        opts = self.options
        window = not opts.headless
        with ExitStack() as stack:
            camera = stack.enter_context(CameraSource(self.camera, opts.camera))
            pipeline = stack.enter_context(RecognitionPipeline(self.config, engine=self.engine, fps=camera.info.fps))
            fps = camera.info.fps or DEFAULT_FPS

            def start_recording(path: Path) -> Recording:
                return Recording(path, fps, classes=pipeline.classes, regions=pipeline.region_names)

            controls = Controls(start_recording, start_recording(opts.record) if opts.record is not None else None)
            source = PausableSource(camera, controls, window=window)
            history = OverlayHistory(pipeline.region_names, model_note=self.model_note, show_help=window)
            sinks: list[Sink] = [LiveScreen(source, controls, history, window=window)]
            if opts.events is not None:
                sinks.append(EventsFile(opts.events, pipeline.classes))
            if self.print_event is not None:
                sinks.append(EventPrinter(self.print_event))
            if window:
                cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE)
                stack.callback(cv2.destroyAllWindows)
            return run(source, pipeline, sinks, label=str(self.camera),
                       engine=EngineNote(self.model_note, pipeline.classes), stop=stop)
