"""Typed records for what crosses a boundary: the engine a pipeline classifies with, the job it
hands the classifier, the sink protocol, and the summary of a run (summary.json)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from realtime.core.interval import Interval
from realtime.dynamic_images.rank_pooling import DIInputConfig

if TYPE_CHECKING:
    from realtime.pipeline.pipeline import MicroExpression, Step


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


STATUSES = {  # status -> whether the run counts as failed (non-zero exit) and whether it has results to open
    "finished": (False, True), "interrupted": (False, True), "truncated": (True, True),
    "broke off": (True, True), "no face": (True, False),
}


@dataclass(frozen=True)
class RunSummary:
    """What one run (a video or a live session) found and how it ended; summary.json."""

    source: str
    engine: EngineNote
    config: dict[str, Any]
    fps: float | None  # the source's nominal rate (None when it does not say)
    status: str  # one of STATUSES: how the run ended
    complete: bool  # the source was read to its end (all of it), or the user quit a live session
    interrupted: bool  # stopped by stop() (Ctrl-C) before the end
    error: str | None  # why the source broke off, if it did
    frames: int
    expected_frames: int | None  # what the file's header says (None: a camera, or a file that does not say)
    truncated: bool  # the file ended without an error, well before the frames its header announces
    no_face: bool  # frames were read but no face was found in any of them
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


class Engine(Protocol):
    """What the pipeline needs of a classifier (engines.Engine is one): its classes and inputs,
    the alignment and DI settings it was trained with, and batched classification."""

    classes: tuple[str, ...]
    input_names: tuple[str, ...]
    input_shape: tuple[int, ...]  # (C, S, S) of one network input
    di_input: DIInputConfig
    alignment: Mapping[str, Any]  # asdict(AlignConfig) of the training crops
    description: str

    def classify(self, samples: Sequence[Mapping[str, tuple[np.ndarray, int]]]) -> np.ndarray:
        """Samples (input name -> (raw DI, frames)) -> (B, K) probabilities in `classes` order."""

    def close(self) -> None:
        """Release the runtime."""


@dataclass(frozen=True)
class ClassifierJob:
    """One closed micro-expression on its way to the classifier: the event and its raw DIs, one set per
    apex hypothesis (the spotted apex among them; the event's probabilities are their mean) and, for
    the representations the DI builder does not make, its frames and each hypothesis's phases in
    them (those are built on the classifier's thread, off the frame path)."""

    event: MicroExpression
    samples: tuple[Mapping[str, tuple[np.ndarray, int]], ...]  # "di_onset" | "di_offset" | "di_clip" -> (raw DI, T)
    frames: np.ndarray | None = None  # (T, S, S) grey uint8 crops onset..offset, when the engine takes
    #                                   representations the DI builder does not make (flows, MI-DI, ...)
    phases: tuple[Interval, ...] = ()  # with `frames`: one per sample, onset/apex/offset as positions in `frames`
