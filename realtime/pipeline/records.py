"""Typed records for what crosses a boundary: the engine a pipeline classifies with, the job it
hands the classifier, the sink protocol, and the summary of a run (summary.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from realtime.pipeline.pipeline import Step


class Sink(Protocol):
    """Where steps go: a run folder, annotated video, a window, an events file."""

    def write(self, step: Step) -> bool | None:
        """Take one step; True asks the run to end (the user quit)."""

    def close(self, summary: RunSummary) -> None:
        """The run ended: finish the files, with the summary where the sink keeps one."""


@dataclass(frozen=True)
class EngineNote:
    """Which classifier ran, as the summary and the report name it."""

    description: str
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunSummary:
    """What one run (a video or a live session) found and how it ended; summary.json."""

    source: str
    engine: EngineNote
    config: dict[str, Any]
    fps: float | None  # the source's nominal rate (None when it does not say)
    complete: bool  # the source was read to its end, or the user quit a live session
    interrupted: bool  # stopped by stop() (Ctrl-C) before the end
    error: str | None  # why the source broke off, if it did
    frames: int
    duration_s: float
    face_found_fraction: float
    micro_expressions: int
    other_movements: int
    dropped_frames: int
    classifier_fell_behind: int
    unclassified_events: int
    label_latency_ms_p50: float | None  # spotter closed an event -> its label handed to every sink
    label_latency_ms_p95: float | None
    processing_fps: float | None  # frames per second of wall time
    spotting: dict[str, Any] | None = None  # scored against a ground truth, when one was given
    extra: dict[str, Any] = field(default_factory=dict)  # what one app adds (e.g. the recording's path)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["engine"]["classes"] = list(self.engine.classes)
        extra = out.pop("extra")
        if out["spotting"] is None:
            del out["spotting"]
        return {**out, **extra}
