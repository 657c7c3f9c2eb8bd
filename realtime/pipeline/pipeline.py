"""The recognition pipeline: one object composing the stages, the same for live and offline.

    frame -> FaceAligner -> FrameRing (+ DynamicImageBuilder) -> FacialMotion -> Spotter
          -> (micro-expression closed) DI-Onset/DI-Offset from the ring -> ClassifierWorker

The engine records which representations it takes (its input names): the DIs come from the
builder's running sums in O(1); any other (flows, MI-DI, COF, MESTI, ...) is built with
realtime.dynamic_images.representations from the event's frames, copied out of the ring at
close, on the classifier's thread.

Stages do not know each other; this class moves data between them one way. `mer-process` and
`mer-live` differ only in the source they feed it and the sinks they give its results to.
Classification runs on the worker thread, so `process` never waits for the network: labels
come back in later steps (or at `finish`), each with its latency.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from types import TracebackType

import numpy as np
import torch

from realtime.core.errors import EngineError, InputError
from realtime.core.frame import Frame
from realtime.core.interval import Interval
from realtime.dynamic_images.builder import DynamicImageBuilder
from realtime.dynamic_images.representations import BUILDER_NAMES, build_all, channels
from realtime.dynamic_images.ring import FrameRing, FrameRingConfig
from realtime.face.aligner import AlignConfig, AlignedFace, FaceAligner
from realtime.face.occlusion import OcclusionConfig, OcclusionDetector
from realtime.pipeline.classifier import ClassifierWorker
from realtime.pipeline.occlusions import CoverLog
from realtime.pipeline.records import ClassifierJob, Engine
from realtime.pipeline.work_ahead import map_ahead
from realtime.spotting.motion import FacialMotion, FrameMotion, MotionConfig
from realtime.spotting.spotter import Movement, SpotEvent, Spotter, SpotterConfig

log = logging.getLogger(__name__)

REPLAY_PAD_S = 0.2  # an event's replay clip starts this long before its onset and ends this long after its offset


@dataclass(frozen=True)
class ApexSampling:
    """Uncertainty in the apex (the DIANet paper's future work): classify the event at `samples` apex
    hypotheses spread evenly over apex +- spread x (offset - onset), and average the probabilities.

    The spotter's apex is the frame of peak motion on a noisy signal; a few frames either way
    give other DI pairs of the same event. samples = 1 is the spotted apex alone (no extra cost);
    an odd count keeps the spotted apex among the hypotheses.
    """

    samples: int = 1  # K apex hypotheses per event
    spread: float = 0.2  # half-width of their span, as a fraction of the event's length

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise InputError(f"apex samples must be >= 1, got {self.samples}")
        if not 0.0 <= self.spread <= 0.5:
            raise InputError(f"apex spread must be in [0, 0.5], got {self.spread}")

    def apexes(self, frames: Interval) -> tuple[int, ...]:
        """The apex hypotheses (absolute frames), kept strictly inside the event where it has room."""
        onset, apex, offset = frames.onset, frames.apex, frames.offset
        if self.samples == 1:
            return (apex,)
        low, high = (onset + 1, offset - 1) if offset - onset >= 2 else (onset, offset)
        reach = self.spread * (offset - onset)
        return tuple(int(min(max(round(apex + d), low), high)) for d in np.linspace(-reach, reach, self.samples))


def mean_over_hypotheses(engine: Engine, events: Sequence[Sequence[Mapping[str, tuple[np.ndarray, int]]]]) -> np.ndarray:
    """(B, K) probabilities of B events, each given as its apex hypotheses' samples: all of them in
    one engine call, averaged per event."""
    probabilities = engine.classify([sample for samples in events for sample in samples])
    bounds = np.cumsum([0, *(len(samples) for samples in events)])
    return np.stack([probabilities[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])


@dataclass(frozen=True)
class PipelineConfig:
    """Every stage's configuration; saved beside every output."""

    align: AlignConfig = field(default_factory=AlignConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    spotter: SpotterConfig = field(default_factory=SpotterConfig)
    ring: FrameRingConfig = field(default_factory=FrameRingConfig)
    occlusion: OcclusionConfig = field(default_factory=OcclusionConfig)
    apex: ApexSampling = field(default_factory=ApexSampling)
    classifier_queue: int = 16  # events waiting for the network before the worker counts as behind
    label_wait_s: float = 0.05  # the frame thread waits this long at most for a label it just asked for,
    #                             so that it shows on the same frame; capture goes on on its own thread

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MicroExpression:
    """A spotted micro-expression with its number in the run and, once classified, its label."""

    event: int  # 1-based, in the order the spotter closed them
    spot: SpotEvent
    label: str | None = None
    confidence: float | None = None
    probabilities: tuple[tuple[str, float], ...] = ()  # (class, probability) in the engine's order
    latency_ms: float | None = None  # spotter closed the event -> label available
    error: str | None = None  # why there is no label, when classification was asked for

    def row(self, classes: tuple[str, ...]) -> dict:
        """The events.csv row: fixed columns, then prob_<class> for every class of the engine."""
        s = self.spot
        probs = dict(self.probabilities)
        return {"event": self.event, **s.frames.columns(), "onset_s": s.onset_s, "apex_s": s.apex_s,
                "offset_s": s.offset_s, "duration_ms": 1000 * s.duration_s, "label": self.label or "", "confidence": self.confidence,
                "during_speech": int(s.during_speech),
                **{f"prob_{c}": probs.get(c) for c in classes}}


@dataclass(frozen=True)
class ClosedEvent:
    """A micro-expression at the moment the spotter closes it: the evidence an analyst checks."""

    event: MicroExpression
    crops: dict[str, np.ndarray]  # "onset" | "apex" | "offset" -> (S, S) grey uint8 aligned crop
    dis: dict[str, np.ndarray]  # "di_onset" | "di_offset" -> (S, S, 1) float32 raw DI; empty if unbuffered
    frames: tuple[int, int] = (0, 0)  # T of DI-Onset and of DI-Offset
    closed_at: float = 0.0  # time.monotonic() when the spotter closed it: where label latency starts
    clip: np.ndarray | None = None  # (T, S, S) grey uint8 crops, REPLAY_PAD_S around the event (what the ring holds)
    clip_fps: float = 0.0  # the clip's frame rate, from the ring's frame times


@dataclass(frozen=True)
class Step:
    """What one frame (or the end of the stream) produced."""

    frame: Frame | None
    face: AlignedFace | None
    motion: FrameMotion | None
    spotter_state: str  # "face lost" on every frame without a face
    talking: bool  # the person talks at this frame (the spotter's talking stage)
    closed: tuple[ClosedEvent, ...] = ()  # micro-expressions closed at this frame, with their evidence
    finished: tuple[MicroExpression, ...] = ()  # final results since the last step (labelled, spot-only
    #                                             or failed): one events.csv row each
    movements: tuple[Movement, ...] = ()  # other movements closed at this frame
    covered: frozenset[str] = frozenset()  # facial regions covered at this frame (their motion is left out)


ALIGNMENT_MUST_MATCH = ("size", "grey", "stabilise_size")  # what makes the crops the DIs are built from;
#   the rest of AlignConfig (which face, tracking thresholds, mesh rate) is a serving choice


def check_engine(engine: Engine, align: AlignConfig) -> None:
    """Refuse, in one line, an engine trained on crops or DIs other than those this pipeline makes:
    its scores would look valid and mean nothing (a train/serve mismatch)."""
    name = getattr(engine, "source", None) or engine.description
    differ = [f"{key} {engine.alignment[key]!r} (pipeline: {getattr(align, key)!r})"
              for key in ALIGNMENT_MUST_MATCH if key in engine.alignment and engine.alignment[key] != getattr(align, key)]
    if differ:
        raise EngineError(f"{name}: trained with other alignment settings: {', '.join(differ)}")
    try:
        made = channels(engine.input_names) * (1 if align.grey else 3)  # representations of grey crops
    except InputError as exc:
        raise EngineError(f"{name}: takes inputs this pipeline cannot build ({exc})") from exc
    if engine.input_shape[0] != made:
        raise EngineError(f"{name}: takes {engine.input_shape[0]}-channel inputs ({', '.join(engine.input_names)}), "
                          f"the pipeline makes {made}-channel ones")
    if engine.di_input.size > align.size:
        raise EngineError(f"{name}: takes {engine.di_input.size} px DIs, larger than the pipeline's "
                          f"{align.size} px crops")


class RecognitionPipeline:
    """Frames in, steps out. `engine=None` spots without classifying (`--spot-only`)."""

    def __init__(self, config: PipelineConfig = PipelineConfig(), *, engine: Engine | None = None,
                 fps: float | None = None) -> None:
        if engine is not None:
            check_engine(engine, config.align)
        self.config = config
        self.engine = engine
        self.classes: tuple[str, ...] = tuple(engine.classes) if engine is not None else ()
        ring_config = FrameRingConfig(**{**asdict(config.ring), "size": config.align.size})
        self._aligner = FaceAligner(config.align)
        self._occlusion = OcclusionDetector(config.align.size, config.occlusion)
        self._ring = FrameRing(ring_config, fps=fps)
        if self._ring.device.type == "cpu":
            # Every tensor on the frame path is one small crop: intra-op threads only fight the
            # capture thread and MediaPipe for the cores (measured 9x slower per op under load).
            # The setting is per thread (OpenMP), so the classifier's thread keeps its own.
            torch.set_num_threads(1)
        self._builder = DynamicImageBuilder(self._ring)
        self._motion = FacialMotion(config.motion, crop_size=config.align.size)
        self._spotter = Spotter(self._motion.grid, config.spotter)
        occ = config.occlusion
        self._covers = CoverLog(self._motion.grid, margin_s=(occ.persist_checks + 1) / occ.check_hz)
        self._worker = (ClassifierWorker(lambda jobs: mean_over_hypotheses(engine, [self._job_samples(job) for job in jobs]),
                                         queue_size=config.classifier_queue) if engine is not None else None)
        self._from_frames = tuple(n for n in engine.input_names if n not in BUILDER_NAMES) if engine else ()
        self._last_crop = np.zeros((config.align.size, config.align.size), np.uint8)
        self._last_index: int | None = None
        self._events = 0
        self.unclassified = 0  # micro-expressions whose DIs had already left the ring buffer

    @property
    def region_names(self) -> tuple[str, ...]:
        return self._motion.grid.region_names

    @property
    def fell_behind(self) -> int:
        """How often the classifier's queue was full when an event closed."""
        return self._worker.fell_behind if self._worker is not None else 0

    def _push(self, frame: Frame, face: AlignedFace) -> None:
        """Keep the ring's indices those of the source: a gap (a camera's dropped frames) or a
        frame without a face repeats the last crop, which adds no motion to any DI."""
        if face.found and face.crop is not None:
            self._last_crop = face.crop
        first = frame.index if self._last_index is None else self._last_index + 1
        for index in range(first, frame.index + 1):
            self._ring.push(self._last_crop, index=index, t_s=frame.t_s)
            self._builder.update()
        self._last_index = frame.index

    def process(self, frame: Frame) -> Step:
        """One frame through every stage, on this thread."""
        return self._after_alignment(frame, self._align(frame))

    def stream(self, frames: Iterable[Frame], *, ready: Callable[[], bool] | None = None) -> Iterator[Step]:
        """A step per frame, with frame n+1 aligned on a second thread while frame n goes through
        the rest (the two halves cost about the same, so the stream runs at the pace of the slower
        one). `ready()`: whether a live source has the next frame waiting; while it has not, a
        step is not held back for it. Call `finish()` after the last step, as after `process`."""
        for frame, aligned in map_ahead(self._align, frames, ready=ready, name="align-ahead"):
            yield self._after_alignment(frame, aligned)

    def _align(self, frame: Frame) -> tuple[AlignedFace, frozenset[str], frozenset[str]]:
        """The face, the regions covered on it, and those of them a hand covers (second thread)."""
        face = self._aligner.process(frame.image, frame.t_s)
        covered = self._occlusion.process(frame.image, face, frame.t_s)
        return face, covered, self._occlusion.by_hand

    def _after_alignment(self, frame: Frame, aligned: tuple[AlignedFace, frozenset[str], frozenset[str]]) -> Step:
        face, covered, by_hand = aligned
        self._push(frame, face)
        motion = self._motion.process(face.crop if face.found else None, t_s=frame.t_s, index=frame.index,
                                      found=face.found, confidence=face.confidence)
        spotted = self._spotter.process(self._covers.mask(motion, covered, by_hand=by_hand))
        return self._step(frame, face, motion, spotted, covered=covered)

    def finish(self) -> Step:
        """End of stream: close what the spotter still holds and wait for every label."""
        return self._step(None, None, None, self._spotter.finish(), final=True)

    def _step(self, frame: Frame | None, face: AlignedFace | None, motion: FrameMotion | None,
              spotted: list[SpotEvent | Movement], *, final: bool = False,
              covered: frozenset[str] = frozenset()) -> Step:
        closed, finished = [], []
        movements = self._covers.closed(final=final)
        submitted = False
        for item in filter(self._covers.allowed, spotted):
            if isinstance(item, Movement):
                movements.append(item)
                continue
            event = self._close(item)
            closed.append(event)
            if self._submit(event):
                submitted = True
            else:
                finished.append(event.event)
        if self._worker is not None:
            wait = self.config.label_wait_s if submitted else 0.0
            results = self._worker.close() if final else self._worker.poll(timeout=wait)
            finished += [self._labelled(r.job.event, r.probabilities, r.latency_ms, r.error) for r in results]
        lost = motion is not None and not motion.found
        return Step(frame=frame, face=face, motion=motion, spotter_state="face lost" if lost else self._spotter.state,
                    talking=self._spotter.talking, closed=tuple(closed), finished=tuple(finished),
                    movements=tuple(movements), covered=covered)

    def _close(self, spot: SpotEvent) -> ClosedEvent:
        """Number the event and take its crops and DI pair from the ring (O(1) in its length)."""
        now = time.monotonic()
        self._events += 1
        event = MicroExpression(event=self._events, spot=spot)
        if spot.frames.onset not in self._ring or spot.frames.offset not in self._ring:
            self.unclassified += 1
            log.warning("event %d (%.2f-%.2f s) is older than the ring buffer; no DIs", event.event,
                        spot.onset_s, spot.offset_s)
            return ClosedEvent(event=replace(event, error="frames no longer buffered"), crops={}, dis={})
        dis = self._builder.process(spot.frames)
        crops = {name: self._ring.frame(index).cpu().numpy()
                 for name, index in (("onset", spot.frames.onset), ("apex", spot.frames.apex),
                                     ("offset", spot.frames.offset))}
        first, last = self._clip_span(spot)
        clip = torch.stack([self._ring.frame(i) for i in range(first, last + 1)]).cpu().numpy()
        span_s = self._ring.time(last) - self._ring.time(first)
        return ClosedEvent(event=event, crops=crops, frames=(dis.onset_frames, dis.offset_frames), closed_at=now,
                           dis={"di_onset": dis.di_onset.cpu().numpy(), "di_offset": dis.di_offset.cpu().numpy()},
                           clip=clip, clip_fps=(last - first) / span_s if span_s > 0 else 0.0)

    def _clip_span(self, spot: SpotEvent) -> tuple[int, int]:
        """First and last frame of the replay clip: REPLAY_PAD_S around the event, within the ring."""
        first, last = spot.frames.bounds
        while first - 1 in self._ring and self._ring.time(first - 1) >= spot.onset_s - REPLAY_PAD_S:
            first -= 1
        while last + 1 in self._ring and self._ring.time(last + 1) <= spot.offset_s + REPLAY_PAD_S:
            last += 1
        return first, last

    def _submit(self, closed: ClosedEvent) -> bool:
        """Hand an event to the classifier; False when it will get no label (spot-only, no DIs)."""
        if self._worker is None or not closed.dis:
            return False
        spot = closed.event.spot
        inputs = {"di_onset": (closed.dis["di_onset"], closed.frames[0]),
                  "di_offset": (closed.dis["di_offset"], closed.frames[1])}
        if "di_clip" in self.engine.input_names:
            clip = self._builder.window_di(*spot.frames.bounds).cpu().numpy()
            inputs["di_clip"] = (clip, spot.frames.length)
        hypotheses = [replace(spot.frames, apex=apex) for apex in self.config.apex.apexes(spot.frames)]
        samples = []
        for interval in hypotheses:
            if interval == spot.frames:  # the spotted apex: its DIs are in `inputs` already
                samples.append(inputs)
                continue
            dis = self._builder.process(interval)
            samples.append({**inputs, "di_onset": (dis.di_onset.cpu().numpy(), dis.onset_frames),
                            "di_offset": (dis.di_offset.cpu().numpy(), dis.offset_frames)})
        job = ClassifierJob(closed.event, tuple(samples))
        if self._from_frames:
            frames = self._ring.window(*spot.frames.bounds, copy=True).cpu().numpy()
            job = replace(job, frames=frames, phases=tuple(h.shifted(-spot.frames.onset) for h in hypotheses))
        self._worker.submit(job)
        return True

    def _job_samples(self, job: ClassifierJob) -> list[dict[str, tuple[np.ndarray, int]]]:
        """The job's samples, each with the representations built from its frames at its own apex
        (on the classifier's thread)."""
        if not self._from_frames or job.frames is None:
            return [dict(sample) for sample in job.samples]
        config = self.engine.di_input.representation
        return [{**sample, **build_all(self._from_frames, job.frames, phases.onset, phases.apex, phases.offset, config)}
                for sample, phases in zip(job.samples, job.phases, strict=True)]

    def _labelled(self, event: MicroExpression, probabilities: np.ndarray | None, latency_ms: float,
                  error: str | None) -> MicroExpression:
        if probabilities is None:
            return replace(event, latency_ms=latency_ms, error=error)
        best = int(np.argmax(probabilities))
        return replace(event, label=self.classes[best], confidence=float(probabilities[best]),
                       probabilities=tuple(zip(self.classes, map(float, probabilities))), latency_ms=latency_ms)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
        self._aligner.close()
        self._occlusion.close()

    def __enter__(self) -> RecognitionPipeline:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
