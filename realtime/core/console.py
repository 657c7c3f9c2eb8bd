"""What every command-line tool shares: one-line errors, logging set-up, the rich console.

Library code raises `MerError`; commands wrap their body in `user_errors()` so that the user
sees one line naming the file and the problem and the process exits non-zero, never a traceback.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from realtime.core.errors import MerError

console = Console(stderr=True)

# MediaPipe and TFLite log through absl/glog to stderr; keep their start-up chatter out of the way.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False, show_time=False)], force=True)


def error_line(message: str) -> None:
    """One error line, never wrapped (a wrapped path is hard to copy and to grep)."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one error line and exit with `code`."""
    error_line(message)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a `MerError` raised inside the block into one line and exit code 2."""
    try:
        yield
    except MerError as exc:
        fail(str(exc))


class StopRequest:
    """Ctrl-C as a request: the first SIGINT asks the run to stop after the current frame, so
    that every file ends on a whole frame; a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        console.print("[yellow]stopping after this frame (Ctrl-C again to stop at once)[/]")

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self) -> StopRequest:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        signal.signal(signal.SIGINT, self._previous)
