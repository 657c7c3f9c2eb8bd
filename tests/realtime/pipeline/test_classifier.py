"""The classifier worker never blocks its caller, counts falling behind, and loses no job."""

from __future__ import annotations

import threading
import time

import numpy as np

from realtime.pipeline.classifier import ClassifierWorker


def test_results_come_back_in_order_with_latency() -> None:
    with ClassifierWorker(lambda jobs: np.array([[j, 1 - j] for j in jobs], float)) as worker:
        for job in (0.25, 0.5):
            worker.submit(job)
        deadline = time.monotonic() + 5
        results = []
        while len(results) < 2 and time.monotonic() < deadline:
            results += worker.poll()
            time.sleep(0.005)
    assert [r.job for r in results] == [0.25, 0.5]
    assert results[0].probabilities.tolist() == [0.25, 0.75]
    assert all(r.latency_ms >= 0 and r.error is None for r in results)


def test_a_slow_classifier_never_blocks_submit_and_nothing_is_lost() -> None:
    gate = threading.Event()

    def slow(jobs: list[int]) -> np.ndarray:
        gate.wait(5)
        return np.ones((len(jobs), 2))

    worker = ClassifierWorker(slow, queue_size=2, max_batch=1)
    start = time.monotonic()
    for job in range(10):
        worker.submit(job)
    assert time.monotonic() - start < 0.5  # submit returned at once although nothing ran
    assert worker.fell_behind >= 7
    gate.set()
    results = worker.close()
    assert sorted(r.job for r in results) == list(range(10))


def test_a_failing_engine_is_reported_per_event_not_raised() -> None:
    def broken(jobs: list[int]) -> np.ndarray:
        raise RuntimeError("engine exploded")

    worker = ClassifierWorker(broken)
    worker.submit(1)
    (result,) = worker.close()
    assert result.probabilities is None and "exploded" in result.error
