"""`mer-process --ray`: one Ray task per video, every result in the shared --out folder.

The single-machine guarantees, kept across a cluster:
- Each task runs `realtime.apps.offline.process_video` on its node, which writes OUT/<stem>/ row by
  row as it goes; so every node must see the videos and OUT at the same paths (a shared
  filesystem), and an interrupted or failed video keeps what it had written.
- The engine is loaded inside the task from its path, on that node's GPU or CPUs; nothing but
  paths and small settings travel. What loads it (`EngineLoader`) is given by the caller (the CLI),
  so this module knows no engine package.
- A task whose worker process or node dies is run again by Ray (`TaskResources.max_retries`),
  from the start of its video. A video is never redone once finished: `resume` skips folders
  whose summary says complete before anything is submitted, and a retried task that finds its
  folder completed by its own earlier attempt returns that summary.
- Bad input (a missing or unreadable video, an engine that does not load, a bad ground-truth
  file) fails its task at once with the one-line message of the single-machine run, and the
  other videos go on; Ray never retries our own errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.progress import Progress

from realtime.apps.offline import process_video
from realtime.core.errors import InputError
from realtime.distributed.cluster import ClusterConfig, RayCluster, TaskProgress, TaskResources, joined
from realtime.pipeline.pipeline import PipelineConfig
from realtime.sinks.run_folder import SUMMARY, is_complete
from realtime.spotting.ground_truth import SheetReader

log = logging.getLogger(__name__)

EngineLoader = Callable[[Path, int], tuple[Any, str]]
"""(engine path, classifier threads) -> (engine, the name shown for it), called inside each task: the
engine is what `process_video` takes and has `close()`. Pickled to the workers, so a module-level function."""


@dataclass(frozen=True)
class VideoJob:
    """One video and its ground truth (None: no spotting score), at paths every node sees."""

    video: Path
    ground_truth: Path | None = None

    @property
    def name(self) -> str:
        return self.video.name


@dataclass(frozen=True)
class VideoSettings:
    """What every video task gets: the single-machine run's options."""

    out: Path  # OUT; each video writes OUT/<stem>/
    config: PipelineConfig = field(default_factory=PipelineConfig)
    engine: Path | None = None  # engine folder or model.pt, loaded in each task; None: spotting only
    threads: int = 1  # classifier CPU threads (the CLI's --threads)
    write_video: bool = True  # annotated.mp4
    fps: float | None = None  # frame rate of folders of frames (None: their release's, else the default)
    read_sheet: SheetReader | None = None  # reads a coding sheet given as ground truth (from the CLI)


@dataclass(frozen=True)
class VideoResult:
    """How one video ended on the cluster."""

    job: VideoJob
    status: str  # "finished" | "partial" (the video broke off; see summary["error"]) | "skipped" | "failed"
    summary: dict | None = None  # summary.json's content; None when the task failed
    error: str | None = None  # the one line of a failed task
    node: str | None = None  # where it ran (its last attempt)
    attempts: int = 0  # task attempts started (0: skipped)


def _scorer(ground_truth: Path | None, stem: str, read_sheet: SheetReader | None):
    """process_video's `ground_truth` callback, as the single-machine CLI builds it."""
    if ground_truth is None:
        return None
    from realtime.spotting.ground_truth import load_ground_truth
    from realtime.spotting.scoring import score_spotting

    truth = load_ground_truth(ground_truth, video=stem, read_sheet=read_sheet)
    for problem in truth.problems:
        log.warning("%s", problem)
    return lambda spotted: {"ground_truth": str(ground_truth),
                            **score_spotting(spotted, truth.micro_intervals()).to_dict()}


def _process_video_task(job: VideoJob, settings: VideoSettings, load_engine: EngineLoader | None, board: Any,
                        name: str) -> dict:
    """On a worker: process one video into the shared OUT folder and return its summary."""
    progress = TaskProgress(board, name)
    folder = settings.out / job.video.stem
    if progress.attempt > 1 and is_complete(folder):
        log.info("%s: finished by an earlier attempt of this run; not redone", job.name)
        return json.loads((folder / SUMMARY).read_text())
    # An earlier run's summary would call the folder complete while this attempt rewrites it; if
    # the attempt dies, the next one (or a later --resume) must see it unfinished.
    (folder / SUMMARY).unlink(missing_ok=True)
    scorer = _scorer(job.ground_truth, job.video.stem, settings.read_sheet)
    engine = model_note = None
    if settings.engine is not None and load_engine is not None:
        engine, model_note = load_engine(settings.engine, settings.threads)
    try:
        return process_video(job.video, settings.out, config=settings.config, engine=engine,
                             write_video=settings.write_video, on_frame=progress.frames, ground_truth=scorer,
                             fps=settings.fps, model_note=model_note).to_dict()
    finally:
        if engine is not None:
            engine.close()


def check_jobs(jobs: Sequence[VideoJob]) -> None:
    """Refuse videos whose results would share a folder (they would overwrite each other at once)."""
    seen: dict[str, Path] = {}
    for job in jobs:
        if job.video.stem in seen:
            raise InputError(f"{seen[job.video.stem]} and {job.video} both write OUT/{job.video.stem}/; "
                             f"rename one or process them in separate runs")
        seen[job.video.stem] = job.video


def process_on_ray(jobs: Sequence[VideoJob], settings: VideoSettings, *,
                   cluster: RayCluster | ClusterConfig = ClusterConfig(),
                   resources: TaskResources = TaskResources(), resume: bool = False,
                   progress: Progress | None = None, load_engine: EngineLoader | None = None) -> list[VideoResult]:
    """Process `jobs` as one Ray task each; results in the order of `jobs`.

    `cluster`: an open RayCluster, or where to join one for this call. Paths are made absolute
    here (workers do not share the driver's working folder). With `progress`, one bar counts
    videos and each running video shows its frames, node and attempt. `load_engine` is required
    when `settings.engine` is set.
    """
    if settings.engine is not None and load_engine is None:
        raise ValueError("settings.engine is set: process_on_ray needs a load_engine to load it in the tasks")
    jobs = [VideoJob(job.video.absolute(), job.ground_truth.absolute() if job.ground_truth else None) for job in jobs]
    settings = replace(settings, out=settings.out.absolute(),
                       engine=settings.engine.absolute() if settings.engine else None)
    check_jobs(jobs)
    results: dict[str, VideoResult] = {}
    todo = []
    for job in jobs:
        if resume and is_complete(settings.out / job.video.stem):
            results[job.name] = VideoResult(job, "skipped",
                                            summary=json.loads((settings.out / job.video.stem / SUMMARY).read_text()))
        else:
            todo.append(job)
    with joined(cluster) as ray_cluster:
        ray_cluster.check(resources)
        settings.out.mkdir(parents=True, exist_ok=True)  # once the cluster is there: nothing written otherwise
        overall = progress.add_task("videos", total=len(jobs), completed=len(results)) if progress else None
        by_name = {job.name: job for job in todo}
        pending = {ray_cluster.submit(_process_video_task, job, settings, load_engine, resources=resources,
                                      job=job.name): job.name
                   for job in todo}
        try:
            for outcome in ray_cluster.gather(pending, progress=progress):
                job = by_name[outcome.job]
                if outcome.error is not None:
                    log.error("%s", outcome.error)
                    result = VideoResult(job, "failed", error=outcome.error, node=outcome.node,
                                         attempts=outcome.attempts)
                else:
                    summary = outcome.value
                    result = VideoResult(job, "finished" if summary["complete"] else "partial", summary=summary,
                                         node=outcome.node, attempts=outcome.attempts)
                results[job.name] = result
                if progress is not None:
                    progress.advance(overall)
        except KeyboardInterrupt:
            log.warning("interrupted: stopping the running videos (their files are closed cleanly)")
            ray_cluster.cancel(list(pending))
            raise
    return [results[job.name] for job in jobs]
