"""`mer-process`: recorded interviews in, one folder of results per video out."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from realtime.apps.offline import process_video
from realtime.cli.common import Batch, load_engine, result_text
from realtime.core.console import (StopRequest, VerboseOpt, console, error_line, fail, make_app, results, setup_logging,
                                   user_errors)
from realtime.core.errors import InputError, MerError
from realtime.face.aligner import AlignConfig
from realtime.pipeline.pipeline import ApexSampling, PipelineConfig
from realtime.sinks.index_page import batch_folders, write_index
from realtime.sinks.run_folder import is_complete
from realtime.spotting.ground_truth import load_ground_truth
from realtime.spotting.scoring import SpottingScore, pool, score_spotting
from training.datasets.long_videos import read_long_sheet

log = logging.getLogger(__name__)

app = make_app(__doc__, examples=[
    "mer-process --demo                                  # a synthetic interview and the demo model",
    "mer-process interview.mp4 --engine engine/ --out results/",
    "mer-process videos/*.mp4 --spot-only --no-video --out results/ --resume",
])


def parse_face(value: str) -> str | int:
    """--face: largest | left | right | an index counted from the left (0 = leftmost)."""
    if value in ("largest", "left", "right"):
        return value
    if value.isdigit():
        return int(value)
    raise typer.BadParameter(f"{value!r}: use largest, left, right or a face index (0 = leftmost)")


SpotOnlyOpt = Annotated[bool, typer.Option(
    "--spot-only", help="Spot micro-expressions without classifying them (as when no --engine is given).")]


ApexSamplesOpt = Annotated[int, typer.Option(
    "--apex-samples", min=1, help="Classify each event at this many apex hypotheses around the spotted apex "
                                  "and average the probabilities (1: the spotted apex only).")]


def pipeline_config(face: str, apex_samples: int) -> PipelineConfig:
    """The pipeline settings mer-process and mer-live take from their options."""
    return PipelineConfig(align=AlignConfig(face=parse_face(face)), apex=ApexSampling(samples=apex_samples))


def check_spot_only(spot_only: bool, engine_path: Path | None) -> None:
    if spot_only and engine_path is not None:
        raise InputError("--spot-only runs without a classifier: leave out --engine")


def _ground_truth_for(video: Path, given: Path | None) -> Path | None:
    """The ground truth named on the command line, else a `<stem>_groundtruth.csv` beside the video."""
    if given is not None:
        return given
    beside = video.with_name(f"{video.stem}_groundtruth.csv")
    return beside if beside.is_file() else None


def _scorer(video: Path, gt_path: Path | None, scores: list[SpottingScore]):
    if gt_path is None:
        return None
    truth = load_ground_truth(gt_path, video=video.stem, read_sheet=read_long_sheet)
    for problem in truth.problems:
        log.warning("%s", problem)

    def score(spotted: list[tuple[int, int]]) -> dict:
        result = score_spotting(spotted, truth.micro_intervals())
        scores.append(result)
        return {"ground_truth": str(gt_path), **result.to_dict()}

    return score


@app.command(epilog=app.info.epilog)
def main(
    videos: Annotated[list[Path] | None, typer.Argument(help="Video files (or folders of frames) to process.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder; each video gets OUT/<video stem>/.")] = Path("mer-out"),
    demo: Annotated[bool, typer.Option(
        "--demo", help="Synthesise a short interview and process it with the built-in synthetic demo model "
                       "(built on first use by the commands in the README, then cached; not with "
                       "--spot-only).")] = False,
    engine_path: Annotated[Path | None, typer.Option(
        "--engine", help="Engine folder (mer-build-engine) or model.pt. Without it only spotting runs.")] = None,
    spot_only: SpotOnlyOpt = False,
    apex_samples: ApexSamplesOpt = 1,
    face: Annotated[str, typer.Option(help="Which face to follow: largest, left, right, or an index "
                                           "from the left (0 = leftmost).")] = "largest",
    no_video: Annotated[bool, typer.Option("--no-video", help="Do not write annotated.mp4 (faster).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Skip videos whose folder says they were finished.")] = False,
    ground_truth: Annotated[Path | None, typer.Option(
        "--ground-truth", help="Score spotting against this file: a mer-synth *_groundtruth.csv, or the "
                               "CAS(ME)^2 / SAMM long-video sheet (rows picked by video stem). Without it a "
                               "<stem>_groundtruth.csv beside a video is used when present.")] = None,
    threads: Annotated[int, typer.Option(help="CPU threads for the classifier.")] = 1,
    fps: Annotated[float | None, typer.Option(
        "--fps", min=1, help="Frame rate of folders of frames (default: their release's, CAS(ME)^2 rawpic/ 30, "
                             "SAMM_longvideos/ 200; else 30). Videos carry their own.")] = None,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="ADDRESS", help="Run one Ray task per video (pip install 'dianet-mer[distributed]'): "
                                         "local (a Ray instance on this machine for this run), auto (the cluster "
                                         "this machine joined with `ray start`), or the head's HOST:PORT. Videos "
                                         "and --out must be at the same paths on every node.")] = None,
    ray_cpus: Annotated[float, typer.Option("--ray-cpus", help="CPUs each video's task reserves (with --ray).")] = 1.0,
    ray_gpus: Annotated[float, typer.Option(
        "--ray-gpus", help="GPU share each video's task reserves (with --ray; 0.25: four videos per GPU).")] = 0.0,
    verbose: VerboseOpt = False,
) -> None:
    """Find micro-expressions in recorded videos: when, what, and the evidence for each.

    For each video OUT/<stem>/ gets events.csv (micro-expressions only), movements.csv (macro-
    expressions, blinks, speech, occlusions), frames.csv, annotated.mp4, timeline.png,
    events/<n>/ (onset, apex, offset crops and the DI pair), summary.json and report.html.
    Results are written as they are found; Ctrl-C leaves every file complete and readable.
    """
    setup_logging(verbose)
    with user_errors():
        check_spot_only(spot_only, engine_path)
    if demo:
        from realtime.cli.demo import prepare_demo

        with user_errors():
            engine_path, video = prepare_demo(out, engine_path, build_model=not spot_only)
            videos = [video]
    if not videos:
        fail("give at least one video to process (or --demo)")
    if ray is not None:  # issue 7: the same run, one Ray task per video (Ray is imported only here)
        from realtime.cli import process_ray
        from realtime.distributed.videos import VideoJob

        with user_errors():
            process_ray.run([VideoJob(v, _ground_truth_for(v, ground_truth)) for v in videos], out=out,
                            config=pipeline_config(face, apex_samples), engine=engine_path,
                            threads=threads, write_video=not no_video, resume=resume, address=ray, fps=fps, cpus=ray_cpus,
                            gpus=ray_gpus, verbose=verbose)
        return
    with user_errors():
        config = pipeline_config(face, apex_samples)
        engine = note = None
        if engine_path is not None:
            engine, note = load_engine(engine_path, threads, config.align)
            console.print(f"classifier: {note}")
    out.mkdir(parents=True, exist_ok=True)
    scores: list[SpottingScore] = []
    batch = Batch()
    table = Table(title="mer-process")
    for column in ("video", "frames", "micro-expressions", "other movements", "fps", "result"):
        table.add_column(column)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console, transient=False)
    try:
        with progress, StopRequest() as stop:
            overall = progress.add_task("videos", total=len(videos))
            for video in videos:
                if stop.requested:
                    break
                target = out / video.stem
                if resume and is_complete(target):
                    table.add_row(video.name, "", "", "", "", "skipped (finished before)")
                    batch.with_results.append(target)
                    progress.advance(overall)
                    continue
                task = progress.add_task(f"  {video.name}", total=None)
                try:
                    score = _scorer(video, _ground_truth_for(video, ground_truth), scores)
                    summary = process_video(
                        video, out, config=config, engine=engine, write_video=not no_video, ground_truth=score, fps=fps,
                        model_note=note, stop=stop,
                        on_frame=lambda done, total, task=task: progress.update(task, completed=done, total=total))
                except MerError as exc:
                    error_line(str(exc))
                    batch.failed.append(video.name)
                    table.add_row(video.name, "", "", "", "", "[red]failed[/]")
                else:
                    row = summary.to_dict()
                    table.add_row(video.name, str(summary.frames), str(summary.micro_expressions),
                                  str(summary.other_movements), str(summary.processing_fps), result_text(row))
                    batch.add(video, target, row)
                progress.remove_task(task)
                progress.advance(overall)
    except KeyboardInterrupt:  # a second Ctrl-C: the open video's files were still closed complete
        stop.requested = True
    finally:
        if engine is not None:
            engine.close()
    results.print(table)
    write_index(out, batch_folders(out, [v.name for v in videos]),
                failures={v: "failed or cut short (its summary.json says how)" for v in batch.failed})
    if stop.requested:
        console.print(f"[yellow]interrupted[/]: every file in {out} is complete; run again with --resume to go on")
        raise typer.Exit(130)
    if len(scores) > 1:
        total = pool(scores)
        results.print(f"spotting over {len(scores)} videos: precision {total.precision:.3f}, "
                      f"recall {total.recall:.3f}, F1 {total.f1:.3f}")
    if batch.with_results:
        results.print(f"index: {(out / 'index.html').resolve()}", soft_wrap=True, highlight=False)
    batch.end(len(videos))
