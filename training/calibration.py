"""Confidences that mean something: temperature scaling, calibration error, reliability diagrams.

A network trained to a low cross-entropy on a few hundred clips is over-confident on unseen
subjects (the demo model says >= 99.85 % on every event). Temperature scaling (Guo et al. 2017)
divides the logits by one scalar T > 0 fitted by minimising the negative log-likelihood on
held-out data: it never changes the argmax (accuracy, UF1 and UAR stay the same), only how far
the probabilities are from uniform. Leave-one-subject-out fits T on each fold's validation
subjects, never its test subject, so the calibration error on the test subjects is honest.

The NLL of softmax(z / T) is convex in beta = 1 / T (log-sum-exp of a linear function minus a
linear one), so a bounded one-dimensional search finds the optimum.

Expected calibration error (ECE): predictions binned by their top-class confidence into
`bins` equal-width bins; ECE = sum over bins of (n_b / N) |accuracy_b - mean confidence_b|.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from realtime.core.errors import InputError


@dataclass(frozen=True)
class CalibrationConfig:
    """How temperatures are searched and how calibration is measured."""

    min_temperature: float = 0.05  # a sharper softmax than this is never needed on real logits
    max_temperature: float = 100.0  # at 100 even logits 20 apart give near-uniform probabilities
    bins: int = 10  # equal-width confidence bins of the ECE and the reliability diagram


CALIBRATION = CalibrationConfig()


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(N, K) logits -> (N, K) float64 probabilities of softmax(logits / temperature)."""
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1))


def nll(logits: np.ndarray, targets: Sequence[int], temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the targets under softmax(logits / temperature)."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-logp[np.arange(len(logp)), np.asarray(targets)].mean())


def fit_temperature(logits: np.ndarray, targets: Sequence[int], config: CalibrationConfig = CALIBRATION) -> float:
    """The T in [min, max] that minimises the NLL of `targets` (one bounded search over 1 / T)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or len(logits) == 0 or len(logits) != len(targets):
        raise InputError(f"temperature fit needs (N, K) logits and N targets, got {logits.shape} and {len(targets)}")
    result = minimize_scalar(lambda beta: nll(logits, targets, 1.0 / beta), method="bounded",
                             bounds=(1.0 / config.max_temperature, 1.0 / config.min_temperature),
                             options={"xatol": 1e-6})
    return float(1.0 / result.x)


@dataclass(frozen=True)
class Reliability:
    """Per-bin counts, accuracy and mean confidence of the top-class predictions, and the ECE."""

    edges: tuple[float, ...]  # bins + 1 edges over [0, 1]
    counts: tuple[int, ...]
    accuracy: tuple[float | None, ...]  # None for an empty bin
    confidence: tuple[float | None, ...]
    ece: float

    def to_dict(self) -> dict:
        return {"ece": self.ece, "edges": list(self.edges), "counts": list(self.counts),
                "accuracy": list(self.accuracy), "confidence": list(self.confidence)}


def reliability(probabilities: np.ndarray, targets: Sequence[int], bins: int = CALIBRATION.bins) -> Reliability:
    """Bin the top-class confidences (a confidence of exactly 1 falls in the last bin)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(probabilities) == 0:
        raise InputError("no predictions to measure calibration on")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(targets)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts, accs, confs, ece = [], [], [], 0.0
    for b in range(bins):
        members = which == b
        n = int(members.sum())
        counts.append(n)
        if n == 0:
            accs.append(None)
            confs.append(None)
            continue
        acc, conf = float(correct[members].mean()), float(confidence[members].mean())
        accs.append(acc)
        confs.append(conf)
        ece += n / len(confidence) * abs(acc - conf)
    return Reliability(edges=tuple(float(e) for e in edges), counts=tuple(counts), accuracy=tuple(accs),
                       confidence=tuple(confs), ece=float(ece))


def calibration_summary(logits: np.ndarray, targets: Sequence[int], temperatures: np.ndarray,
                        config: CalibrationConfig = CALIBRATION) -> dict:
    """ECE and NLL of held-out predictions before (T = 1) and after their temperatures (one per row)."""
    logits = np.asarray(logits, dtype=np.float64)
    scaled = logits / np.asarray(temperatures, dtype=np.float64)[:, None]
    before, after = reliability(softmax(logits), targets, config.bins), reliability(softmax(scaled), targets,
                                                                                     config.bins)
    return {"n": len(logits), "bins": config.bins,
            "before": {"ece": before.ece, "nll": nll(logits, targets), "reliability": before.to_dict()},
            "after": {"ece": after.ece, "nll": nll(scaled, targets), "reliability": after.to_dict()}}


def save_reliability(summary: dict, path: Path, *, title: str) -> None:
    """Reliability diagram of `calibration_summary`: accuracy against confidence per bin, before and after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.8, 4.4))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for key, style in (("before", "o-"), ("after", "s-")):
        curve = summary[key]["reliability"]
        points = [(c, a) for c, a in zip(curve["confidence"], curve["accuracy"], strict=True) if c is not None]
        axis.plot([c for c, _ in points], [a for _, a in points], style,
                  label=f"{'T = 1' if key == 'before' else 'temperature-scaled'} (ECE {summary[key]['ece']:.3f}, "
                        f"NLL {summary[key]['nll']:.3f})")
    axis.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence (top class)", ylabel="accuracy",
             title=f"{title}\n{summary['n']} held-out predictions, {summary['bins']} bins")
    axis.legend(loc="upper left", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
