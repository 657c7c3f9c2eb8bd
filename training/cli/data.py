"""`mer-data`: check a dataset release as its owners ship it before training on it."""

from __future__ import annotations

from collections import Counter
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from realtime.core.console import setup_logging, user_errors
from training.datasets import CLASS_MAPS, DatasetIndex, load_dataset
from training.datasets.loader import release_format

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Check micro-expression dataset releases (CASME-II, SAMM, MMEW) as their owners ship them.")
out = Console(soft_wrap=True)  # stdout: the report; errors and logs go to stderr


class DatasetName(str, Enum):
    casme2 = "casme2"
    samm = "samm"
    mmew = "mmew"


ACTION_STYLE = {"repaired": "yellow", "skipped": "red", "warning": "cyan"}


@app.callback()
def main() -> None:
    """Dataset tools: `mer-data check` validates a release and reports every problem in its coding sheet."""


@app.command(help="Validate a release: print usable clips per class and subject and every problem found. "
                  "Wrong or incomplete sheet rows are repaired where possible (a missing apex is located at the "
                  "peak of facial motion) or skipped, each reported by sheet row.\n\n"
                  "Exit status: 0 when usable clips are left, 1 when none is, 2 when the sheet cannot be read.")
def check(
    dataset: Annotated[DatasetName, typer.Option("--dataset", help="Which release: casme2, samm or mmew.")],
    root: Annotated[Path, typer.Option(
        "--root", help="Release folder as shipped: CASME-II's folder of subXX (or one above), SAMM's folder of "
                       "subject folders (or one above), MMEW's folder holding Micro_Expression.")],
    annotations: Annotated[Path | None, typer.Option(
        "--annotations", help="Coding sheet (xlsx or csv); default: found in the release "
                              "(*coding*.xlsx, SAMM_Micro_FACS_Codes*.xlsx, MMEW_Micro_Exp.xlsx).")] = None,
    class_map: Annotated[str | None, typer.Option(
        "--class-map", help=f"Named class map ({', '.join(CLASS_MAPS)}); default: the dataset's own, "
                            f"the paper's classes.")] = None,
    min_clips: Annotated[int, typer.Option(
        "--min-clips", min=0, help="Drop classes with fewer usable clips than this (the paper: 10).")] = 10,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Load the release, print the table and the problems, exit 1 if nothing is usable."""
    setup_logging(verbose)
    with user_errors():
        index = load_dataset(dataset.value, root, annotations=annotations, class_map=class_map,
                             min_clips_per_class=min_clips)
        title = release_format(dataset.value).title
        if index.clips:
            out.print(_table(index, f"{title} usable clips per class and subject"))
        _print_problems(index)
        if not index.clips:
            out.print(f"[bold red]nothing usable:[/] no {title} clip under {root} has frames and a kept class",
                      highlight=False)
            raise typer.Exit(1)
        out.print(f"{len(index.clips)} usable clips, {len(index.classes)} classes "
                  f"({', '.join(index.classes)}), {len(index.subjects)} subjects", highlight=False)


def _table(index: DatasetIndex, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("subject")
    for name in index.classes:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right", style="bold")
    counts = Counter((clip.subject, clip.label) for clip in index.clips)
    for subject in index.subjects:
        row = [counts[(subject, name)] for name in index.classes]
        table.add_row(subject, *map(str, row), str(sum(row)))
    totals = index.counts()
    table.add_section()
    table.add_row("all", *map(str, totals.values()), str(len(index.clips)), style="bold")
    return table


def _print_problems(index: DatasetIndex) -> None:
    actions = Counter(problem.action for problem in index.problems)
    summary = ", ".join(f"{actions[action]} {action}{'s' * (action == 'warning' and actions[action] > 1)}"
                        for action in ACTION_STYLE if actions[action])
    out.print(f"{len(index.problems)} problems" + (f" ({summary})" if summary else ""), highlight=False)
    for problem in index.problems:
        where = f"{problem.file.name}:{problem.row}" if problem.row is not None else str(problem.file)
        clip = f" {problem.clip}" if problem.clip else ""
        out.print(f"  [{ACTION_STYLE[problem.action]}]{problem.action:>8}[/] {escape(where + clip)}: "
                  f"{escape(problem.message)}", highlight=False)
