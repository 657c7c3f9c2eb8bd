"""The epoch loops: one fold with early stopping and epoch choice, and the all-subject model.

A fold's score each epoch is the UF1 on its selection split (validation subjects, or the test
subject with --select-on-test), ties broken by the lower loss; the best epoch's weights make the
fold's test predictions, and its temperature is fitted on its validation subjects (T = 1 with
--select-on-test, which has none). The all-subject model has nothing left to stop it on, so it runs a fixed
number of epochs and is saved as a checkpoint.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from training.calibration import fit_temperature, softmax
from training.checkpoint import CheckpointMeta, save_checkpoint
from training.loso.context import RunContext
from training.loso.folds import Fold, clip_key, seed_for
from training.loso.run_dir import FoldResult

log = logging.getLogger(__name__)

SCORE_TOLERANCE = 1e-12  # UF1s closer than this are a tie (then the lower loss wins)


def better(score: tuple[float, float], best: tuple[float, float] | None) -> bool:
    """(uf1, loss): higher UF1 wins, then lower loss."""
    if best is None:
        return True
    if score[0] > best[0] + SCORE_TOLERANCE:
        return True
    return abs(score[0] - best[0]) <= SCORE_TOLERANCE and score[1] < best[1]


@contextmanager
def _progress_task(context: RunContext, description: str, total: int) -> Iterator[object | None]:
    """A bar on the run's progress display for the duration of a loop (None without a display)."""
    if context.progress is None:
        yield None
        return
    task = context.progress.add_task(description, total=total)
    try:
        yield task
    finally:
        context.progress.remove_task(task)


def _advance(context: RunContext, task: object | None) -> None:
    if task is not None:
        context.progress.update(task, advance=1)


def train_fold(context: RunContext, fold: Fold, n_folds: int) -> FoldResult:
    """Train on the fold's training subjects, choose the epoch, predict its test subject."""
    config = context.config
    start = time.perf_counter()
    by_subject = np.asarray(context.subjects, dtype=object)
    train_idx = [i for i, s in enumerate(by_subject) if s in fold.train_subjects]
    val_idx = [i for i, s in enumerate(by_subject) if s in fold.val_subjects]
    test_idx = [i for i, s in enumerate(by_subject) if s == fold.test_subject]
    seed = seed_for(config.seed, fold.test_subject)
    train_items = context.items(train_idx, train=True, seed=seed)
    test_items = context.items(test_idx, train=False)
    select_items = test_items if config.select_on_test else context.items(val_idx, train=False)
    split = "test" if config.select_on_test else "val"
    trainer = context.trainer(seed)
    history: list[dict] = []
    best: tuple[float, float] | None = None
    best_epoch, best_state = 0, None
    with _progress_task(context, f"fold {fold.index + 1}/{n_folds} ({fold.test_subject}) epochs",
                        config.epochs) as task:
        for epoch in range(1, config.epochs + 1):
            train_loss, rate = trainer.train_epoch(train_items, context.inputs)
            uf1, loss, accuracy, _ = context.score(trainer, select_items)
            history.append({"epoch": epoch, "train_loss": train_loss, "samples_per_s": rate,
                            f"{split}_loss": loss, f"{split}_uf1": uf1, f"{split}_accuracy": accuracy})
            if better((uf1, loss), best):
                best, best_epoch = (uf1, loss), epoch
                best_state = copy.deepcopy(trainer.model.state_dict())
            log.info("fold %d/%d (%s) epoch %d: train loss %.4f (%.1f samples/s), %s loss %.4f, %s UF1 %.3f%s "
                     "[selection: %s]", fold.index + 1, n_folds, fold.test_subject, epoch, train_loss, rate, split,
                     loss, split, uf1, " *" if best_epoch == epoch else "", config.selection)
            _advance(context, task)
            if epoch - best_epoch >= config.patience:
                break
    trainer.model.load_state_dict(best_state)
    # The temperature comes from the validation subjects, like the epoch; with --select-on-test there
    # are none, and T stays 1 rather than be fitted on the test subject too.
    temperature = 1.0
    if not config.select_on_test:
        val_logits, _ = trainer.predict(select_items, context.inputs)
        temperature = fit_temperature(val_logits, [item.target for item in select_items])
    logits, _ = trainer.predict(test_items, context.inputs)
    predictions = []
    for item, z, p in zip(test_items, logits, softmax(logits), strict=True):
        predictions.append({"dataset": item.clip.dataset, "subject": fold.test_subject, "clip": item.clip.clip_id,
                            "label": item.clip.label, "predicted": context.classes[int(p.argmax())],
                            "probs": [float(v) for v in p], "logits": [float(v) for v in z]})
    result = FoldResult(fold=fold, best_epoch=best_epoch, epochs_run=len(history), history=history,
                        predictions=predictions, train_clips=[clip_key(context.clips[i]) for i in train_idx],
                        val_clips=[clip_key(context.clips[i]) for i in val_idx], selection=config.selection,
                        seconds=time.perf_counter() - start, temperature=temperature)
    correct = sum(p["label"] == p["predicted"] for p in predictions)
    log.info("fold %d/%d (%s): epoch %d of %d chosen on %s, temperature %.3f, test accuracy %d/%d "
             "[selection: %s]", fold.index + 1, n_folds, fold.test_subject, best_epoch, len(history),
             "the TEST subject" if config.select_on_test else "validation subjects " + ", ".join(fold.val_subjects),
             temperature, correct, len(predictions), config.selection)
    return result


def train_final(context: RunContext, epochs: int, rule: str, path: Path, *, temperature: float = 1.0) -> None:
    """Train on every clip for `epochs` (chosen by `rule`) and save the checkpoint at `path` (atomically),
    with `temperature` (fitted by the caller on held-out logits; 1 when there are none)."""
    seed = seed_for(context.config.seed, "final")
    trainer = context.trainer(seed)
    items = context.items(range(len(context.clips)), train=True, seed=seed)
    with _progress_task(context, f"all-subject model ({epochs} epochs)", epochs) as task:
        for epoch in range(1, epochs + 1):
            loss, rate = trainer.train_epoch(items, context.inputs)
            log.info("all-subject model epoch %d/%d: train loss %.4f (%.1f samples/s)", epoch, epochs, loss, rate)
            _advance(context, task)
    meta = CheckpointMeta(
        classes=tuple(context.classes), model=context.model_config, input_names=context.names,
        di_input=context.di_input, alignment=context.alignment, data_fingerprint=context.fingerprint,
        training={"config": context.config.to_dict(), "selection": context.config.selection, "epochs": epochs,
                  "epochs_rule": rule, "n_clips": len(context.clips), "subjects": sorted(set(context.subjects)),
                  **context.description}, temperature=temperature)
    save_checkpoint(path, trainer.model.eval().cpu(), meta)
