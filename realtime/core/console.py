"""What every command-line tool shares: one-line errors, logging set-up, the rich consoles.

Library code raises `MerError`; commands wrap their body in `user_errors()` so that the user
sees one line naming the file and the problem and the process exits non-zero, never a traceback.
Results (tables, where they are) go to stdout through `results`; diagnostics (progress, logs,
errors) to stderr through `console`. MediaPipe and TensorFlow Lite log from C++ straight to
file descriptor 2 (absl does not read GLOG_* variables), so without --verbose fd 2 is passed
through a filter that drops their lines and keeps everything else.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from collections.abc import Sequence
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from realtime.core.errors import MerError

REDIRECTED_WIDTH = 1000  # columns when a stream is a file or a pipe: whole table rows, never "demo_intervi…"


def _console(stream: str) -> Console:
    tty = getattr(sys, stream).isatty()  # decided before fd 2 goes through the native-log filter
    return Console(stderr=stream == "stderr", force_terminal=tty or None, width=None if tty else REDIRECTED_WIDTH)


console = _console("stderr")  # diagnostics: progress, logs, errors
results = _console("stdout")  # results: tables, where the results are

# MediaPipe and TFLite log through absl/glog to stderr; keep their start-up chatter out of the way.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


NATIVE_LOG = re.compile(rb"^(?:[IWEF]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] |"  # absl/glog lines
                        rb"WARNING: All log messages before absl::InitializeLog|"
                        rb"INFO: Created TensorFlow Lite)")
_filter: threading.Thread | None = None


def _pass_lines(read_fd: int, write_fd: int) -> None:
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        for line in iter(pipe.readline, b""):
            if not NATIVE_LOG.match(line):
                os.write(write_fd, line)


def _restore(saved: int) -> None:
    """At exit: fd 2 back to the real stderr; the filter drains what is left and ends."""
    sys.stderr.flush()
    os.dup2(saved, 2)
    if _filter is not None:
        _filter.join(timeout=2.0)


def quiet_native_logs() -> None:
    """Route fd 2 through a thread that drops C++ log lines (once per process)."""
    global _filter
    if _filter is not None:
        return
    saved = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    _filter = threading.Thread(target=_pass_lines, args=(read_fd, saved), name="native-log-filter", daemon=True)
    _filter.start()
    atexit.register(_restore, saved)


def setup_logging(verbose: bool = False) -> None:
    """Our log lines through rich on stderr; native libraries' lines only with --verbose."""
    if not verbose:
        quiet_native_logs()
    if console.is_terminal:
        handler: logging.Handler = RichHandler(console=console, show_path=False, show_time=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:  # a file or a pipe: plain lines, not rich's rows padded to REDIRECTED_WIDTH
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)-8s %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)


VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Debug log lines, and the native libraries' own (MediaPipe, TensorFlow Lite, Ray "
                            "workers), which are hidden otherwise.")]


HELP_WIDTH = 100  # columns --help may use on a wide terminal (click's default stops at 80)


def make_app(help: str, examples: Sequence[str], **settings: object) -> typer.Typer:
    """A command-line app in the one help style of every mer-* command: plain text (flags shown as
    flags, `[distributed]` as written), every option described, and examples below the options.
    A single-command app passes `epilog=app.info.epilog` to its command (typer shows a command's
    epilog, not the app's, when there is one command)."""
    epilog = "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in examples)  # \b: keep the lines as written
    return typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, help=help, epilog=epilog,
                       context_settings={"max_content_width": HELP_WIDTH}, **settings)


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
