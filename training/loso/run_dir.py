"""RUN_DIR on disk: never overwritten, pinned by run.json, one file per finished fold, the outputs.

Layout: run.json (what a resumed run must match), folds/NN_subject.json, predictions.csv,
metrics.json, config.json, confusion.png/.csv, reliability.png (calibration on the test subjects
before and after each fold's temperature) and model.pt. Every JSON file is replaced
atomically, so a killed run leaves either the old file or the new one.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from realtime.core.errors import InputError
from training.loso.context import RUN_FORMAT
from training.loso.folds import Fold
from training.calibration import calibration_summary, save_reliability
from training.metrics import Metrics, compute_metrics, save_confusion
from training.presets import TrainConfig

FINAL_EPOCHS_RULE = "median of the folds' chosen epochs"
# The all-subject model has no subject left out; the folds' test logits are the held-out predictions
# of models trained like it, each on a subject its model never saw.
FINAL_TEMPERATURE_RULE = "the folds' test-subject logits, pooled (each from a model that never saw that subject)"


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


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


@dataclass(frozen=True)
class FoldResult:
    """What a finished fold leaves on disk (RUN_DIR/folds/NN_subject.json)."""

    fold: Fold
    best_epoch: int  # 1-based epoch whose weights made the predictions
    epochs_run: int
    history: list[dict]  # per epoch: train_loss, samples_per_s, <split>_loss, <split>_uf1, <split>_accuracy
    predictions: list[dict]  # per test clip: dataset, subject, clip, label, predicted, probs (T = 1), logits
    train_clips: list[str]  # Clip keys (dataset/subject/clip) trained on
    val_clips: list[str]  # ... used for early stopping and epoch selection
    selection: str
    seconds: float
    temperature: float  # fitted on the validation subjects (training.calibration); 1 with --select-on-test

    def to_json(self) -> dict:
        return {"format": RUN_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> FoldResult:
        return cls(**{**{k: v for k, v in data.items() if k != "format"}, "fold": Fold.from_json(data["fold"])})


@dataclass(frozen=True)
class RunResult:
    """A finished leave-one-subject-out run."""

    run_dir: Path
    metrics: Metrics
    folds: list[FoldResult]
    final_epochs: int | None  # epochs of the all-subject model, None when it was not trained
    config: TrainConfig


class RunDir:
    """The files of one run; `pin` before anything else is written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.model = self.path / "model.pt"

    def pin(self, identity: dict, *, resume: bool) -> None:
        """Check the folder, then write run.json, or check that the one there matches `identity`."""
        check_out_dir(self.path, resume)
        run_json = self.path / "run.json"
        mine = json.loads(json.dumps(identity))  # tuples -> lists, as stored
        if run_json.is_file():
            stored = json.loads(run_json.read_text())
            differing = [k for k in mine if stored.get(k) != mine[k]]
            if differing:
                raise InputError(f"{run_json}: the run there differs in {differing}; --resume continues only "
                                 f"the same configuration on the same data")
        else:
            write_json(run_json, mine)
        (self.path / "folds").mkdir(exist_ok=True)

    def fold_path(self, fold: Fold) -> Path:
        return self.path / "folds" / fold.file_name

    def load_fold(self, fold: Fold) -> FoldResult | None:
        """The fold's saved result, None when it has not finished; refused when its subjects differ."""
        path = self.fold_path(fold)
        if not path.is_file():
            return None
        result = FoldResult.from_json(json.loads(path.read_text()))
        if result.fold != fold:
            raise InputError(f"{path}: fold subjects differ from this run's; start a new --out")
        return result

    def save_fold(self, result: FoldResult) -> None:
        write_json(self.fold_path(result.fold), result.to_json())

    def write_outputs(self, results: Sequence[FoldResult], *, classes: Sequence[str], config: TrainConfig,
                      configuration: dict, fingerprint: str) -> Metrics:
        """predictions.csv, metrics.json (final_model still None), config.json and the confusion matrix."""
        rows = [p for r in results for p in r.predictions]
        with open(self.path / "predictions.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["subject", "clip", "label", "predicted", *[f"prob_{c}" for c in classes],
                             "dataset", "selection"])
            for row in rows:
                writer.writerow([row["subject"], row["clip"], row["label"], row["predicted"],
                                 *[f"{p:.6f}" for p in row["probs"]], row["dataset"], config.selection])
        metrics = compute_metrics([r["label"] for r in rows], [r["predicted"] for r in rows], classes,
                                  folds=[r["subject"] for r in rows])
        document = metrics.to_dict()
        for r in results:
            document["per_fold"][r.fold.test_subject].update(
                best_epoch=r.best_epoch, epochs_run=r.epochs_run, val_subjects=list(r.fold.val_subjects),
                n_train_clips=len(r.train_clips), n_val_clips=len(r.val_clips), seconds=round(r.seconds, 1))
        document["selection"] = {
            "rule": config.selection, "optimistic": config.select_on_test,
            "description": ("each fold's epoch chosen on its own test subject (--select-on-test); optimistic"
                            if config.select_on_test else
                            "early stopping and epoch choice on held-out training subjects; the test subject "
                            "is used for nothing but testing")}
        document["calibration"] = self._calibration(results, classes, config)
        document["configuration"] = configuration
        document["data_fingerprint"] = fingerprint
        document["final_model"] = None
        write_json(self.path / "metrics.json", document)
        write_json(self.path / "config.json", document["configuration"])
        save_confusion(metrics, self.path / "confusion.png",
                       title=f"{config.backbone} {config.inputs}/{config.fusion} - "
                             f"UF1 {metrics.uf1:.3f}, UAR {metrics.uar:.3f} [selection: {config.selection}]")
        return metrics

    def _calibration(self, results: Sequence[FoldResult], classes: Sequence[str], config: TrainConfig) -> dict:
        """ECE and NLL on the test subjects before and after each fold's temperature; reliability.png."""
        target = {name: k for k, name in enumerate(classes)}
        rows = [(p["logits"], target[p["label"]], r.temperature) for r in results for p in r.predictions]
        summary = calibration_summary(np.array([z for z, _, _ in rows]), [t for _, t, _ in rows],
                                      np.array([t for _, _, t in rows]))
        save_reliability(summary, self.path / "reliability.png",
                         title=f"{config.backbone} {config.inputs}/{config.fusion} on the test subjects")
        return {"held_out": "the test subjects, pooled over folds (each scaled by its own fold's temperature)",
                "temperature_fitted_on": ("nothing (--select-on-test: T = 1)" if config.select_on_test
                                          else "each fold's validation subjects"),
                "temperatures": {r.fold.test_subject: r.temperature for r in results}, **summary}

    def record_final(self, epochs: int, temperature: float) -> None:
        """Add the all-subject model (and its temperature) to metrics.json."""
        path = self.path / "metrics.json"
        document = json.loads(path.read_text())
        document["final_model"] = {**final_model_entry(epochs, FINAL_EPOCHS_RULE), "temperature": temperature,
                                   "temperature_fitted_on": FINAL_TEMPERATURE_RULE}
        write_json(path, document)

    def write_unevaluated(self, *, configuration: dict, fingerprint: str, epochs: int, rule: str) -> None:
        """metrics.json of a run that trained only the all-subject model: no numbers, and it says so."""
        write_json(self.path / "metrics.json", {
            "evaluated": False, "accuracy": None, "uf1": None, "uar": None, "configuration": configuration,
            "data_fingerprint": fingerprint, "final_model": final_model_entry(epochs, rule)})


def final_model_entry(epochs: int, rule: str) -> dict:
    return {"path": "model.pt", "epochs": epochs, "epochs_rule": rule, "subjects": "all"}
