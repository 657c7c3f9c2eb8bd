"""The console side of `mer-process --ray` (realtime/cli/process.py dispatches here; the work is
realtime.distributed.videos): one progress display on the driver, the same result table as a
single-machine run plus the node each video ran on, and the same exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from realtime.cli.demo import engine_note
from realtime.core.console import console, fail
from realtime.core.errors import EngineError
from realtime.distributed.cluster import ClusterConfig, TaskResources
from realtime.distributed.videos import VideoJob, VideoSettings, process_on_ray
from realtime.pipeline.pipeline import PipelineConfig
from realtime.spotting.scoring import SpottingScore, pool
from training.datasets.long_videos import read_long_sheet

if TYPE_CHECKING:
    from engines import Engine


def load_engine(path: Path, threads: int) -> tuple[Engine, str]:
    """On a worker: the engine at `path` and the name the single-machine run gives it (an EngineLoader)."""
    from engines import load  # imported in the task that uses it, as process.py does

    engine = load(path, threads=threads)
    return engine, engine_note(path, engine)


def run(jobs: list[VideoJob], *, out: Path, config: PipelineConfig, engine: Path | None, threads: int,
        write_video: bool, resume: bool, address: str, cpus: float, gpus: float, verbose: bool,
        fps: float | None = None, title: str = "mer-process on Ray") -> None:
    """Everything `mer-process --ray ADDRESS` does after parsing its options (MerError -> caller's one line)."""
    settings = VideoSettings(out=out, config=config, engine=engine, threads=threads, write_video=write_video, fps=fps,
                             read_sheet=read_long_sheet)
    if engine is not None and not engine.exists():
        raise EngineError(f"{engine} does not exist (expected an engine folder or a model.pt, at a path every "
                          f"node sees)")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console, transient=False)
    try:
        with progress:
            results = process_on_ray(jobs, settings, cluster=ClusterConfig(address=address, log_to_driver=verbose),
                                     resources=TaskResources(cpus=cpus, gpus=gpus), resume=resume, progress=progress,
                                     load_engine=load_engine)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished files are in {out}; run again with --resume to go on")
        raise typer.Exit(130)
    table = Table(title=title)
    for column in ("video", "frames", "micro-expressions", "other movements", "fps", "node", "result"):
        table.add_column(column)
    scores: list[SpottingScore] = []
    for result in results:
        name, summary = result.job.name, result.summary
        if result.status == "skipped":
            table.add_row(name, "", "", "", "", "", "skipped (finished before)")
        elif result.status == "failed":  # its one line was logged when it failed
            table.add_row(name, "", "", "", "", result.node or "", "[red]failed[/]")
        else:
            text = "finished" if result.status == "finished" else f"[yellow]partial: {summary['error']}[/]"
            if result.attempts > 1:
                text += f" (attempt {result.attempts})"
            if "spotting" in summary:
                spotting = summary["spotting"]
                scores.append(SpottingScore(tp=spotting["tp"], fp=spotting["fp"], fn=spotting["fn"]))
                text += f", spotting F1 {spotting['f1']:.2f}"
            table.add_row(name, str(summary["frames"]), str(summary["micro_expressions"]),
                          str(summary["other_movements"]), str(summary["processing_fps"]), result.node or "", text)
    console.print(table)
    if len(scores) > 1:
        total = pool(scores)
        console.print(f"spotting over {len(scores)} videos: precision {total.precision:.3f}, "
                      f"recall {total.recall:.3f}, F1 {total.f1:.3f}")
    console.print(f"results: {out.resolve()}  (open <video>/report.html)")
    failed = [r.job.name for r in results if r.status == "failed"]
    if failed and len(failed) == len(results):
        fail(f"no video could be processed ({', '.join(failed)})", code=1)
