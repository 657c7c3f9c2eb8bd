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


from realtime.pipeline.pipeline import Step
from realtime.pipeline.records import RunSummary
from realtime.sinks.csv_stream import MOTION_PREFIX, CsvStream
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
                                 *(f"{MOTION_PREFIX}{r}" for r in regions), "head_motion", "spotter_state", "talking"],
                                flush_s=1.0)
        self.replays = ReplayWriter()  # magnified replays, written off the frame thread

    def write(self, step: Step) -> None:
        """A frames.csv row per frame; events, movements and evidence as they close."""
        if step.frame is not None and step.motion is not None:
            motion = step.motion
            seen = [r for r in self.regions if motion.found and r not in step.covered]  # else: empty cells
            self.frames.write({"frame": step.frame.index, "time_s": step.frame.t_s, "face_found": int(motion.found),
                               "face_confidence": motion.confidence,
                               **{f"{MOTION_PREFIX}{r}": motion.regions.get(r, 0.0) if r in seen else ""
                                  for r in self.regions},
                               "head_motion": motion.head if motion.found else "", "spotter_state": step.spotter_state,
                               "talking": int(step.talking)})
        for closed in step.closed:
            if closed.crops:
                write_evidence(self.folder / "events" / str(closed.event.event), closed.crops, closed.dis)
            if closed.clip is not None and closed.clip_fps > 0:
                self.replays.submit(self.folder / "events" / str(closed.event.event) / REPLAY, closed.clip,
                                    closed.clip_fps)
        for event in step.finished:
            self.events.write(event.row(self.classes))
        for movement in step.movements:
            self.movements.write({"kind": movement.kind, "onset_frame": movement.frames.onset,
                                  "offset_frame": movement.frames.offset, "onset_s": movement.onset_s,
                                  "offset_s": movement.offset_s, "duration_ms": 1000 * movement.duration_s,
                                  "peak_score": movement.peak_score, "regions": "+".join(movement.regions),
                                  "reason": movement.reason})

    def close_streams(self) -> None:
        """Flush and close the CSVs (safe twice): every row written so far stays readable."""
        for stream in (self.events, self.movements, self.frames):
            stream.close()
        self.replays.close()

    def close(self, summary: RunSummary) -> None:
        """The run ended: the CSVs, then summary.json, timeline.png and report.html from them."""
        self.close_streams()
        write_json(self.folder / SUMMARY, summary.to_dict())
        write_timeline(self.folder)
        write_report(self.folder)

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close_streams()


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write atomically (temp file + rename): a reader never sees half a summary."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)
