"""`mer-live`: micro-expressions from a camera as they happen, with an on-screen overlay."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realtime.apps.live import LiveOptions, LiveSession
from realtime.capture.sources import CameraConfig
from realtime.cli.demo import engine_note
from realtime.cli.process import SpotOnlyOpt, check_spot_only, parse_face
from realtime.core.console import StopRequest, console, error_line, setup_logging, user_errors
from realtime.face.aligner import AlignConfig
from realtime.pipeline.pipeline import PipelineConfig

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


def parse_camera(value: str) -> int | Path:
    """A camera index (0, 1, ...) or a video file played at its own rate."""
    return int(value) if value.isdigit() else Path(value)


@app.command()
def main(
    camera: Annotated[str, typer.Option(help="Camera index (0 = first camera), or a video file played at "
                                             "its own rate as if it were a camera.")],
    engine_path: Annotated[Path | None, typer.Option(
        "--engine", help="Engine folder (mer-build-engine) or model.pt. Without it only spotting runs.")] = None,
    spot_only: SpotOnlyOpt = False,
    face: Annotated[str, typer.Option(help="largest, left, right, or a face index from the left.")] = "largest",
    record: Annotated[Path | None, typer.Option(
        help="Record the annotated stream (H.264) here; a <name>_session/ folder with the events, their "
             "evidence and report.html goes beside it.")] = None,
    events: Annotated[Path | None, typer.Option(
        help="Append each labelled event to this CSV (events.csv columns), flushed per event.")] = None,
    headless: Annotated[bool, typer.Option("--headless", help="No window.")] = False,
    width: Annotated[int, typer.Option(help="Requested capture width.")] = 640,
    height: Annotated[int, typer.Option(help="Requested capture height.")] = 480,
    fps: Annotated[float, typer.Option(help="Requested capture rate (high-frame-rate cameras: 100-200).")] = 30.0,
    buffer_frames: Annotated[int, typer.Option(
        help="Frames held for a slow consumer before the oldest is dropped: more drops fewer frames "
             "but shows them later.")] = 8,
    threads: Annotated[int, typer.Option(help="CPU threads for the classifier.")] = 1,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Watch a camera for micro-expressions.

    Keys in the window: q quit, p pause, r toggle recording, h help. Capture runs on its own
    thread and never waits for classification; dropped frames are counted on screen.
    """
    setup_logging(verbose)
    with user_errors():
        check_spot_only(spot_only, engine_path)
        engine = None
        if engine_path is not None:
            from engines import load

            engine = load(engine_path, threads=threads)
        config = PipelineConfig(align=AlignConfig(face=parse_face(face)))
        options = LiveOptions(record=record, events=events, headless=headless,
                              camera=CameraConfig(width=width, height=height, fps=fps,
                                                  queue_frames=buffer_frames))
        try:
            note = engine_note(engine_path, engine) if engine is not None else None
            with StopRequest() as stop:
                summary = LiveSession(parse_camera(camera), config=config, engine=engine, options=options,
                                      model_note=note).run(stop)
        finally:
            if engine is not None:
                engine.close()
    latency = summary["label_latency_ms_p50"]
    console.print(f"{summary['frames']} frames at {summary['fps']} fps, {summary['dropped_frames']} dropped"
                  + (f"; label latency p50 {latency:.1f} ms, p95 {summary['label_latency_ms_p95']:.1f} ms"
                     if latency is not None else ""))
    if summary["error"]:
        error_line(summary["error"])
        raise typer.Exit(1)
