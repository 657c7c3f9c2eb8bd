"""`mer-live`: micro-expressions from a camera as they happen, with an on-screen overlay."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realtime.apps.live import LiveOptions, LiveSession
from realtime.capture.sources import CameraConfig
from realtime.cli.common import load_engine
from realtime.cli.process import ApexSamplesOpt, SpotOnlyOpt, check_spot_only, pipeline_config
from realtime.core.console import (StopRequest, VerboseOpt, console, error_line, fail, make_app, results, setup_logging,
                                   user_errors)

app = make_app(__doc__, examples=[
    "mer-live --camera 0 --engine engine/                # the first camera, with a classifier",
    "mer-live --camera 0 --fps 100 --record session.mp4  # a high-frame-rate camera, recorded",
    "mer-live --camera interview.mp4 --headless          # a file played as a camera, events printed",
])


def parse_camera(value: str) -> int | Path:
    """A camera index (0, 1, ...) or a video file played at its own rate."""
    return int(value) if value.isdigit() else Path(value)


def print_line(text: str) -> None:
    """An event, to stdout (a result), at once."""
    results.print(text, highlight=False, soft_wrap=True)


@app.command(epilog=app.info.epilog)
def main(
    camera: Annotated[str, typer.Option(help="Camera index (0 = first camera), or a video file played at "
                                             "its own rate as if it were a camera.")],
    engine_path: Annotated[Path | None, typer.Option(
        "--engine", help="Engine folder (mer-build-engine) or model.pt. Without it only spotting runs.")] = None,
    spot_only: SpotOnlyOpt = False,
    apex_samples: ApexSamplesOpt = 1,
    face: Annotated[str, typer.Option(help="largest, left, right, or a face index from the left.")] = "largest",
    record: Annotated[Path | None, typer.Option(
        help="Record the annotated stream (H.264) here; a <name>_session/ folder with the events, their "
             "evidence and report.html goes beside it.")] = None,
    events: Annotated[Path | None, typer.Option(
        help="Append each labelled event to this CSV (events.csv columns), flushed per event.")] = None,
    headless: Annotated[bool, typer.Option(
        "--headless", help="No window; each micro-expression is printed as it comes (time, label, confidence).")] = False,
    width: Annotated[int, typer.Option(help="Requested capture width.")] = 640,
    height: Annotated[int, typer.Option(help="Requested capture height.")] = 480,
    fps: Annotated[float, typer.Option(help="Requested capture rate (high-frame-rate cameras: 100-200).")] = 30.0,
    buffer_frames: Annotated[int, typer.Option(
        help="Frames held for a slow consumer before the oldest is dropped: more drops fewer frames "
             "but shows them later.")] = 8,
    threads: Annotated[int, typer.Option(help="CPU threads for the classifier.")] = 1,
    verbose: VerboseOpt = False,
) -> None:
    """Watch a camera for micro-expressions.

    Keys in the window: q quit, p pause, r toggle recording, h help. Capture runs on its own
    thread and never waits for classification; dropped frames are counted on screen.
    """
    setup_logging(verbose)
    for name, value in (("--width", width), ("--height", height), ("--fps", fps), ("--buffer-frames", buffer_frames),
                        ("--threads", threads)):
        if not value > 0:
            fail(f"{name} must be greater than 0, got {value:g}")
    with user_errors():
        check_spot_only(spot_only, engine_path)
        config = pipeline_config(face, apex_samples)
        engine = note = None
        if engine_path is not None:
            engine, note = load_engine(engine_path, threads, config.align)
        console.print(f"classifier: {note or 'none (spotting only)'}")
        options = LiveOptions(record=record, events=events, headless=headless,
                              camera=CameraConfig(width=width, height=height, fps=fps,
                                                  queue_frames=buffer_frames))
        try:
            with StopRequest() as stop:
                summary = LiveSession(parse_camera(camera), config=config, engine=engine, options=options,
                                      model_note=note, print_event=print_line if headless else None).run(stop)
        finally:
            if engine is not None:
                engine.close()
    latency = summary.label_latency_ms_p50
    console.print(f"{summary.frames} frames at {summary.processing_fps} fps, {summary.dropped_frames} dropped"
                  + (f"; label latency p50 {latency:.1f} ms, p95 {summary.label_latency_ms_p95:.1f} ms"
                     if latency is not None else ""))
    if summary.error:
        error_line(summary.error)
        raise typer.Exit(1)
