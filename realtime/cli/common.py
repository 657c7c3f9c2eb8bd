"""What the realtime commands share: loading the engine they classify with, and how a batch of
videos is reported (result cells, a failed video's own line, where the results are, exit code)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from realtime.cli.demo import engine_note
from realtime.core.console import error_line, fail, results
from realtime.face.aligner import AlignConfig
from realtime.pipeline.pipeline import check_engine
from realtime.pipeline.records import STATUSES

if TYPE_CHECKING:
    from engines import Engine


def load_engine(path: Path, threads: int, align: AlignConfig = AlignConfig()) -> tuple[Engine, str]:
    """The engine at `path`, checked against the pipeline's alignment and DI settings (one line
    when they differ), and the name the user sees for it."""
    from engines import load  # imported only when a classifier is asked for (spot-only runs skip torch/ORT)

    engine = load(path, threads=threads)
    try:
        check_engine(engine, align)
    except Exception:
        engine.close()
        raise
    return engine, engine_note(path, engine)


def result_text(summary: Mapping[str, Any]) -> str:
    """The result cell of a video's row, from its summary (summary.json's content)."""
    status = summary["status"]
    text = {"finished": "finished", "interrupted": "[yellow]interrupted[/]",
            "truncated": f"[red]truncated: {summary['frames']} of {summary['expected_frames']} frames[/]",
            "broke off": f"[red]broke off: {escape(str(summary['error']))}[/]",
            "no face": "[red]failed: no face found[/]"}[status]
    if summary.get("spotting"):
        text += f", spotting F1 {summary['spotting']['f1']:.2f}"
    return text


@dataclass
class Batch:
    """How the videos of one mer-process run ended: which failed, which have results to open."""

    failed: list[str] = field(default_factory=list)
    with_results: list[Path] = field(default_factory=list)

    def add(self, video: Path, folder: Path, summary: Mapping[str, Any]) -> None:
        """Count a processed video; a failed one also gets its own line (the table cell is short)."""
        status = summary["status"]
        if status == "no face":
            error_line(f"{video}: no face found in any of its {summary['frames']} frames; nothing to analyse")
        elif status == "truncated":
            error_line(f"{video}: truncated: {summary['frames']} of the {summary['expected_frames']} frames its "
                       f"header announces could be decoded; the results cover those")
        failed, has_results = STATUSES[status]
        if failed:
            self.failed.append(video.name)
        if has_results and summary["frames"]:
            self.with_results.append(folder)

    def end(self, total: int) -> None:
        """Where the results are (stdout, only for videos that have some), then a non-zero exit when
        any video failed or was cut short."""
        for folder in self.with_results:
            results.print(f"results: {folder.resolve() / 'report.html'}", soft_wrap=True, highlight=False)
        if self.failed:
            fail(f"{len(self.failed)} of {total} videos failed or were cut short: {', '.join(self.failed)}", code=1)
