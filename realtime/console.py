"""What every command-line tool shares: one-line errors, logging set-up, the rich console.

Library code raises `MerError`; commands wrap their body in `user_errors()` so that the user
sees one line naming the file and the problem and the process exits non-zero, never a traceback.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from realtime.errors import MerError

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
