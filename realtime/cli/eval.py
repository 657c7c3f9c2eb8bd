"""`mer-eval`: spot-then-recognize evaluation of a long-video release (CAS(ME)^2, SAMM Long Videos), as MEGC
scores it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from realtime.apps.offline import process_video
from realtime.cli.demo import engine_note
from realtime.core.console import (StopRequest, VerboseOpt, console, error_line, fail, make_app, setup_logging,
                                   user_errors)
from realtime.core.errors import MerError
from realtime.pipeline.pipeline import PipelineConfig
from realtime.sinks.run_folder import is_complete
from training.datasets.long_videos import LONG_DATASETS, LongRelease, load_long_release
from training.evaluation import (ReleaseScore, predictions_from_runs, read_predictions, score_release,
                                 write_predictions, write_scores)

log = logging.getLogger(__name__)

app = make_app(__doc__, examples=[
    "mer-eval --dataset casme2-long --root /data/CASME2-long --out eval/casme2 --engine engine/",
    "mer-eval --dataset samm-long --root /data/SAMM-long --out eval/samm --resume",
])
RUNS = "videos"  # OUT/videos/<video>/: one mer-process run folder per video


def _run_videos(release: LongRelease, out: Path, engine_path: Path | None, threads: int, write_video: bool,
                resume: bool) -> bool:
    """mer-process on every video of the release into OUT/videos/; False when interrupted."""
    engine = None
    if engine_path is not None:
        from engines import load

        engine = load(engine_path, threads=threads)
        console.print(f"classifier: {engine_note(engine_path, engine)}")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console, transient=False)
    try:
        with progress, StopRequest() as stop:
            overall = progress.add_task("videos", total=len(release.videos))
            for video in release.videos:
                if stop.requested:
                    return False
                if not (resume and is_complete(out / RUNS / video.name)):
                    task = progress.add_task(f"  {video.name}", total=None)
                    try:
                        process_video(video.folder, out / RUNS, config=PipelineConfig(), engine=engine,
                                      write_video=write_video, fps=video.fps, stop=stop,
                                      model_note=engine_note(engine_path, engine) if engine is not None else None,
                                      on_frame=lambda done, total, task=task: progress.update(task, completed=done,
                                                                                              total=total))
                    except MerError as exc:
                        error_line(str(exc))
                    progress.remove_task(task)
                progress.advance(overall)
    except KeyboardInterrupt:
        return False
    finally:
        if engine is not None:
            engine.close()
    return not stop.requested


def print_tables(score: ReleaseScore, title: str) -> None:
    """The per-video table, the overall table, and the STR table with its class mapping."""
    per_video = Table(title=f"{title}: per video")
    for column in ("video", "subject", "micro GT", "TP", "FP", "FN", "F1", "macro GT", "TP", "FP", "FN", "F1"):
        per_video.add_column(column, justify="left" if column in ("video", "subject") else "right",
                             no_wrap=column in ("video", "subject"))
    for item in score.videos:
        micro, macro = item.micro, item.macro
        per_video.add_row(item.video.name, item.video.subject,
                          *(str(v) for v in (micro.tp + micro.fn, micro.tp, micro.fp, micro.fn)), f"{micro.f1:.3f}",
                          *(str(v) for v in (macro.tp + macro.fn, macro.tp, macro.fp, macro.fn)), f"{macro.f1:.3f}")
    console.print(per_video)
    overall = Table(title=f"{title}: spotting over {len(score.videos)} videos (IoU >= 0.5, counts pooled)")
    for column in ("", "TP", "FP", "FN", "precision", "recall", "F1"):
        overall.add_column(column, justify="right")
    for name, item in (("micro", score.micro), ("macro", score.macro), ("overall", score.overall)):
        overall.add_row(name, str(item.tp), str(item.fp), str(item.fn), f"{item.precision:.4f}",
                        f"{item.recall:.4f}", f"{item.f1:.4f}")
    console.print(overall)
    analysis = Table(title=f"{title}: analysis on {score.micro.tp} micro true positives (MEGC classes)")
    for column in ("class", "TP", "FP", "FN", "F1"):
        analysis.add_column(column, justify="right")
    for item in score.analysis.classes:
        f1 = f"{item.f1:.4f}" if item.present else "-"  # a class that occurs nowhere has no F1
        analysis.add_row(item.label, str(item.tp), str(item.fp), str(item.fn), f1)
    console.print(analysis)
    mapping = ", ".join(f"{label} -> {megc}" for label, megc in score.class_mapping.items()) or "none (no labels)"
    console.print(f"class mapping: {mapping}", highlight=False)
    console.print(f"analysis F1 {score.analysis.f1:.4f}  x  micro spotting F1 {score.micro.f1:.4f}  =  "
                  f"STR score {score.str_score:.4f}", highlight=False)
    if score.unknown_videos:
        console.print(f"[yellow]not scored[/]: predictions for videos the release does not have: "
                      f"{', '.join(score.unknown_videos)}")


@app.command(epilog=app.info.epilog)
def main(
    dataset: Annotated[str, typer.Option("--dataset", help=f"Release layout: {' | '.join(LONG_DATASETS)}.")],
    root: Annotated[Path, typer.Option("--root", help="The release folder (holding rawpic/ or SAMM_longvideos/).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: videos/<video>/ run folders, predictions.csv, "
                                                    "scores.json, per_video.csv.")],
    annotations: Annotated[Path | None, typer.Option(
        "--annotations", help="The long-video coding sheet (default: found in or beside --root).")] = None,
    micro_annotations: Annotated[Path | None, typer.Option(
        "--micro-annotations",
        help="SAMM: the micro sheet giving emotions (default: found in or beside --root).")] = None,
    engine_path: Annotated[Path | None, typer.Option(
        "--engine",
        help="Engine folder or model.pt for the analysis step; without it only spotting is scored.")] = None,
    predictions: Annotated[Path | None, typer.Option(
        "--predictions", help="Score this predictions csv (video, kind, onset_frame, offset_frame, label) instead "
                              "of running the pipeline.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip videos whose run folder is complete.")] = False,
    video: Annotated[bool, typer.Option("--video", help="Also write annotated.mp4 per video (slow).")] = False,
    threads: Annotated[int, typer.Option(help="CPU threads for the classifier.")] = 1,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="ADDRESS",
        help="One Ray task per video, as mer-process --ray: local, auto or HOST:PORT.")] = None,
    ray_cpus: Annotated[float, typer.Option("--ray-cpus", help="CPUs each video's task reserves.")] = 1.0,
    ray_gpus: Annotated[float, typer.Option("--ray-gpus", help="GPU share each video's task reserves.")] = 0.0,
    verbose: VerboseOpt = False,
) -> None:
    """Run the pipeline on every video of a release (or take a predictions file) and score it as MEGC does:
    spotting per video and pooled (micro, macro, overall), the analysis table, and the STR score."""
    setup_logging(verbose)
    with user_errors():
        release = load_long_release(dataset, root, annotations, micro_annotations)
        for problem in release.problems:
            log.warning("%s", problem)
        if not release.videos:
            fail(f"{root}: no video folders in the {dataset} layout (see mer-eval --help)")
        console.print(f"{dataset}: {len(release.videos)} videos, "
                      f"{sum(len(v.intervals('micro')) for v in release.videos)} micro- and "
                      f"{sum(len(v.intervals('macro')) for v in release.videos)} macro-expressions, "
                      f"{len(release.problems)} sheet problems (logged)", highlight=False)
        out.mkdir(parents=True, exist_ok=True)
        if predictions is not None:
            found = read_predictions(predictions)
        else:
            if ray is not None:
                from realtime.cli import process_ray
                from realtime.distributed.videos import VideoJob

                process_ray.run([VideoJob(v.folder) for v in release.videos], out=out / RUNS, config=PipelineConfig(),
                                engine=engine_path, threads=threads, write_video=video, resume=resume, address=ray,
                                cpus=ray_cpus, gpus=ray_gpus, verbose=verbose, title="mer-eval on Ray")
            elif not _run_videos(release, out, engine_path, threads, video, resume):
                console.print(f"[yellow]interrupted[/]: finished videos are in {out / RUNS}; run again with "
                              f"--resume to go on")
                raise typer.Exit(130)
            found, unfinished = predictions_from_runs(out / RUNS, release.videos)
            if unfinished:
                console.print(f"[yellow]scored with what was written[/] for unfinished videos: {', '.join(unfinished)}")
            write_predictions(out / "predictions.csv", found)
        score = score_release(release, found)
        write_scores(out, score)
    print_tables(score, dataset)
    console.print(f"results: {out.resolve()}  (scores.json, per_video.csv)")


if __name__ == "__main__":
    app()
