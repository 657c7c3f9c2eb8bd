"""The files of one processed video or live session: events.csv, movements.csv, frames.csv,
events/<n>/ evidence, then summary.json, timeline.png and report.html.

Rows are written as they are found; summary.json is written last and atomically, and says
whether the video was finished (`complete`), which `--resume` relies on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from realtime.pipeline.pipeline import Step
from realtime.sinks.csv_stream import CsvStream
from realtime.sinks.evidence import write_evidence
from realtime.sinks.replay import REPLAY, ReplayWriter
from realtime.sinks.report import write_report
from realtime.sinks.timeline import write_timeline

EVENT_COLUMNS = ("event", "onset_frame", "apex_frame", "offset_frame", "onset_s", "apex_s", "offset_s",
                 "duration_ms", "label", "confidence", "during_speech")
MOVEMENT_COLUMNS = ("kind", "onset_frame", "offset_frame", "onset_s", "offset_s", "duration_ms", "peak_score",
                    "regions", "reason")
SUMMARY = "summary.json"


def is_complete(folder: Path) -> bool:
    """Whether a previous run finished this video (what `--resume` skips)."""
    path = folder / SUMMARY
    try:
        return bool(json.loads(path.read_text()).get("complete"))
    except (OSError, ValueError):
        return False


class RunFolder:
    """The files of one processed video (or live session), written step by step."""

    def __init__(self, folder: Path, *, classes: tuple[str, ...], regions: tuple[str, ...]) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.classes = classes
        self.regions = regions
        self.events = CsvStream(folder / "events.csv", [*EVENT_COLUMNS, *(f"prob_{c}" for c in classes)])
        self.movements = CsvStream(folder / "movements.csv", MOVEMENT_COLUMNS)
        self.frames = CsvStream(folder / "frames.csv",
                                ["frame", "time_s", "face_found", "face_confidence",
                                 *(f"motion_{r}" for r in regions), "head_motion", "spotter_state", "talking"],
                                flush_s=1.0)
        self.latencies_ms: list[float] = []
        self.replays = ReplayWriter()  # magnified replays, written off the frame thread
        self.faces_found = 0

    def write(self, step: Step) -> None:
        if step.frame is not None and step.motion is not None:
            motion = step.motion
            self.faces_found += int(motion.found)
            self.frames.write({"frame": step.frame.index, "time_s": step.frame.t_s, "face_found": int(motion.found),
                               "face_confidence": motion.confidence,
                               **{f"motion_{r}": motion.regions.get(r, 0.0) for r in self.regions},
                               "head_motion": motion.head, "spotter_state": step.spotter_state,
                               "talking": int(step.talking)})
        for closed in step.closed:
            if closed.crops:
                write_evidence(self.folder / "events" / str(closed.event.event), closed.crops, closed.dis)
            if closed.clip is not None and closed.clip_fps > 0:
                self.replays.submit(self.folder / "events" / str(closed.event.event) / REPLAY, closed.clip,
                                    closed.clip_fps)
        for event in step.finished:
            self.events.write(event.row(self.classes))
            if event.latency_ms is not None:
                self.latencies_ms.append(event.latency_ms)
        for movement in step.movements:
            self.movements.write({"kind": movement.kind, "onset_frame": movement.onset_frame,
                                  "offset_frame": movement.offset_frame, "onset_s": movement.onset_s,
                                  "offset_s": movement.offset_s, "duration_ms": 1000 * movement.duration_s,
                                  "peak_score": movement.peak_score, "regions": "+".join(movement.regions),
                                  "reason": movement.reason})

    def close(self) -> None:
        for stream in (self.events, self.movements, self.frames):
            stream.close()
        self.replays.close()

    def finalise(self, summary: dict) -> None:
        """After close: summary.json, timeline.png and report.html, from the files written."""
        write_json(self.folder / SUMMARY, summary)
        write_timeline(self.folder)
        write_report(self.folder)

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile, or None for no values (no events, no latency)."""
    return float(np.percentile(values, q)) if values else None


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write atomically (temp file + rename): a reader never sees half a summary."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)
