"""The one run loop: a source through the pipeline into sinks, for `mer-process` and `mer-live`.

    run(source, pipeline, sinks) -> RunSummary

The two commands differ only in what they pass: a video file and a run folder (+ annotated.mp4),
or a camera and a window (+ recording, events file). The loop counts what every run reports
(frames, faces, events, label latency), hands every step to every sink, and closes every sink
with the summary whatever ends the run: the end of the source, a sink asking to quit (a key in
the window), `stop()` (Ctrl-C), or a source that breaks off (a `VideoError`, kept in the summary).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from realtime.capture.sources import Source
from realtime.core.errors import VideoError
from realtime.pipeline.pipeline import RecognitionPipeline, Step
from realtime.pipeline.records import EngineNote, RunSummary, Sink

log = logging.getLogger(__name__)

Interval = tuple[int, int]  # onset, offset frame of a spotted micro-expression
TRUNCATION_SLACK = 2  # frames a container's count may exceed the decodable ones by (edit lists, a last
#                       B-frame) before a file that ends without an error counts as truncated


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile, or None for no values (no events, no latency)."""
    return float(np.percentile(values, q)) if values else None


def run(source: Source, pipeline: RecognitionPipeline, sinks: Sequence[Sink], *, label: str, engine: EngineNote,
        stop: Callable[[], bool] | None = None, on_frame: Callable[[int, int | None], None] | None = None,
        score: Callable[[list[Interval]], dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None) -> RunSummary:
    """Every frame of `source` through `pipeline` into every sink; returns (and gives each sink) the
    summary. `label` names the source in the summary (the path as given, the camera);
    `on_frame(done, total)` reports progress; `score(spotted intervals)` scores spotting.
    A KeyboardInterrupt (a second Ctrl-C) still closes every sink, then propagates."""
    started = time.monotonic()
    frames = faces = micro = movements = 0
    last_t = 0.0
    spotted: list[Interval] = []
    closed_at: dict[int, float] = {}
    latencies: list[float] = []
    ended = {"complete": False, "interrupted": False, "error": None}

    def hand_out(step: Step) -> bool:
        nonlocal frames, faces, micro, movements, last_t
        if step.frame is not None:
            frames += 1
            last_t = step.frame.t_s
            faces += int(step.motion is not None and step.motion.found)
        for closed in step.closed:
            closed_at[closed.event.event] = closed.closed_at
        quit_now = any([bool(sink.write(step)) for sink in sinks])  # every sink sees every step
        handed = time.monotonic()
        for event in step.finished:
            micro += 1
            spotted.append(event.spot.frames.bounds)
            at = closed_at.pop(event.event, None)
            if at is not None and event.label is not None:
                latencies.append(1000 * (handed - at))
        movements += len(step.movements)
        return quit_now

    try:
        for step in pipeline.stream(source, ready=getattr(source, "ready", None)):
            if hand_out(step):
                break
            if stop is not None and stop():
                ended["interrupted"] = True
                break
            if on_frame is not None:
                on_frame(frames, source.info.num_frames)
        ended["complete"] = not ended["interrupted"]
    except VideoError as exc:
        log.error("%s", exc)
        ended["error"] = str(exc)
    except KeyboardInterrupt:
        ended["interrupted"] = True
        raise
    finally:
        hand_out(pipeline.finish())
        elapsed = time.monotonic() - started
        expected = source.info.num_frames
        truncated = not ended["interrupted"] and expected is not None and frames + TRUNCATION_SLACK < expected
        no_face = frames > 0 and faces == 0
        ended["complete"] = ended["complete"] and not truncated
        status = ("interrupted" if ended["interrupted"] else "truncated" if truncated else
                  "broke off" if ended["error"] else "no face" if no_face else "finished")
        summary = RunSummary(
            status=status, expected_frames=expected, truncated=truncated, no_face=no_face,
            source=label, engine=engine,
            config=pipeline.config.to_dict(), fps=source.info.fps, frames=frames, duration_s=round(last_t, 4),
            face_found_fraction=round(faces / frames, 4) if frames else 0.0, micro_expressions=micro,
            other_movements=movements, dropped_frames=source.dropped_frames,
            classifier_fell_behind=pipeline.fell_behind, unclassified_events=pipeline.unclassified,
            label_latency_ms_p50=percentile(latencies, 50), label_latency_ms_p95=percentile(latencies, 95),
            processing_fps=round(frames / elapsed, 2) if elapsed > 0 else None,
            spotting=score(spotted) if score is not None else None, extra=dict(extra or {}), **ended)
        for sink in sinks:
            sink.close(summary)
    return summary
