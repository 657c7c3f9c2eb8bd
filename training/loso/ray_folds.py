"""`mer-train --ray`: one Ray task per leave-one-subject-out fold, of one run or of every ablation.

The driver aligns the clips and builds the DI cache once (the usual `ClipCache`, in --cache),
then puts the cached clips into Ray's object store once per data set; every fold task of every
configuration reads that one copy. A task rebuilds the `LosoRun` from its settings and runs the
same code as a single machine (`LosoRun.run_fold`), which saves RUN_DIR/folds/<fold>.json; when
all folds of a run are saved, one more task calls the run with resume=True, which loads them,
writes predictions.csv, metrics.json and the confusion matrix, and trains the all-subject
model. So RUN_DIR (--out) must be on a filesystem every node sees, and so must --cache when
phase jitter recomputes DIs from the aligned stacks.

Equal to a single-machine run: a fold's seed depends only on the run's seed and its test subject,
so any node computes the same fold. Floating-point sums depend on how many threads share them,
so each task uses `threads` torch threads, and the numbers equal those of a single-machine run
with the same --threads (measured: 1 against 2 threads moves the probabilities by ~1e-2). CUDA
kernels are not all deterministic: on GPUs the folds agree as closely as CUDA repeats itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress

from realtime.core.errors import InputError
from realtime.distributed.cluster import ClusterConfig, RayCluster, TaskProgress, TaskResources, joined
from training.clip_cache import CachedClip
from training.loso.folds import Fold
from training.loso.run import LosoRun
from training.loso.run_dir import FoldResult, RunDir, RunResult
from training.presets import TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSpec:
    """A LosoRun without its clips (they travel once, through the object store) or its progress display."""

    classes: tuple[str, ...]
    config: TrainConfig
    run_dir: Path
    alignment: dict
    device: str = "auto"  # resolved on each worker: a GPU there is used even if the driver has none
    pretrained: Path | None = None
    description: dict = field(default_factory=dict)

    @classmethod
    def of(cls, run: LosoRun, *, device: str) -> RunSpec:
        context = run.context
        return cls(classes=context.classes, config=run.config, run_dir=run.run_dir.absolute(),
                   alignment=context.alignment, device=device,
                   pretrained=context.pretrained.absolute() if context.pretrained else None,
                   description=context.description)

    def build(self, clips: Sequence[CachedClip], progress: Any) -> LosoRun:
        return LosoRun(clips, self.classes, self.config, self.run_dir, alignment=self.alignment, device=self.device,
                       pretrained=self.pretrained, progress=progress, description=self.description)


def _on_worker(clips: Sequence[CachedClip], spec: RunSpec, threads: int) -> None:
    """Set a task's torch threads; refuse clips whose aligned stacks this node cannot read when they are needed."""
    import torch

    torch.set_num_threads(threads)
    if spec.config.augment.jitters:
        missing = next((clip.stack_path for clip in clips if not clip.stack_path.is_file()), None)
        if missing is not None:
            raise InputError(f"{missing}: this node cannot read the DI cache, which phase jitter needs; put --cache "
                             f"on a filesystem every node sees")


def _fold_task(clips: Sequence[CachedClip], spec: RunSpec, fold: Fold, n_folds: int, threads: int, board: Any,
               name: str) -> FoldResult:
    """On a worker: one fold, saved in RUN_DIR/folds/ (an earlier attempt that saved it is not redone)."""
    progress = TaskProgress(board, name)
    path = RunDir(spec.run_dir).fold_path(fold)
    if path.is_file():
        return FoldResult.from_json(json.loads(path.read_text()))
    _on_worker(clips, spec, threads)
    return spec.build(clips, progress).run_fold(fold, n_folds)


def _finish_task(clips: Sequence[CachedClip], spec: RunSpec, threads: int, board: Any, name: str) -> RunResult:
    """On a worker: every fold is saved; write the run's outputs and train its all-subject model."""
    progress = TaskProgress(board, name)
    _on_worker(clips, spec, threads)
    return spec.build(clips, progress)(resume=True)


def train_on_ray(runs: Sequence[LosoRun], *, device: str = "auto", threads: int = 1,
                 cluster: RayCluster | ClusterConfig = ClusterConfig(), resources: TaskResources = TaskResources(),
                 resume: bool = False, progress: Progress | None = None) -> list[RunResult]:
    """Run `runs` (one configuration, or the distinct ones of an ablation) with one Ray task per fold,
    on `cluster` (an open RayCluster, or where to join one for this call).

    Folds of every run are submitted at once; a run's last step (outputs, all-subject model) is
    submitted as soon as its folds are done. A fold that fails is reported in one line and the
    others go on (their files are kept); the error is raised once everything has ended.
    """
    specs = [RunSpec.of(run, device=device) for run in runs]
    names = [spec.run_dir.name for spec in specs]
    labels = [name if names.count(name) == 1 else str(spec.run_dir) for name, spec in zip(names, specs, strict=True)]
    folds = [run.prepare(resume=resume) for run in runs]  # checks and pins each RUN_DIR, as a single machine does
    results: dict[int, RunResult] = {}
    failures: list[str] = []
    with joined(cluster) as ray_cluster:
        ray_cluster.check(resources)
        shared: dict[str, Any] = {}  # data fingerprint -> clips in the object store
        for run in runs:
            if run.context.fingerprint not in shared:
                shared[run.context.fingerprint] = ray_cluster.put(run.context.clips)
        pending: dict[Any, str] = {}
        owner: dict[str, tuple[int, Fold | None]] = {}  # job -> (run index, fold; None for the last step)
        left = [0] * len(runs)
        for i, (run, spec) in enumerate(zip(runs, specs, strict=True)):
            for fold in folds[i]:
                if run.files.fold_path(fold).is_file():
                    continue  # finished before (resume): never recomputed
                job = f"{labels[i]}: fold {fold.index + 1}/{len(folds[i])} ({fold.test_subject})"
                ref = ray_cluster.submit(_fold_task, shared[run.context.fingerprint], spec, fold, len(folds[i]),
                                         threads, resources=resources, job=job)
                pending[ref], owner[job] = job, (i, fold)
                left[i] += 1
        overall = progress.add_task("folds", total=sum(len(f) for f in folds),
                                    completed=sum(len(f) for f in folds) - sum(left)) if progress else None

        def finish(i: int) -> None:
            job = f"{labels[i]}: outputs" + (" and all-subject model" if specs[i].config.final_model else "")
            ref = ray_cluster.submit(_finish_task, shared[runs[i].context.fingerprint], specs[i], threads,
                                     resources=resources, job=job)
            pending[ref], owner[job] = job, (i, None)

        for i in range(len(runs)):
            if left[i] == 0:
                finish(i)
        for outcome in ray_cluster.gather(pending, progress=progress):
            i, fold = owner[outcome.job]
            if outcome.error is not None:
                line = outcome.error if outcome.error.startswith(outcome.job) else f"{outcome.job}: {outcome.error}"
                log.error("%s", line)
                failures.append(line)
                left[i] = -1  # this run cannot finish
            elif fold is None:
                results[i] = outcome.value
            else:
                if progress is not None:
                    progress.advance(overall)
                left[i] -= 1
                if left[i] == 0:
                    finish(i)
    if failures:
        raise InputError(f"{len(failures)} task(s) failed, first {failures[0]}; finished folds are saved, run "
                         f"again with --resume to compute only the rest")
    return [results[i] for i in range(len(runs))]
