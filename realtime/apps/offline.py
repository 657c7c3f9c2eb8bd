"""Recorded videos through the pipeline into one folder each: what `mer-process` runs.

DIR/<video stem>/ gets events.csv, movements.csv, frames.csv, annotated.mp4, events/<n>/*.png,
then timeline.png, summary.json and report.html. Rows are written as they are found; a video
that breaks off, an error or Ctrl-C still leaves every file complete and readable, and
summary.json says whether the video was finished (`complete`), which `--resume` relies on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from realtime.capture.sources import Source, open_source
from realtime.capture.video_io import VideoWriter
from realtime.core.errors import VideoError
from realtime.core.frame import DEFAULT_FPS
from realtime.pipeline.pipeline import PipelineConfig, RecognitionPipeline, Step
from realtime.sinks.overlay import OverlayHistory, draw_overlay
from realtime.sinks.run_folder import SUMMARY, RunFolder, percentile

log = logging.getLogger(__name__)


def process_video(video: Path, out_dir: Path, *, config: PipelineConfig = PipelineConfig(), engine=None,
                  write_video: bool = True, on_frame: Callable[[int, int | None], None] | None = None,
                  ground_truth: Callable[[list[tuple[int, int]]], dict] | None = None,
                  model_note: str | None = None, stop: Callable[[], bool] | None = None,
                  fps: float | None = None) -> dict:
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
    summary: dict = {"source": str(video), "complete": False, "interrupted": False, "error": None,
                     "fps": source.info.fps, "engine": {"description": model_note, "classes": []},
                     "config": config.to_dict()}
    started = time.monotonic()
    last_t = 0.0
    spotted: list[tuple[int, int]] = []
    fps = source.info.fps or DEFAULT_FPS
    with source, RecognitionPipeline(config, engine=engine, fps=source.info.fps) as pipeline, \
            RunFolder(folder, classes=pipeline.classes, regions=pipeline.region_names) as run, \
            (VideoWriter(folder / "annotated.mp4", fps, preset="veryfast") if write_video else nullcontext()) as video:
        summary["engine"]["classes"] = list(pipeline.classes)
        history = OverlayHistory(pipeline.region_names, model_note=model_note)

        def write(step: Step) -> None:
            run.write(step)
            spotted.extend((e.spot.onset_frame, e.spot.offset_frame) for e in step.finished)
            state = history.observe(step)
            if video is not None and step.frame is not None:
                video.write(draw_overlay(step.frame.image, state))

        try:
            for step in pipeline.stream(source):
                write(step)
                last_t = step.frame.t_s
                if stop is not None and stop():
                    summary["interrupted"] = True
                    break
                if on_frame is not None:
                    on_frame(run.frames.rows, source.info.num_frames)
            summary["complete"] = not summary["interrupted"]
        except VideoError as exc:
            log.error("%s", exc)
            summary["error"] = str(exc)
        except KeyboardInterrupt:
            summary["interrupted"] = True
            raise
        finally:
            write(pipeline.finish())
            run.close()
            if video is not None:
                video.close()
            elapsed = time.monotonic() - started
            frames = run.frames.rows
            summary.update({
                "frames": frames, "duration_s": round(last_t, 4),
                "face_found_fraction": round(run.faces_found / frames, 4) if frames else 0.0,
                "micro_expressions": run.events.rows, "other_movements": run.movements.rows,
                "classifier_fell_behind": pipeline.fell_behind, "unclassified_events": pipeline.unclassified,
                "label_latency_ms_p50": percentile(run.latencies_ms, 50),
                "label_latency_ms_p95": percentile(run.latencies_ms, 95),
                "processing_fps": round(frames / elapsed, 2) if elapsed > 0 else None,
            })
            if ground_truth is not None:
                summary["spotting"] = ground_truth(spotted)
            run.finalise(summary)
    return summary
