"""Recorded videos through the pipeline into one folder each: what `mer-process` runs.

DIR/<video stem>/ gets events.csv, movements.csv, frames.csv, annotated.mp4, events/<n>/*.png,
then timeline.png, summary.json and report.html. Rows are written as they are found; a video
that breaks off, an error or Ctrl-C still leaves every file complete and readable, and
summary.json says whether the video was finished (`complete`), which `--resume` relies on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from realtime.apps.run import Interval, run
from realtime.capture.sources import Source, open_source
from realtime.capture.video_io import annotated_video_writer
from realtime.core.frame import DEFAULT_FPS
from realtime.pipeline.pipeline import PipelineConfig, RecognitionPipeline, Step
from realtime.pipeline.records import EngineNote, RunSummary, Sink
from realtime.sinks.overlay import OverlayHistory, draw_overlay
from realtime.sinks.run_folder import SUMMARY, RunFolder


class AnnotatedVideo:
    """annotated.mp4: every frame with the overlay, at the source's rate."""

    def __init__(self, path: Path, fps: float, *, regions: tuple[str, ...], model_note: str) -> None:
        self.video = annotated_video_writer(path, fps)
        self.history = OverlayHistory(regions, model_note=model_note)

    def write(self, step: Step) -> None:
        state = self.history.observe(step)
        if step.frame is not None:
            self.video.write(draw_overlay(step.frame.image, state))

    def close(self, summary: RunSummary) -> None:
        self.video.close()


def process_video(video: Path, out_dir: Path, *, config: PipelineConfig = PipelineConfig(), engine=None,
                  write_video: bool = True, on_frame: Callable[[int, int | None], None] | None = None,
                  ground_truth: Callable[[list[Interval]], dict] | None = None,
                  model_note: str | None = None, stop: Callable[[], bool] | None = None,
                  fps: float | None = None) -> RunSummary:
    """Process one video into out_dir/<stem>/ and return its summary (also in summary.json).

    `on_frame(done, total)` reports progress; `ground_truth(spotted intervals)` scores spotting;
    `model_note` names the classifier in the overlay, summary and report (default: its description);
    `stop()` returning True ends the video after the current frame (Ctrl-C), marked `interrupted`.
    `fps` is the rate of a folder of frames (None: its release's, else the default).
    A video that cannot be opened raises VideoError before anything is written; one that breaks
    off mid-stream keeps everything found before the break and says so in the summary.
    """
    source: Source = open_source(video, fps=fps)
    folder = out_dir / source.info.name
    (folder / SUMMARY).unlink(missing_ok=True)  # until this run ends, the folder is not "complete"
    if model_note is None:
        model_note = engine.description if engine is not None else "spotting only (no classifier)"
    with source, RecognitionPipeline(config, engine=engine, fps=source.info.fps) as pipeline:
        sinks: list[Sink] = [RunFolder(folder, classes=pipeline.classes, regions=pipeline.region_names)]
        if write_video:
            sinks.append(AnnotatedVideo(folder / "annotated.mp4", source.info.fps or DEFAULT_FPS,
                                        regions=pipeline.region_names, model_note=model_note))
        return run(source, pipeline, sinks, label=str(video), engine=EngineNote(model_note, pipeline.classes),
                   stop=stop, on_frame=on_frame, score=ground_truth)
