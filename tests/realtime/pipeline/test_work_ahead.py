"""map_ahead: the second thread of the frame path keeps order, overlaps, passes errors, stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from realtime.pipeline.work_ahead import map_ahead


def test_results_in_order_computed_on_another_thread() -> None:
    threads = set()

    def square(x: int) -> int:
        threads.add(threading.current_thread().name)
        return x * x

    assert list(map_ahead(square, range(50), name="squares")) == [(x, x * x) for x in range(50)]
    assert threads == {"squares"}


def test_the_worker_runs_while_the_caller_reads_the_next_item() -> None:
    """Item k's work waits until the caller has read item k + 1: run one after the other, it
    would never finish."""
    read = [threading.Event() for _ in range(6)]

    def items() -> Iterator[int]:
        for k in range(5):
            read[k].set()
            yield k
        read[5].set()

    def work(k: int) -> int:
        assert read[k + 1].wait(timeout=5), f"item {k + 1} was not read while item {k} was worked on"
        return k

    assert [k for k, _ in map_ahead(work, items())] == list(range(5))


def test_an_error_in_the_work_comes_in_its_items_place() -> None:
    def work(x: int) -> int:
        if x == 3:
            raise ValueError("bad item 3")
        return x

    got = []
    with pytest.raises(ValueError, match="bad item 3"):
        for x, _ in map_ahead(work, range(10)):
            got.append(x)
    assert got == [0, 1, 2]


def test_a_failing_source_still_delivers_what_it_gave() -> None:
    def items() -> Iterator[int]:
        yield from range(4)
        raise OSError("video cut off")

    got = []
    with pytest.raises(OSError, match="cut off"):
        for x, _ in map_ahead(lambda x: x, items(), depth=3):
            got.append(x)
    assert got == [0, 1, 2, 3]


def test_stopping_early_stops_and_joins_the_worker() -> None:
    done = []
    for x, _ in map_ahead(done.append, range(1000), depth=2, name="early"):
        if x == 5:
            break
    assert len(done) <= 5 + 2  # at most `depth` items worked on ahead of the one the caller stopped at
    assert not any(t.name == "early" for t in threading.enumerate())


def test_a_source_that_is_not_ready_holds_no_result_back() -> None:
    """A live camera slower than the work: each result goes out before the next frame is awaited."""
    log = []

    def items() -> Iterator[int]:
        for k in range(4):
            log.append(f"read {k}")
            yield k

    for k, _ in map_ahead(lambda x: x, items(), ready=lambda: False):
        log.append(f"out {k}")
    assert log == [f"{what} {k}" for k in range(4) for what in ("read", "out")]
    log.clear()
    for k, _ in map_ahead(lambda x: x, items(), ready=lambda: True):  # frames waiting: one read ahead
        log.append(f"out {k}")
    assert log[:3] == ["read 0", "read 1", "out 0"]
