"""Recognition metrics as MEGC defines them, over predictions pooled across folds.

MEGC (2019 onwards) scores a leave-one-subject-out run on the pooled predictions of all folds:

    accuracy = correct / N
    UF1      = mean over classes of F1_c,     F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)
    UAR      = mean over classes of recall_c, recall_c = TP_c / N_c

The means run over the classes that occur in the labels (N_c > 0): a class with no sample has
no recall, and averaging a 0 for it would punish a run for the data it was given. Its
predictions still count as false positives of that class, and it stays in the confusion matrix.
Mean-per-fold accuracy is reported beside the pooled numbers because published MER tables mix
both; it weights every subject equally whatever its number of clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from realtime.core.errors import InputError


@dataclass(frozen=True)
class ClassMetrics:
    """Per-class counts and scores of the pooled predictions."""

    support: int  # clips whose label is this class
    predicted: int  # clips predicted as this class
    true_positives: int
    precision: float  # 0 when nothing was predicted as this class
    recall: float  # 0 when the class has no clip
    f1: float


@dataclass(frozen=True)
class Metrics:
    """MEGC metrics of one set of predictions; `folds` maps a fold's name to its accuracy."""

    classes: tuple[str, ...]
    n: int
    accuracy: float
    uf1: float
    uar: float
    per_class: dict[str, ClassMetrics]
    confusion: np.ndarray  # (K, K) int64, rows = true class, columns = predicted class
    fold_accuracy: dict[str, float] = field(default_factory=dict)
    fold_n: dict[str, int] = field(default_factory=dict)

    @property
    def mean_fold_accuracy(self) -> float | None:
        """Mean of the per-fold accuracies (every subject weighted equally); None without folds."""
        return float(np.mean(list(self.fold_accuracy.values()))) if self.fold_accuracy else None

    def to_dict(self) -> dict:
        """JSON-ready: top-level accuracy, uf1, uar, then counts, per class, per fold, confusion."""
        return {
            "accuracy": self.accuracy,
            "uf1": self.uf1,
            "uar": self.uar,
            "n": self.n,
            "mean_fold_accuracy": self.mean_fold_accuracy,
            "classes": list(self.classes),
            "per_class": {name: vars(m) for name, m in self.per_class.items()},
            "per_fold": {name: {"accuracy": acc, "n": self.fold_n[name]} for name, acc in self.fold_accuracy.items()},
            "confusion": {"rows": "true class", "columns": "predicted class",
                          "matrix": self.confusion.tolist()},
        }


def confusion_matrix(labels: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class, in the order of `classes`."""
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted({name for name in (*labels, *predicted) if name not in index})
    if unknown:
        raise InputError(f"class names {unknown} are not among the classes {list(classes)}")
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for true, pred in zip(labels, predicted, strict=True):
        matrix[index[true], index[pred]] += 1
    return matrix


def compute_metrics(labels: Sequence[str], predicted: Sequence[str], classes: Sequence[str], *,
                    folds: Sequence[str] | None = None) -> Metrics:
    """MEGC metrics of pooled predictions; `folds` (one fold name per prediction) adds per-fold accuracy."""
    if len(labels) == 0:
        raise InputError("no predictions to score")
    if len(labels) != len(predicted):
        raise InputError(f"{len(labels)} labels but {len(predicted)} predictions")
    matrix = confusion_matrix(labels, predicted, classes)
    tp = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    per_class: dict[str, ClassMetrics] = {}
    for k, name in enumerate(classes):
        denominator = 2 * tp[k] + (predicted_count[k] - tp[k]) + (support[k] - tp[k])
        per_class[name] = ClassMetrics(
            support=int(support[k]), predicted=int(predicted_count[k]), true_positives=int(tp[k]),
            precision=float(tp[k] / predicted_count[k]) if predicted_count[k] else 0.0,
            recall=float(tp[k] / support[k]) if support[k] else 0.0,
            f1=float(2 * tp[k] / denominator) if denominator else 0.0)
    present = [name for name in classes if per_class[name].support > 0]
    fold_accuracy: dict[str, float] = {}
    fold_n: dict[str, int] = {}
    if folds is not None:
        if len(folds) != len(labels):
            raise InputError(f"{len(labels)} predictions but {len(folds)} fold names")
        correct = np.asarray(labels, dtype=object) == np.asarray(predicted, dtype=object)
        fold_array = np.asarray(folds, dtype=object)
        for name in dict.fromkeys(folds):  # first-seen order
            in_fold = fold_array == name
            fold_accuracy[str(name)] = float(correct[in_fold].mean())
            fold_n[str(name)] = int(in_fold.sum())
    return Metrics(
        classes=tuple(classes), n=int(matrix.sum()), accuracy=float(tp.sum() / matrix.sum()),
        uf1=float(np.mean([per_class[name].f1 for name in present])),
        uar=float(np.mean([per_class[name].recall for name in present])),
        per_class=per_class, confusion=matrix, fold_accuracy=fold_accuracy, fold_n=fold_n)


def save_confusion(metrics: Metrics, path: Path, *, title: str) -> None:
    """Confusion matrix as a PNG (counts and row-normalised shading) and as CSV numbers beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    classes = list(metrics.classes)
    matrix = metrics.confusion
    rows = matrix.sum(axis=1, keepdims=True)
    shade = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=np.float64), where=rows > 0)
    side = 1.2 + 0.9 * len(classes)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(shade, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if shade[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    lines = ["true\\predicted," + ",".join(classes)]
    lines += [name + "," + ",".join(str(v) for v in matrix[i]) for i, name in enumerate(classes)]
    path.with_suffix(".csv").write_text("\n".join(lines) + "\n")

