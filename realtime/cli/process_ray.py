"""The console side of `mer-process --ray` (realtime/cli/process.py dispatches here; the work is
realtime.distributed.videos): one progress display on the driver, the same result table as a
single-machine run plus the node each video ran on, and the same exit codes."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from realtime.cli import common
from realtime.cli.common import Batch, result_text
from realtime.core.console import console
from realtime.core.console import results as results_console
from realtime.core.errors import EngineError
from realtime.distributed.cluster import ClusterConfig, TaskResources
from realtime.distributed.videos import VideoJob, VideoSettings, process_on_ray
from realtime.pipeline.pipeline import PipelineConfig
from realtime.spotting.scoring import SpottingScore, pool
from training.datasets.long_videos import read_long_sheet

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
                                     load_engine=common.load_engine)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished files are in {out}; run again with --resume to go on")
        raise typer.Exit(130)
    table = Table(title=title)
    for column in ("video", "frames", "micro-expressions", "other movements", "fps", "node", "result"):
        table.add_column(column)
    scores: list[SpottingScore] = []
    batch = Batch()
    for result in results:
        name, summary = result.job.name, result.summary
        if result.status == "skipped":
            table.add_row(name, "", "", "", "", "", "skipped (finished before)")
            batch.with_results.append(out / result.job.video.stem)
        elif result.status == "failed":  # its one line was logged when it failed
            table.add_row(name, "", "", "", "", result.node or "", "[red]failed[/]")
            batch.failed.append(name)
        else:
            text = result_text(summary)
            if result.attempts > 1:
                text += f" (attempt {result.attempts})"
            if "spotting" in summary:
                spotting = summary["spotting"]
                scores.append(SpottingScore(tp=spotting["tp"], fp=spotting["fp"], fn=spotting["fn"]))
            table.add_row(name, str(summary["frames"]), str(summary["micro_expressions"]),
                          str(summary["other_movements"]), str(summary["processing_fps"]), result.node or "", text)
            batch.add(result.job.video, out / result.job.video.stem, summary)
    results_console.print(table)
    if len(scores) > 1:
        total = pool(scores)
        results_console.print(f"spotting over {len(scores)} videos: precision {total.precision:.3f}, "
                              f"recall {total.recall:.3f}, F1 {total.f1:.3f}")
    batch.end(len(results))
