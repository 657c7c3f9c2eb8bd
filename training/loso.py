"""Honest leave-one-subject-out training: folds, the training loop, results on disk, the final model.

Protocol (issue 3):
- One fold per subject. The test subject is used for nothing but testing: each fold holds out
  a validation split of its *training* subjects (by subject, rotating through the sorted list
  so every subject validates equally often), and early stopping and the choice of epoch use
  that split only. The score is the validation UF1, ties broken by the lower validation loss
  (UF1 is what is reported; on a handful of clips it moves in coarse steps).
- `select_on_test=True` is the practice of much published MER code: no validation split, and
  the epoch is chosen on the test subject. It inflates the numbers, so it exists only as an
  explicitly named option and is written into every output ("selection").
- The model trained on all subjects runs for the median of the folds' chosen epochs (there is
  nothing left to stop it on).
- Every finished fold is written to RUN_DIR/folds/ at once; `resume=True` loads those and
  computes only the missing ones. A fold that was cut short restarts from its first epoch: its
  seed depends only on the run's seed and its test subject, so it gives the same result.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress

from realtime.core.errors import InputError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from training.augment import AugmentConfig, dual_phase_applies, jitter_phases, spatial_augment
from training.checkpoint import CheckpointMeta, save_checkpoint
from training.clip_cache import CachedClip, network_inputs
from training.metrics import Metrics, compute_metrics, save_confusion
from training.models import ModelConfig, create_model, dianet_loss, input_names
from training.presets import TrainConfig

log = logging.getLogger(__name__)

RUN_FORMAT = 1  # version of the RUN_DIR layout (run.json, folds/*.json)


# ----------------------------------------------------------------------------------------- folds

@dataclass(frozen=True)
class Fold:
    """One leave-one-subject-out split; `val_subjects` is empty when selecting on the test subject."""

    index: int
    test_subject: str
    train_subjects: tuple[str, ...]
    val_subjects: tuple[str, ...]

    @property
    def file_name(self) -> str:
        return f"{self.index:02d}_{re.sub(r'[^A-Za-z0-9_.-]+', '-', self.test_subject)}.json"


def make_folds(subjects: Sequence[str], *, val_fraction: float, select_on_test: bool) -> list[Fold]:
    """One fold per subject; validation = the next k subjects after the test subject (sorted, cyclic).

    k = max(1, round(val_fraction * (n - 1))), and at least one subject is left to train on.
    """
    ordered = sorted(set(subjects))
    n = len(ordered)
    if n < (2 if select_on_test else 3):
        raise InputError(f"leave-one-subject-out needs at least {2 if select_on_test else 3} subjects "
                         f"(test, {'' if select_on_test else 'validation, '}training), got {n}: {ordered}")
    k = 0 if select_on_test else min(n - 2, max(1, round(val_fraction * (n - 1))))
    folds = []
    for i, test in enumerate(ordered):
        val = tuple(ordered[(i + j) % n] for j in range(1, k + 1))
        train = tuple(s for s in ordered if s != test and s not in val)
        folds.append(Fold(index=i, test_subject=test, train_subjects=train, val_subjects=val))
    return folds


def subject_keys(clips: Sequence[CachedClip]) -> list[str]:
    """The subject each clip belongs to; qualified by dataset when clips come from several datasets."""
    composite = len({clip.dataset for clip in clips}) > 1
    return [f"{clip.dataset}/{clip.subject}" if composite else clip.subject for clip in clips]


def data_fingerprint(clips: Sequence[CachedClip]) -> str:
    """SHA-256 over what the model learns from: clips, labels, phases and frame files (names, sizes)."""
    rows = sorted((c.dataset, c.subject, c.clip_id, c.label, c.onset, c.apex, c.offset, c.source) for c in clips)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _seed_for(seed: int, name: str) -> int:
    """A fold's seed depends on the run's seed and the fold's name only (so resumed folds match)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:4], "little")


# -------------------------------------------------------------------------------------- samples

@dataclass(frozen=True)
class Sample:
    """One training sample: a clip, the DIs that feed the model's inputs (in order), the target."""

    clip: CachedClip
    sources: tuple[str, ...]
    target: int


class NetworkInputs:
    """Network inputs of clips at their coded phases (memoised) or at jittered phases (fresh)."""

    def __init__(self, di_input: DIInputConfig) -> None:
        self.di_input = di_input
        self._memo: dict[tuple[str, str, tuple[str, ...]], tuple[np.ndarray, ...]] = {}

    def coded(self, clip: CachedClip, sources: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        key = (clip.stack_path.name, clip.clip_id, sources)
        if key not in self._memo:
            self._memo[key] = network_inputs(clip.dis, sources, self.di_input)
        return self._memo[key]

    def jittered(self, clip: CachedClip, sources: tuple[str, ...], rng: np.random.Generator,
                 augment: AugmentConfig) -> tuple[np.ndarray, ...]:
        phases = jitter_phases(clip.onset, clip.apex, clip.offset, clip.num_frames, rng, config=augment, fps=clip.fps)
        return network_inputs(clip.dynamic_images(*phases), sources, self.di_input)


def _batches(items: Sequence[Sample], inputs: NetworkInputs, *, batch_size: int, device: torch.device,
             rng: np.random.Generator | None = None,
             augment: AugmentConfig | None = None) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
    """Batches of (inputs, each (B, 1, S, S) float32, targets (B,) int64); shuffled and jittered when `rng` is given."""
    order = rng.permutation(len(items)) if rng is not None else np.arange(len(items))
    for start in range(0, len(order), batch_size):
        chosen = [items[i] for i in order[start:start + batch_size]]
        if rng is not None and len(chosen) == 1 and start > 0:
            break  # a batch of one breaks batch norm; it is reshuffled into the next epoch
        if rng is not None and augment is not None and augment.jitters:
            arrays = [inputs.jittered(item.clip, item.sources, rng, augment) for item in chosen]
        else:
            arrays = [inputs.coded(item.clip, item.sources) for item in chosen]
        stacked = tuple(torch.from_numpy(np.stack([a[j] for a in arrays])).to(device) for j in range(len(arrays[0])))
        targets = torch.tensor([item.target for item in chosen], dtype=torch.int64, device=device)
        yield stacked, targets


# ----------------------------------------------------------------------------------- training

def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cpu' | 'cuda' | 'cuda:N' as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu" or name.startswith("cuda"):
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"--device {name}: CUDA is not available on this machine")
        return torch.device(name)
    raise InputError(f"unknown device {name!r}; use auto, cpu or cuda[:N]")


class Trainer:
    """The model, optimiser and mixed-precision state of one fold (or of the final model).

    Everything random in it (weights, shuffling, jitter, spatial augmentation) derives from `seed`.
    """

    def __init__(self, config: TrainConfig, model_config: ModelConfig, device: torch.device, *,
                 pretrained: Path | None, seed: int) -> None:
        self.config = config
        self.device = device
        torch.manual_seed(seed)
        self.model = create_model(model_config, pretrained=pretrained).to(device)
        optimiser = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        self.optimiser = optimiser(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        # Cosine decay over the configured epochs, the same curve in every fold and in the final model
        # (which stops at the folds' median epoch, where their learning rate had decayed to).
        self.scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(self.optimiser, T_max=config.epochs)
                          if config.schedule == "cosine" else None)
        self.amp = device.type == "cuda"  # fp16 autocast + loss scaling on CUDA only
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.generator = torch.Generator().manual_seed(seed)  # spatial augmentation draws
        self.rng = np.random.default_rng(seed)  # shuffling and phase jitter

    def train_epoch(self, items: Sequence[Sample], inputs: NetworkInputs) -> tuple[float, float]:
        """One pass over `items` -> (mean training loss, samples per second)."""
        self.model.train()
        total, count, start = 0.0, 0, time.perf_counter()
        for x, y in _batches(items, inputs, batch_size=self.config.batch_size, device=self.device,
                             rng=self.rng, augment=self.config.augment):
            x = spatial_augment(x, self.config.augment, self.generator)
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                loss = dianet_loss(self.model(*x), y, cos_lambda=self.config.cos_lambda)
            self.optimiser.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimiser)
            self.scaler.update()
            total += float(loss.detach()) * len(y)
            count += len(y)
        if count == 0:
            raise InputError("no training samples in this fold")
        if self.scheduler is not None:
            self.scheduler.step()
        return total / count, count / (time.perf_counter() - start)

    @torch.no_grad()
    def predict(self, items: Sequence[Sample], inputs: NetworkInputs) -> tuple[np.ndarray, float]:
        """Class probabilities (N, K) float64 of `items` in order, and their mean loss."""
        self.model.eval()
        probs, total = [], 0.0
        for x, y in _batches(items, inputs, batch_size=max(self.config.batch_size, 64), device=self.device):
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                output = self.model(*x)
                loss = dianet_loss(output, y, cos_lambda=self.config.cos_lambda)
            probs.append(torch.softmax(output.logits.float(), dim=1).cpu().numpy().astype(np.float64))
            total += float(loss) * len(y)
        return np.concatenate(probs), total / len(items)


# -------------------------------------------------------------------------------------- results

def check_out_dir(run_dir: Path, resume: bool) -> None:
    """Never overwrite: a folder with anything but a log in it is continued only with `resume`."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{run_dir}: exists and is not a folder")
    contents = [p.name for p in run_dir.iterdir() if p.name != "train.log"] if run_dir.is_dir() else []
    if contents and not resume:
        raise InputError(f"{run_dir} already holds results; pass --resume to continue that run or choose "
                         f"another --out")
    run_dir.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class FoldResult:
    """What a finished fold leaves on disk (RUN_DIR/folds/NN_subject.json)."""

    fold: Fold
    best_epoch: int  # 1-based epoch whose weights made the predictions
    epochs_run: int
    history: list[dict]  # per epoch: train_loss, samples_per_s, <split>_loss, <split>_uf1, <split>_accuracy
    predictions: list[dict]  # per test clip: dataset, subject, clip, label, predicted, probs (class order)
    train_clips: list[str]  # Clip keys (dataset/subject/clip) trained on
    val_clips: list[str]  # ... used for early stopping and epoch selection
    selection: str
    seconds: float

    def to_json(self) -> dict:
        return {"format": RUN_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> FoldResult:
        fold = data["fold"]
        fold = Fold(index=fold["index"], test_subject=fold["test_subject"],
                    train_subjects=tuple(fold["train_subjects"]), val_subjects=tuple(fold["val_subjects"]))
        return cls(**{**{k: v for k, v in data.items() if k != "format"}, "fold": fold})


@dataclass(frozen=True)
class RunResult:
    """A finished leave-one-subject-out run."""

    run_dir: Path
    metrics: Metrics
    folds: list[FoldResult]
    final_epochs: int | None  # epochs of the all-subject model, None when it was not trained
    config: TrainConfig


def _clip_key(clip: CachedClip) -> str:
    return f"{clip.dataset}/{clip.subject}/{clip.clip_id}"


def _better(score: tuple[float, float], best: tuple[float, float] | None) -> bool:
    """(uf1, loss): higher UF1 wins, then lower loss."""
    if best is None:
        return True
    if score[0] > best[0] + 1e-12:
        return True
    return abs(score[0] - best[0]) <= 1e-12 and score[1] < best[1]


class LosoRun:
    """Runs (or resumes) the folds of one configuration on a set of cached clips, and writes RUN_DIR.

    RUN_DIR/run.json pins the configuration, classes and data fingerprint; a resumed run must
    match them. Outputs: predictions.csv, metrics.json, confusion.png/.csv, config.json,
    folds/*.json and, unless `config.final_model` is off, model.pt.
    """

    def __init__(self, clips: Sequence[CachedClip], classes: Sequence[str], config: TrainConfig, run_dir: Path, *,
                 alignment: dict, device: str = "auto", pretrained: Path | None = None,
                 progress: Progress | None = None, description: dict | None = None) -> None:
        unknown = sorted({clip.label for clip in clips} - set(classes))
        if unknown:
            raise InputError(f"clip labels {unknown} are not among the classes {list(classes)}")
        self.clips = list(clips)
        self.classes = tuple(classes)
        self.config = config
        self.run_dir = Path(run_dir)
        self.alignment = alignment
        self.device = resolve_device(device)
        self.pretrained = pretrained
        self.progress = progress
        self.description = description or {}
        self.subjects = subject_keys(self.clips)
        self.fingerprint = data_fingerprint(self.clips)
        self.model_config = ModelConfig(backbone=config.backbone, num_classes=len(self.classes), inputs=config.inputs,
                                        fusion=config.fusion, shared_backbone=config.shared_backbone)
        self.names = tuple(input_names(self.model_config))
        self.di_input = DIInputConfig(size=config.size)
        self.inputs = NetworkInputs(self.di_input)
        self.target = {name: i for i, name in enumerate(self.classes)}
        self.dual_phase = config.augment.dual_phase and dual_phase_applies(config.inputs)

    # ---- bookkeeping
    def _identity(self) -> dict:
        return {"format": RUN_FORMAT, "config": self.config.to_dict(), "classes": list(self.classes),
                "data_fingerprint": self.fingerprint, "alignment": self.alignment,
                "pretrained": str(self.pretrained) if self.pretrained else None}

    def _prepare_dir(self, resume: bool) -> None:
        check_out_dir(self.run_dir, resume)
        run_json = self.run_dir / "run.json"
        mine = json.loads(json.dumps(self._identity()))  # tuples -> lists, as stored
        if run_json.is_file():
            stored = json.loads(run_json.read_text())
            differing = [k for k in mine if stored.get(k) != mine[k]]
            if differing:
                raise InputError(f"{run_json}: the run there differs in {differing}; --resume continues only "
                                 f"the same configuration on the same data")
        else:
            _write_json(run_json, mine)
        (self.run_dir / "folds").mkdir(exist_ok=True)

    def _items(self, indices: Sequence[int], *, train: bool) -> list[Sample]:
        items = []
        for i in indices:
            clip = self.clips[i]
            target = self.target[clip.label]
            items.append(Sample(clip, self.names, target))
            if train and self.dual_phase:
                items += [Sample(clip, ("di_onset",), target), Sample(clip, ("di_offset",), target)]
        return items

    def _score(self, trainer: Trainer, items: Sequence[Sample]) -> tuple[float, float, float, np.ndarray]:
        probs, loss = trainer.predict(items, self.inputs)
        labels = [self.classes[item.target] for item in items]
        predicted = [self.classes[k] for k in probs.argmax(axis=1)]
        m = compute_metrics(labels, predicted, self.classes)
        return m.uf1, loss, m.accuracy, probs

    # ---- one fold
    def _run_fold(self, fold: Fold, n_folds: int) -> FoldResult:
        start = time.perf_counter()
        by_subject = np.asarray(self.subjects, dtype=object)
        train_idx = [i for i, s in enumerate(by_subject) if s in fold.train_subjects]
        val_idx = [i for i, s in enumerate(by_subject) if s in fold.val_subjects]
        test_idx = [i for i, s in enumerate(by_subject) if s == fold.test_subject]
        train_items = self._items(train_idx, train=True)
        test_items = self._items(test_idx, train=False)
        select_items = test_items if self.config.select_on_test else self._items(val_idx, train=False)
        split = "test" if self.config.select_on_test else "val"
        trainer = Trainer(self.config, self.model_config, self.device, pretrained=self.pretrained,
                          seed=_seed_for(self.config.seed, fold.test_subject))
        task = self.progress.add_task(f"fold {fold.index + 1}/{n_folds} ({fold.test_subject}) epochs",
                                      total=self.config.epochs) if self.progress else None
        history: list[dict] = []
        best: tuple[float, float] | None = None
        best_epoch, best_state = 0, None
        for epoch in range(1, self.config.epochs + 1):
            train_loss, rate = trainer.train_epoch(train_items, self.inputs)
            uf1, loss, accuracy, _ = self._score(trainer, select_items)
            history.append({"epoch": epoch, "train_loss": train_loss, "samples_per_s": rate,
                            f"{split}_loss": loss, f"{split}_uf1": uf1, f"{split}_accuracy": accuracy})
            if _better((uf1, loss), best):
                best, best_epoch = (uf1, loss), epoch
                best_state = copy.deepcopy(trainer.model.state_dict())
            log.info("fold %d/%d (%s) epoch %d: train loss %.4f (%.1f samples/s), %s loss %.4f, %s UF1 %.3f%s "
                     "[selection: %s]", fold.index + 1, n_folds, fold.test_subject, epoch, train_loss, rate, split,
                     loss, split, uf1, " *" if best_epoch == epoch else "", self.config.selection)
            if task is not None:
                self.progress.update(task, advance=1)
            if epoch - best_epoch >= self.config.patience:
                break
        if task is not None:
            self.progress.remove_task(task)
        trainer.model.load_state_dict(best_state)
        probs, _ = trainer.predict(test_items, self.inputs)
        predictions = []
        for item, p in zip(test_items, probs, strict=True):
            predictions.append({"dataset": item.clip.dataset, "subject": fold.test_subject, "clip": item.clip.clip_id,
                                "label": item.clip.label, "predicted": self.classes[int(p.argmax())],
                                "probs": [float(v) for v in p]})
        result = FoldResult(fold=fold, best_epoch=best_epoch, epochs_run=len(history), history=history,
                            predictions=predictions, train_clips=[_clip_key(self.clips[i]) for i in train_idx],
                            val_clips=[_clip_key(self.clips[i]) for i in val_idx], selection=self.config.selection,
                            seconds=time.perf_counter() - start)
        correct = sum(p["label"] == p["predicted"] for p in predictions)
        log.info("fold %d/%d (%s): epoch %d of %d chosen on %s, test accuracy %d/%d [selection: %s]",
                 fold.index + 1, n_folds, fold.test_subject, best_epoch, len(history),
                 "the TEST subject" if self.config.select_on_test
                 else "validation subjects " + ", ".join(fold.val_subjects),
                 correct, len(predictions), self.config.selection)
        return result

    # ---- the final model
    def _train_final(self, epochs: int, rule: str = "median of the folds' chosen epochs") -> None:
        trainer = Trainer(self.config, self.model_config, self.device, pretrained=self.pretrained,
                          seed=_seed_for(self.config.seed, "final"))
        items = self._items(range(len(self.clips)), train=True)
        task = self.progress.add_task(f"all-subject model ({epochs} epochs)", total=epochs) if self.progress else None
        for epoch in range(1, epochs + 1):
            loss, rate = trainer.train_epoch(items, self.inputs)
            log.info("all-subject model epoch %d/%d: train loss %.4f (%.1f samples/s)", epoch, epochs, loss, rate)
            if task is not None:
                self.progress.update(task, advance=1)
        if task is not None:
            self.progress.remove_task(task)
        meta = CheckpointMeta(
            classes=tuple(self.classes), model=self.model_config, input_names=self.names, di_input=self.di_input,
            alignment=self.alignment, data_fingerprint=self.fingerprint,
            training={"config": self.config.to_dict(), "selection": self.config.selection, "epochs": epochs,
                      "epochs_rule": rule, "n_clips": len(self.clips),
                      "subjects": sorted(set(self.subjects)), **self.description})
        save_checkpoint(self.run_dir / "model.pt", trainer.model.eval().cpu(), meta)  # atomic

    # ---- everything
    def __call__(self, *, resume: bool = False) -> RunResult:
        self._prepare_dir(resume)
        folds = make_folds(self.subjects, val_fraction=self.config.val_fraction,
                           select_on_test=self.config.select_on_test)
        log.info("leave-one-subject-out: %d clips, %d subjects, classes %s, model %s/%s/%s at %d px on %s; "
                 "selection: %s%s", len(self.clips), len(folds), ", ".join(self.classes), self.config.backbone,
                 self.config.inputs, self.config.fusion, self.config.size, self.device, self.config.selection,
                 "; dual-phase samples on" if self.dual_phase else "")
        if self.config.select_on_test:
            log.warning("--select-on-test: each fold's epoch is chosen on its TEST subject; the numbers are "
                        "optimistic and labelled so in every output")
        results: list[FoldResult] = []
        fold_task = self.progress.add_task("folds", total=len(folds)) if self.progress else None
        for fold in folds:
            path = self.run_dir / "folds" / fold.file_name
            if path.is_file():
                result = FoldResult.from_json(json.loads(path.read_text()))
                if result.fold != fold:
                    raise InputError(f"{path}: fold subjects differ from this run's; start a new --out")
                log.info("fold %d/%d (%s): finished earlier, loaded from %s", fold.index + 1, len(folds),
                         fold.test_subject, path.name)
            else:
                result = self._run_fold(fold, len(folds))
                _write_json(path, result.to_json())
            results.append(result)
            if fold_task is not None:
                self.progress.update(fold_task, advance=1)
        if fold_task is not None:
            self.progress.remove_task(fold_task)
        metrics = self._write_outputs(results)
        final_epochs = None
        if self.config.final_model:
            final_epochs = max(1, int(math.floor(float(np.median([r.best_epoch for r in results])) + 0.5)))
            if resume and (self.run_dir / "model.pt").is_file():
                log.info("all-subject model: finished earlier (model.pt)")
            else:
                self._train_final(final_epochs)
            self._update_metrics_final(final_epochs)
        log.info("accuracy %.4f, UF1 %.4f, UAR %.4f over %d clips (mean per-fold accuracy %.4f) [selection: %s]",
                 metrics.accuracy, metrics.uf1, metrics.uar, metrics.n, metrics.mean_fold_accuracy,
                 self.config.selection)
        return RunResult(run_dir=self.run_dir, metrics=metrics, folds=results, final_epochs=final_epochs,
                         config=self.config)

    def train_final_only(self) -> Path:
        """Only the all-subject model, for the configured epochs: no leave-one-subject-out folds, so
        no numbers (metrics.json says so). For a configuration already evaluated, e.g. the demo's."""
        check_out_dir(self.run_dir, resume=False)
        rule = "all configured epochs (--final-only: not evaluated)"
        log.info("all-subject model only: %d clips, %d subjects, model %s/%s/%s at %d px on %s; not evaluated",
                 len(self.clips), len(set(self.subjects)), self.config.backbone, self.config.inputs,
                 self.config.fusion, self.config.size, self.device)
        self._train_final(self.config.epochs, rule)
        _write_json(self.run_dir / "metrics.json", {
            "evaluated": False, "accuracy": None, "uf1": None, "uar": None,
            "configuration": {**self.config.to_dict(), "model": asdict(self.model_config), **self.description},
            "data_fingerprint": self.fingerprint,
            "final_model": {"path": "model.pt", "epochs": self.config.epochs, "epochs_rule": rule, "subjects": "all"}})
        return self.run_dir / "model.pt"

    # ---- for runners that spread the folds over machines (training.ray_folds, issue 7)
    def prepare(self, *, resume: bool = False) -> list[Fold]:
        """Check and pin RUN_DIR as __call__ does, and return the folds. Run the missing ones with
        `run_fold` (anywhere), then __call__(resume=True) loads them and writes the outputs."""
        self._prepare_dir(resume)
        return make_folds(self.subjects, val_fraction=self.config.val_fraction,
                          select_on_test=self.config.select_on_test)

    def run_fold(self, fold: Fold, n_folds: int) -> FoldResult:
        """Train and test one fold and save it in RUN_DIR/folds/, as __call__ does for a missing fold."""
        result = self._run_fold(fold, n_folds)
        _write_json(self.run_dir / "folds" / fold.file_name, result.to_json())
        return result

    def _write_outputs(self, results: Sequence[FoldResult]) -> Metrics:
        rows = [p for r in results for p in r.predictions]
        with open(self.run_dir / "predictions.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["subject", "clip", "label", "predicted", *[f"prob_{c}" for c in self.classes],
                             "dataset", "selection"])
            for row in rows:
                writer.writerow([row["subject"], row["clip"], row["label"], row["predicted"],
                                 *[f"{p:.6f}" for p in row["probs"]], row["dataset"], self.config.selection])
        metrics = compute_metrics([r["label"] for r in rows], [r["predicted"] for r in rows], self.classes,
                                  folds=[r["subject"] for r in rows])
        document = metrics.to_dict()
        for r in results:
            document["per_fold"][r.fold.test_subject].update(
                best_epoch=r.best_epoch, epochs_run=r.epochs_run, val_subjects=list(r.fold.val_subjects),
                n_train_clips=len(r.train_clips), n_val_clips=len(r.val_clips), seconds=round(r.seconds, 1))
        document["selection"] = {
            "rule": self.config.selection, "optimistic": self.config.select_on_test,
            "description": ("each fold's epoch chosen on its own test subject (--select-on-test); optimistic"
                            if self.config.select_on_test else
                            "early stopping and epoch choice on held-out training subjects; the test subject "
                            "is used for nothing but testing")}
        document["configuration"] = {**self.config.to_dict(), "model": asdict(self.model_config),
                                     "input_names": list(self.names), "di_input": asdict(self.di_input),
                                     "alignment": self.alignment, "device": str(self.device),
                                     "dual_phase_active": self.dual_phase,
                                     "pretrained": str(self.pretrained) if self.pretrained else None,
                                     **self.description}
        document["data_fingerprint"] = self.fingerprint
        document["final_model"] = None
        _write_json(self.run_dir / "metrics.json", document)
        _write_json(self.run_dir / "config.json", document["configuration"])
        save_confusion(metrics, self.run_dir / "confusion.png",
                       title=f"{self.config.backbone} {self.config.inputs}/{self.config.fusion} - "
                             f"UF1 {metrics.uf1:.3f}, UAR {metrics.uar:.3f} [selection: {self.config.selection}]")
        return metrics

    def _update_metrics_final(self, epochs: int) -> None:
        path = self.run_dir / "metrics.json"
        document = json.loads(path.read_text())
        document["final_model"] = {"path": "model.pt", "epochs": epochs,
                                   "epochs_rule": "median of the folds' chosen epochs", "subjects": "all"}
        _write_json(path, document)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
