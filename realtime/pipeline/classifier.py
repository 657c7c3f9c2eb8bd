"""Classification on its own thread, so that the frame path never waits for the network.

Events go in through a bounded queue. When it is full the event is not dropped: it waits in a
backlog that is retried on later submissions and classified at `close()`, and the fall-behind
is counted so the run can report it. Results come back through `poll()` on the frame thread,
each with its latency from submission (the moment the spotter closed the event) to the label.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Classify = Callable[[Sequence[Any]], np.ndarray]  # batch of jobs -> (B, K) probabilities


@dataclass(frozen=True)
class Classified:
    job: Any
    probabilities: np.ndarray | None  # (K,), None when classification failed
    latency_ms: float
    error: str | None = None


class ClassifierWorker:
    """One background thread that batches queued jobs through `classify`."""

    _STOP = object()

    def __init__(self, classify: Classify, *, queue_size: int = 16, max_batch: int = 2) -> None:
        self._classify = classify
        self._max_batch = max_batch
        self._in: queue.Queue = queue.Queue(maxsize=queue_size)
        self._out: queue.Queue[Classified] = queue.Queue()
        self._backlog: list[tuple[Any, float]] = []
        self.fell_behind = 0  # submissions that found the queue full
        self._thread = threading.Thread(target=self._run, name="classifier", daemon=True)
        self._thread.start()

    def _run_batch(self, batch: list[tuple[Any, float]]) -> None:
        try:
            probabilities = self._classify([job for job, _ in batch])
            error = None
        except Exception as exc:  # a failing engine must not kill the run; report per event
            log.error("classification failed: %s", exc)
            probabilities, error = None, str(exc)
        done = time.monotonic()
        for i, (job, submitted) in enumerate(batch):
            row = None if probabilities is None else np.asarray(probabilities[i])
            self._out.put(Classified(job, row, 1000 * (done - submitted), error))

    def _run(self) -> None:
        while True:
            item = self._in.get()
            if item is self._STOP:
                return
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    extra = self._in.get_nowait()
                except queue.Empty:
                    break
                if extra is self._STOP:
                    self._run_batch(batch)
                    return
                batch.append(extra)
            self._run_batch(batch)

    def _offer(self, item: tuple[Any, float]) -> bool:
        try:
            self._in.put_nowait(item)
            return True
        except queue.Full:
            return False

    def submit(self, job: Any) -> None:
        """Queue a job without ever blocking the caller."""
        while self._backlog and self._offer(self._backlog[0]):
            self._backlog.pop(0)
        item = (job, time.monotonic())
        if self._backlog or not self._offer(item):
            self.fell_behind += 1
            self._backlog.append(item)

    def poll(self, timeout: float = 0.0) -> list[Classified]:
        """Results finished since the last poll, oldest first; waits up to `timeout` s for the first."""
        results = []
        if timeout > 0:
            try:
                results.append(self._out.get(timeout=timeout))
            except queue.Empty:
                return results
        while True:
            try:
                results.append(self._out.get_nowait())
            except queue.Empty:
                return results

    def close(self) -> list[Classified]:
        """Finish every queued and backlogged job; return the results not yet polled."""
        if self._thread.is_alive():
            self._in.put(self._STOP)
            self._thread.join()
        while self._backlog:
            self._run_batch(self._backlog[: self._max_batch])
            del self._backlog[: self._max_batch]
        return self.poll()

    def __enter__(self) -> ClassifierWorker:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
