"""`mer-synth`: realistic synthetic micro-expression data from real face photos."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from realtime.core.console import VerboseOpt, make_app, setup_logging, user_errors
from realtime.core.errors import InputError
from training.synth import make_dataset, make_video
from training.synth.video import frame_size

app = make_app("Make synthetic micro-expression data: a CASME-II-layout dataset or a long interview video "
               "with ground truth.",
               examples=["mer-synth video --out interview.mp4 --duration 20",
                         "mer-synth dataset --out synth-data --subjects 4 --clips-per-class 3"])
out = Console(soft_wrap=True)  # stdout: the summary; logs go to stderr

FACES_HELP = ("Folder of face photos (png, jpg, ...) to make subjects from, e.g. ../shared/data/faces/yale; "
              "photos named <person>_<anything> are one person. Default: scikit-image's astronaut photo.")


@app.callback()
def main() -> None:
    """Synthetic data: small FACS-like movements (1-3 px at a 250 px face, 200-500 ms) warped onto real faces."""


@app.command(help="Write a synthetic dataset in the CASME-II release layout: OUT/subXX/<clip>/imgN.jpg (a few "
                  "neutral frames, the onset to the offset, a few neutral frames) and OUT/CASME2-coding-synth.xlsx "
                  "with the real sheet's columns, so that "
                  "`mer-data check --dataset casme2 --root OUT` and training read it like the real release. "
                  "Five classes (happiness AU6+12, disgust AU9/10, surprise AU1+2, repression AU14/15/17, "
                  "others AU4/7); each subject is a different synthetic identity.")
def dataset(
    out_dir: Annotated[Path, typer.Option("--out", help="New or empty output folder.")],
    subjects: Annotated[int, typer.Option("--subjects", min=1, max=99, help="Synthetic subjects.")] = 5,
    clips_per_class: Annotated[int, typer.Option(
        "--clips-per-class", min=1, help="Clips per class and subject (the reader keeps classes with >= 10 clips "
                                         "unless told otherwise).")] = 2,
    fps: Annotated[float, typer.Option("--fps", min=24, max=1000, help="Frame rate (CASME-II: 200).")] = 200.0,
    size: Annotated[int, typer.Option("--size", min=128, help="Side of the square frames in px.")] = 320,
    faces: Annotated[Path | None, typer.Option("--faces", help=FACES_HELP)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same data.")] = 0,
    amplitude: Annotated[float, typer.Option(
        "--amplitude", min=0.05, max=5, help="Scale of every clip's movement (1: 1-3 px at a 250 px face, as real "
                                             "micro-expressions; the same clips otherwise).")] = 1.0,
    verbose: VerboseOpt = False,
) -> None:
    setup_logging(verbose)
    with user_errors():
        result = make_dataset(out_dir, subjects=subjects, clips_per_class=clips_per_class, fps=fps, size=size,
                              faces=faces, seed=seed, amplitude=amplitude)
        counts = Counter(clip.emotion for clip in result.clips)
        frames = sum(len(clip.frame_numbers) for clip in result.clips)
        per_class = ", ".join(f"{k} {v}" for k, v in counts.items())
        out.print(f"{len(result.clips)} clips ({per_class}), {frames} frames, "
                  f"{subjects} subjects -> {result.root} (sheet {result.sheet.name})", highlight=False)


@app.command(help="Write a long H.264 video of one synthetic person with micro-expressions (1-3 px, 200-500 ms), "
                  "macro-expressions (6-12 px, 1-3 s), blinks, head drift and moves, light changes and sensor "
                  "noise, optionally talking, plus <stem>_groundtruth.csv beside it (kind, onset/apex/offset frame "
                  "(0-based, inclusive) and seconds, emotion, action_units). Micro-, macro-expressions and blinks "
                  "never overlap; kind `speech` rows are the talking segments (action units 25+26) and the "
                  "conversational brow raises (1+2), which may hold upper-face micro-expressions and blinks.")
def video(
    out_file: Annotated[Path, typer.Option("--out", help="Output video file (.mp4).")],
    fps: Annotated[float | None, typer.Option("--fps", min=24, max=200, help="Frame rate, 24 to 200 (not with "
                                                                           "--layout: the release's).")] = None,
    duration: Annotated[float | None, typer.Option(
        "--duration", min=2, help="Length in seconds; default 2.5 s per micro-expression + 10 s.")] = None,
    micro: Annotated[int | None, typer.Option(
        "--micro", min=0, help="Number of micro-expressions; default 20, or one per 2.5 s beyond the first 10 s "
                               "of a --duration; 1 per first video with --layout.")] = None,
    talk: Annotated[float, typer.Option(
        "--talk", min=0, max=0.8, help="Share of the video spent talking (segments of 2-8 s: jaw and lips at "
                                       "3-6 syllables/s, conversational brow raises).")] = 0.0,
    amplitude: Annotated[float, typer.Option(
        "--amplitude", min=0.05, max=5, help="Scale of the micro-expressions' movement (1: 1-3 px at a 250 px "
                                             "face).")] = 1.0,
    lower_in_speech: Annotated[float, typer.Option(
        "--lower-in-speech", min=0, max=1, help="Share of the micro-expressions inside talking that move the lower "
                                                "face (lip corners AU12/14/15, chin AU17) instead of the upper "
                                                "face.")] = 0.0,
    blink: Annotated[float, typer.Option(
        "--blink", min=0.05, max=1, help="Scale of every blink's closure (1: the upper lids close 80-100 %; lower: "
                                         "weak, partial blinks). Nothing else changes.")] = 1.0,
    faces: Annotated[Path | None, typer.Option("--faces", help=FACES_HELP)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same video.")] = 0,
    size: Annotated[str | None, typer.Option(
        "--size", metavar="WxH", help="Frame width x height in px, default 640x480 (not with --layout: the "
                                      "release's); the face is 250 px wide at a height of 480, in proportion.")] = None,
    verbose: VerboseOpt = False,
    layout: Annotated[str | None, typer.Option(
        "--layout", help="Write a synthetic long-video release in this layout instead: casme2-long "
                         "(OUT/rawpic/sNN/NN_<code><name>/imgN.jpg, 30 fps, CAS(ME)2_code_final.xlsx) or samm-long "
                         "(OUT/SAMM_longvideos/006_1/, 200 fps, the long-video and micro sheets); 4 subjects x 2 "
                         "videos of --duration, --micro micro-expressions in every first video, none "
                         "in the second. For mer-eval.")] = None,
) -> None:
    setup_logging(verbose)
    with user_errors():
        if layout is not None:
            if size is not None:
                raise InputError("--size is not for --layout: a release has its own frame size")
            from training.synth.long_release import make_long_release

            release = make_long_release(out_file, layout=layout, micro=(1 if micro is None else micro, 0),
                                        duration=duration, faces=faces, seed=seed)
            out.print(f"{len(release.videos)} videos, {release.micro} micro- and {release.macro} macro-expressions "
                      f"-> {release.root} (sheet {release.sheet.name})", highlight=False)
            return
        if fps is None:
            raise InputError("give --fps (or --layout)")
        result = make_video(out_file, fps=fps, duration=duration, micro=micro, faces=faces, seed=seed, talk=talk,
                            size=frame_size(size or "640x480"), amplitude=amplitude,
                            lower_in_speech=lower_in_speech, blink_scale=blink)
        kinds = Counter(event.kind for event in result.events)
        out.print(f"{result.num_frames} frames at {result.fps:g} fps ({result.num_frames / result.fps:.1f} s), "
                  f"{', '.join(f'{v} {k}' for k, v in kinds.items())} -> {result.path}, {result.groundtruth.name}",
                  highlight=False)
