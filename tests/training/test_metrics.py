from __future__ import annotations

import numpy as np
import pytest

from realtime.core.errors import InputError
from training.metrics import compute_metrics, confusion_matrix, save_confusion

CLASSES = ("a", "b", "c")


def test_hand_computed_example() -> None:
    labels = ["a", "a", "a", "b", "b", "c"]
    predicted = ["a", "a", "b", "b", "c", "c"]
    m = compute_metrics(labels, predicted, CLASSES, folds=["s1", "s1", "s1", "s2", "s2", "s2"])
    # F1: a = 2*2/(4+0+1), b = 2*1/(2+1+1), c = 2*1/(2+1+0); recall: a 2/3, b 1/2, c 1
    assert m.uf1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m.uar == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.n == 6
    assert m.per_class["b"].support == 2 and m.per_class["b"].predicted == 2 and m.per_class["b"].true_positives == 1
    assert m.confusion.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]  # rows true, columns predicted
    assert m.fold_accuracy == {"s1": pytest.approx(2 / 3), "s2": pytest.approx(2 / 3)}
    assert m.mean_fold_accuracy == pytest.approx(2 / 3)


def test_against_a_direct_loop_on_random_predictions() -> None:
    rng = np.random.default_rng(0)
    labels = list(rng.choice(CLASSES, size=200))
    predicted = [label if rng.random() < 0.6 else str(rng.choice(CLASSES)) for label in labels]
    folds = [f"s{i % 7}" for i in range(200)]
    m = compute_metrics(labels, predicted, CLASSES, folds=folds)
    f1s, recalls = [], []
    for c in CLASSES:
        tp = sum(t == c and p == c for t, p in zip(labels, predicted))
        fp = sum(t != c and p == c for t, p in zip(labels, predicted))
        fn = sum(t == c and p != c for t, p in zip(labels, predicted))
        f1s.append(2 * tp / (2 * tp + fp + fn))
        recalls.append(tp / (tp + fn))
    assert m.uf1 == pytest.approx(np.mean(f1s), abs=1e-12)
    assert m.uar == pytest.approx(np.mean(recalls), abs=1e-12)
    per_fold = [np.mean([t == p for t, p, f in zip(labels, predicted, folds) if f == name])
                for name in sorted(set(folds))]
    assert m.mean_fold_accuracy == pytest.approx(np.mean(per_fold))
    assert sum(m.fold_n.values()) == 200


def test_class_without_samples_is_left_out_of_the_means_but_counts_as_false_positive() -> None:
    m = compute_metrics(["a", "a", "b"], ["a", "c", "b"], CLASSES)
    assert m.per_class["c"].support == 0 and m.per_class["c"].predicted == 1
    assert m.per_class["a"].f1 == pytest.approx(2 / 3)  # the 'c' prediction is a's false negative
    assert m.uf1 == pytest.approx((2 / 3 + 1.0) / 2)  # mean over a and b only
    assert m.uar == pytest.approx((0.5 + 1.0) / 2)


def test_perfect_and_constant_predictions() -> None:
    labels = ["a", "b", "c"] * 4
    assert compute_metrics(labels, labels, CLASSES).uf1 == 1.0
    constant = compute_metrics(labels, ["a"] * 12, CLASSES)
    assert constant.uar == pytest.approx(1 / 3)  # recall 1, 0, 0: the chance level of UAR
    assert constant.uf1 == pytest.approx((2 * 4 / (8 + 8)) / 3)


def test_errors_name_the_problem() -> None:
    with pytest.raises(InputError, match="'z'"):
        confusion_matrix(["a"], ["z"], CLASSES)
    with pytest.raises(InputError, match="no predictions"):
        compute_metrics([], [], CLASSES)
    with pytest.raises(InputError, match="2 labels but 1"):
        compute_metrics(["a", "b"], ["a"], CLASSES)


def test_confusion_png_and_numbers(tmp_path) -> None:
    m = compute_metrics(["a", "a", "b", "c"], ["a", "b", "b", "c"], CLASSES)
    save_confusion(m, tmp_path / "confusion.png", title="test")
    assert (tmp_path / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (tmp_path / "confusion.csv").read_text().splitlines()
    assert rows[0] == "true\\predicted,a,b,c"
    assert rows[1:] == ["a,1,1,0", "b,0,1,0", "c,0,0,1"]
    document = m.to_dict()
    assert document["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert set(document) >= {"accuracy", "uf1", "uar", "n", "per_class", "per_fold"}
