"""The one interval type: its rules (order, inclusive length, phases, IoU, seconds) and its csv columns."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from realtime.core.errors import InputError
from realtime.core.interval import FRAME_COLUMNS, Interval, flat_columns, flat_row
from realtime.spotting.scoring import interval_iou


def test_inclusive_length_bounds_and_contains() -> None:
    interval = Interval(10, 14, 19)
    assert interval.length == 10 and interval.bounds == (10, 19)
    assert interval.contains(10) and interval.contains(19) and not interval.contains(20) and not interval.contains(9)
    assert Interval(5, None, 5).length == 1


@pytest.mark.parametrize("onset, apex, offset, message", [
    (-1, None, 4, "0 <= onset <= offset"), (5, None, 4, "0 <= onset <= offset"),
    (2, 1, 4, "onset <= apex <= offset"), (2, 5, 4, "onset <= apex <= offset")])
def test_bad_intervals_are_refused_in_one_line(onset: int, apex: int | None, offset: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Interval(onset, apex, offset)


def test_phases_share_the_apex_and_need_one() -> None:
    rise, fall = Interval(3, 7, 12).phases()
    assert (rise, fall) == (Interval(3, None, 7), Interval(7, None, 12))
    assert rise.length + fall.length == Interval(3, 7, 12).length + 1
    with pytest.raises(InputError, match="no apex"):
        Interval(3, None, 12).phases()


def test_overlap_and_iou_in_frames_as_megc_counts() -> None:
    a, b = Interval(10, None, 19), Interval(15, None, 24)
    assert a.overlap(b) == b.overlap(a) == 5
    assert a.iou(b) == pytest.approx(5 / 15)
    assert a.iou(a) == 1.0 and a.iou(Interval(20, None, 30)) == 0.0 and a.overlap(Interval(20, None, 30)) == 0
    assert interval_iou((52, 61), (50, 59)) == pytest.approx(8 / 12)  # scoring's tuples go through the same rule


def test_shift_and_seconds() -> None:
    sheet = Interval(99, 104, 128)
    assert sheet.shifted(-95) == Interval(4, 9, 33) and sheet.shifted(-95).shifted(95) == sheet
    assert Interval(4, None, 9).shifted(1) == Interval(5, None, 10)
    assert Interval(30, 45, 60).seconds(30.0) == (1.0, 1.5, 2.0)
    assert Interval(30, None, 60).seconds(200.0) == (0.15, None, 0.3)


@dataclass(frozen=True)
class _Record:
    video: str
    frames: Interval
    onset_s: float


def test_a_record_flattens_to_the_csv_columns_in_place() -> None:
    record = _Record("v1", Interval(10, None, 19), 0.5)
    assert flat_columns(_Record) == ["video", *FRAME_COLUMNS, "onset_s"]
    assert flat_row(record) == {"video": "v1", "onset_frame": 10, "apex_frame": None, "offset_frame": 19,
                                "onset_s": 0.5}
    assert list(flat_row(record)) == flat_columns(_Record)
