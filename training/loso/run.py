"""`LosoRun`: the folds of one configuration, resumable, then the outputs and the all-subject model."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from rich.progress import Progress

from training.calibration import fit_temperature
from training.clip_cache import CachedClip
from training.loso.context import RunContext
from training.loso.epochs import train_final, train_fold
from training.loso.folds import Fold, make_folds
from training.loso.run_dir import FINAL_EPOCHS_RULE, FoldResult, RunDir, RunResult, check_out_dir
from training.presets import TrainConfig

log = logging.getLogger(__name__)

FINAL_ONLY_RULE = "all configured epochs (--final-only: not evaluated)"


def final_temperature(results: Sequence[FoldResult], classes: Sequence[str]) -> float:
    """The all-subject model's T, fitted on the folds' pooled test logits (FINAL_TEMPERATURE_RULE)."""
    target = {name: k for k, name in enumerate(classes)}
    predictions = [p for r in results for p in r.predictions]
    return fit_temperature(np.array([p["logits"] for p in predictions]), [target[p["label"]] for p in predictions])


class LosoRun:
    """Runs (or resumes) the folds of one configuration on a set of cached clips, and writes RUN_DIR.

    RUN_DIR/run.json pins the configuration, classes and data fingerprint; a resumed run must
    match them. Outputs: predictions.csv, metrics.json, confusion.png/.csv, config.json,
    folds/*.json and, unless `config.final_model` is off, model.pt.
    """

    def __init__(self, clips: Sequence[CachedClip], classes: Sequence[str], config: TrainConfig, run_dir: Path, *,
                 alignment: dict, device: str = "auto", pretrained: Path | None = None,
                 progress: Progress | None = None, description: dict | None = None) -> None:
        self.context = RunContext(clips, classes, config, alignment=alignment, device=device, pretrained=pretrained,
                                  progress=progress, description=description)
        self.config = config
        self.run_dir = Path(run_dir)
        self.files = RunDir(self.run_dir)

    def __call__(self, *, resume: bool = False) -> RunResult:
        folds = self.prepare(resume=resume)
        context, config = self.context, self.config
        log.info("leave-one-subject-out: %d clips, %d subjects, classes %s, model %s/%s/%s at %d px on %s; "
                 "selection: %s%s", len(context.clips), len(folds), ", ".join(context.classes), config.backbone,
                 config.inputs, config.fusion, config.size, context.device, config.selection,
                 "; dual-phase samples on" if context.dual_phase else "")
        if config.select_on_test:
            log.warning("--select-on-test: each fold's epoch is chosen on its TEST subject; the numbers are "
                        "optimistic and labelled so in every output")
        results: list[FoldResult] = []
        fold_task = context.progress.add_task("folds", total=len(folds)) if context.progress else None
        for fold in folds:
            result = self.files.load_fold(fold)
            if result is not None:
                log.info("fold %d/%d (%s): finished earlier, loaded from %s", fold.index + 1, len(folds),
                         fold.test_subject, fold.file_name)
            else:
                result = self.run_fold(fold, len(folds))
            results.append(result)
            if fold_task is not None:
                context.progress.update(fold_task, advance=1)
        if fold_task is not None:
            context.progress.remove_task(fold_task)
        metrics = self.files.write_outputs(results, classes=context.classes, config=config,
                                           configuration=context.configuration(), fingerprint=context.fingerprint)
        final_epochs = None
        if config.final_model:
            final_epochs = max(1, int(math.floor(float(np.median([r.best_epoch for r in results])) + 0.5)))
            temperature = 1.0 if config.select_on_test else final_temperature(results, context.classes)
            if resume and self.files.model.is_file():
                log.info("all-subject model: finished earlier (model.pt)")
            else:
                train_final(context, final_epochs, FINAL_EPOCHS_RULE, self.files.model, temperature=temperature)
            self.files.record_final(final_epochs, temperature)
        log.info("accuracy %.4f, UF1 %.4f, UAR %.4f over %d clips (mean per-fold accuracy %.4f) [selection: %s]",
                 metrics.accuracy, metrics.uf1, metrics.uar, metrics.n, metrics.mean_fold_accuracy, config.selection)
        return RunResult(run_dir=self.run_dir, metrics=metrics, folds=results, final_epochs=final_epochs,
                         config=config)

    def train_final_only(self) -> Path:
        """Only the all-subject model, for the configured epochs: no leave-one-subject-out folds, so
        no numbers (metrics.json says so). For a configuration already evaluated, e.g. the demo's."""
        context, config = self.context, self.config
        check_out_dir(self.run_dir, resume=False)
        log.info("all-subject model only: %d clips, %d subjects, model %s/%s/%s at %d px on %s; not evaluated",
                 len(context.clips), len(set(context.subjects)), config.backbone, config.inputs, config.fusion,
                 config.size, context.device)
        train_final(context, config.epochs, FINAL_ONLY_RULE, self.files.model)
        self.files.write_unevaluated(
            configuration={**config.to_dict(), "model": asdict(context.model_config), **context.description},
            fingerprint=context.fingerprint, epochs=config.epochs, rule=FINAL_ONLY_RULE)
        return self.files.model

    # ---- for runners that spread the folds over machines (training.loso.ray_folds)
    def prepare(self, *, resume: bool = False) -> list[Fold]:
        """Check and pin RUN_DIR, and return the folds. Run the missing ones with `run_fold` (anywhere),
        then __call__(resume=True) loads them and writes the outputs."""
        self.files.pin(self.context.identity(), resume=resume)
        return make_folds(self.context.subjects, val_fraction=self.config.val_fraction,
                          select_on_test=self.config.select_on_test)

    def run_fold(self, fold: Fold, n_folds: int) -> FoldResult:
        """Train and test one fold and save it in RUN_DIR/folds/."""
        result = train_fold(self.context, fold, n_folds)
        self.files.save_fold(result)
        return result
