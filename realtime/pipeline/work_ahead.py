"""Run one stage of a stream on its own thread, overlapping the stages before and after it.

The frame path splits into two halves of similar cost: face tracking and alignment (MediaPipe,
which releases the GIL while its graph runs), and the rest (decoding the next frame, motion,
spotting, sinks). On two cores the halves overlap, so the stream goes at the pace of the slower
half instead of the sum of both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from queue import Queue
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_STOP = object()


def map_ahead(fn: Callable[[T], R], items: Iterable[T], *, depth: int = 2, ready: Callable[[], bool] | None = None,
              name: str = "work-ahead") -> Iterator[tuple[T, R]]:
    """(item, fn(item)) for every item, in order, with `fn` running on a worker thread.

    Up to `depth` items are in the worker's hands while the caller reads the next item and
    handles earlier results. `ready()`, when given, says whether the next item can be read
    without waiting (a camera's queue holds a frame); while it cannot, the results in hand go
    out first, so that a source slower than the work adds no item of delay. An exception from
    `fn` reaches the caller in the item's place; one from `items` after the results before it.
    When the caller stops early (break, an exception, Ctrl-C), the worker stops after its
    current item and is joined before this generator ends.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    todo: Queue = Queue()
    done: Queue = Queue()
    stop = threading.Event()

    def work() -> None:
        while (item := todo.get()) is not _STOP and not stop.is_set():
            try:
                done.put((item, fn(item), None))
            except Exception as exc:  # noqa: BLE001 - re-raised in the caller, in order
                done.put((item, None, exc))

    def result() -> tuple[T, R]:
        item, value, error = done.get()
        if error is not None:
            raise error
        return item, value

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    pending = 0

    def drain() -> Iterator[tuple[T, R]]:
        nonlocal pending
        while pending:
            pending -= 1
            yield result()

    iterator = iter(items)
    try:
        while True:
            if pending == depth or (pending and ready is not None and not ready()):
                pending -= 1
                yield result()
                continue
            try:
                item = next(iterator)
            except StopIteration:
                break
            except Exception:
                yield from drain()  # what was read before the source failed still comes out
                raise
            todo.put(item)
            pending += 1
        yield from drain()
    finally:
        stop.set()
        todo.put(_STOP)
        thread.join()
