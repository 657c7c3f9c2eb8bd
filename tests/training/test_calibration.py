"""Temperature scaling and calibration error on constructed predictions whose answers are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from realtime.core.errors import InputError
from training.calibration import (CalibrationConfig, calibration_summary, fit_temperature, nll, reliability,
                                  save_reliability, softmax)


def overconfident(n: int = 2000, k: int = 4, scale: float = 6.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the 'network' reports scale * z (over-confident by `scale`)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, size=(n, k))
    p = softmax(z)
    targets = np.array([rng.choice(k, p=row) for row in p])
    return scale * z, targets


def test_temperature_recovers_the_overconfidence_and_lowers_nll() -> None:
    logits, targets = overconfident(scale=6.0)
    t = fit_temperature(logits, targets)
    assert t == pytest.approx(6.0, rel=0.15)
    assert nll(logits, targets, t) < 0.6 * nll(logits, targets)
    # The argmax never changes: accuracy is the same before and after.
    assert (softmax(logits, t).argmax(1) == softmax(logits).argmax(1)).all()


def test_underconfident_logits_get_a_temperature_below_one() -> None:
    logits, targets = overconfident(scale=0.25, seed=1)
    assert fit_temperature(logits, targets) == pytest.approx(0.25, rel=0.15)


def test_temperature_stays_within_its_bounds_on_separable_data() -> None:
    logits = np.array([[5.0, 0.0], [0.0, 5.0]] * 10)
    targets = np.array([0, 1] * 10)  # every prediction right: NLL keeps falling as T -> 0
    config = CalibrationConfig(min_temperature=0.1)
    t = fit_temperature(logits, targets, config)
    assert 0.1 <= t < 0.2 and nll(logits, targets, t) < 1e-9  # the search stops where the NLL is flat at 0
    with pytest.raises(InputError, match="targets"):
        fit_temperature(logits, targets[:3])


def test_ece_of_known_cases() -> None:
    # Always right at confidence 1: perfectly calibrated.
    assert reliability(np.eye(3)[[0, 1, 2, 0]], [0, 1, 2, 0]).ece == pytest.approx(0.0)
    # Confidence 0.9 on every prediction, half of them right: ECE = |0.5 - 0.9|.
    probs = np.tile([0.9, 0.1], (10, 1))
    assert reliability(probs, [0] * 5 + [1] * 5).ece == pytest.approx(0.4)
    # Two bins: 4 at 0.6 (3 right: gap 0.15) and 6 at 0.95 (6 right: gap 0.05): 0.4 * 0.15 + 0.6 * 0.05.
    probs = np.array([[0.6, 0.4]] * 4 + [[0.95, 0.05]] * 6)
    curve = reliability(probs, [0, 0, 0, 1] + [0] * 6, bins=10)
    assert curve.ece == pytest.approx(0.4 * 0.15 + 0.6 * 0.05)
    assert curve.counts[5] == 4 and curve.counts[9] == 6 and sum(curve.counts) == 10
    assert curve.accuracy[5] == pytest.approx(0.75) and curve.accuracy[0] is None


def test_summary_and_reliability_diagram(tmp_path) -> None:
    logits, targets = overconfident(n=600)
    half = len(logits) // 2
    t = fit_temperature(logits[:half], targets[:half])  # fitted on one half, measured on the other
    summary = calibration_summary(logits[half:], targets[half:], np.full(len(logits) - half, t))
    assert summary["n"] == 300
    assert summary["after"]["ece"] < summary["before"]["ece"]
    assert summary["after"]["nll"] < summary["before"]["nll"]
    json.dumps(summary)  # goes into metrics.json as is
    save_reliability(summary, tmp_path / "reliability.png", title="constructed")
    from PIL import Image

    with Image.open(tmp_path / "reliability.png") as image:
        assert image.size[0] > 300 and len(np.unique(np.asarray(image.convert("L")))) > 10
