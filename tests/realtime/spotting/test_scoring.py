from __future__ import annotations

import pytest

from realtime.core.errors import InputError
from realtime.spotting.scoring import SpottingScore, interval_iou, pool, score_spotting


def test_iou_of_inclusive_intervals() -> None:
    assert interval_iou((10, 19), (10, 19)) == 1.0
    assert interval_iou((10, 19), (15, 24)) == 5 / 15  # 5 shared frames of 15
    assert interval_iou((10, 19), (20, 29)) == 0.0  # touching, no shared frame
    assert interval_iou((10, 10), (10, 10)) == 1.0  # one frame each
    assert interval_iou((0, 9), (0, 4)) == 0.5


@pytest.mark.parametrize(("spotted", "hit"), [
    ((0, 4), True),  # 5 of 10 frames, IoU exactly 0.5
    ((0, 3), False),  # 4 / 10
    ((5, 14), False),  # 5 shared, union 15
    ((3, 12), True),  # 7 shared, union 13
    ((2, 16), False),  # 8 shared, union 17 < 0.5
    ((0, 19), True),  # 10 shared, union 20: exactly 0.5
])
def test_hit_at_exactly_half(spotted: tuple[int, int], hit: bool) -> None:
    score = score_spotting([spotted], [(0, 9)])
    assert (score.tp, score.fp, score.fn) == ((1, 0, 0) if hit else (0, 1, 1))


def test_one_ground_truth_counts_once() -> None:
    score = score_spotting([(10, 19), (11, 20), (100, 110)], [(10, 19)])
    assert (score.tp, score.fp, score.fn) == (1, 2, 0)
    assert score.matches[0].spotted == 0 and score.matches[0].iou == 1.0  # the better of the two
    assert score.precision == pytest.approx(1 / 3) and score.recall == 1.0
    assert score.f1 == pytest.approx(0.5)


def test_one_spotted_interval_hits_once() -> None:
    # [0, 9] has IoU exactly 0.5 with both halves: one TP, the other half is missed.
    score = score_spotting([(0, 9)], [(0, 4), (5, 9)])
    assert (score.tp, score.fp, score.fn) == (1, 0, 1)


def test_matching_maximises_hits_whatever_the_order() -> None:
    # Greedy by best IoU would give spotted A to truth X (IoU 0.91) and leave B with nothing
    # (B hits only X); the optimal pairing A-Y (0.62) and B-X (0.55) scores two hits.
    truth = [(0, 10), (3, 13)]  # X, Y
    spotted = [(1, 10), (0, 5)]  # A, B
    assert interval_iou(spotted[0], truth[0]) > interval_iou(spotted[0], truth[1]) >= 0.5
    assert interval_iou(spotted[1], truth[0]) >= 0.5 > interval_iou(spotted[1], truth[1])
    for order in (1, -1):
        score = score_spotting(spotted[::order], truth[::order])
        assert (score.tp, score.fp, score.fn) == (2, 0, 0)


def test_empty_sides_and_bad_intervals() -> None:
    assert score_spotting([], [(0, 9)]).to_dict() == {"tp": 0, "fp": 0, "fn": 1, "precision": 0.0, "recall": 0.0,
                                                       "f1": 0.0}
    assert (score_spotting([(0, 9)], []).fp, score_spotting([], []).f1) == (1, 0.0)
    with pytest.raises(InputError, match="onset after its offset"):
        score_spotting([(9, 0)], [])


def test_pooled_over_videos_sums_counts() -> None:
    first = score_spotting([(0, 9), (50, 59)], [(0, 9)])  # 1 TP, 1 FP
    second = score_spotting([(0, 9)], [(0, 9), (30, 39), (60, 69)])  # 1 TP, 2 FN
    total = pool([first, second])
    assert total == SpottingScore(tp=2, fp=1, fn=2)
    assert total.f1 == pytest.approx(4 / 7)  # not the mean of the per-video F1s
    assert total.f1 != pytest.approx((first.f1 + second.f1) / 2)
