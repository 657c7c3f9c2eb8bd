"""The built-in demo: a synthetic demo model, built on first use, and a synthetic interview.

The demo engine is made by exactly the commands the README documents, run in-process:

    mer-synth dataset --out DIR/data --subjects 4 --clips-per-class 3 --fps 50 --size 256 --seed 0
    mer-train --dataset casme2 --root DIR/data --preset demo --fps 50 --cache DIR/cache --out DIR/run \
        --final-only --threads 1
    mer-build-engine DIR/run/model.pt --out DIR/engine --backend onnx --max-batch 2

It is cached (DIR defaults to ~/.cache/dianet-mer/demo-v3, or $MER_DEMO_DIR) and named as a
synthetic demo model wherever it shows. It has seen only warped photos of one face, so its
labels on real people mean nothing: it is there to show the tool working end to end.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import typer
from typer.main import get_command

from realtime.core.errors import MerError

log = logging.getLogger(__name__)

DEMO_VERSION = 3  # bump when the commands below change, so old caches are not reused
DEMO_DESCRIPTION = "synthetic demo model (trained on mer-synth data only; not for real analysis)"
DEMO_INTERVIEW = {"fps": 30.0, "duration": 16.0, "micro": 4, "seed": 2026}


def demo_dir() -> Path:
    return Path(os.environ.get("MER_DEMO_DIR", Path.home() / ".cache" / "dianet-mer" / f"demo-v{DEMO_VERSION}"))


def demo_commands(folder: Path) -> list[tuple[str, list[str]]]:
    """The documented commands that make the demo engine in `folder`."""
    return [
        ("mer-synth", ["dataset", "--out", str(folder / "data"), "--subjects", "4", "--clips-per-class", "3",
                       "--fps", "50", "--size", "256", "--seed", "0"]),
        ("mer-train", ["--dataset", "casme2", "--root", str(folder / "data"), "--preset", "demo", "--fps", "50",
                       "--cache", str(folder / "cache"), "--out", str(folder / "run"), "--final-only",
                       "--threads", "1"]),
        ("mer-build-engine", [str(folder / "run" / "model.pt"), "--out", str(folder / "engine"), "--backend", "onnx",
                              "--max-batch", "2"]),
    ]


def _run(name: str, args: list[str]) -> None:
    from engines.cli import app as build_engine_app
    from training.cli.synth import app as synth_app
    from training.cli.train import app as train_app

    apps = {"mer-synth": synth_app, "mer-train": train_app, "mer-build-engine": build_engine_app}
    step = f"demo: `{name} {' '.join(args)}` failed"
    log.info("demo: %s %s", name, " ".join(args))
    try:  # not standalone: a usage error raises, a typer.Exit (the step's own error line) returns its code
        code = get_command(apps[name]).main(args, prog_name=name, standalone_mode=False)
    except typer.TyperException as exc:  # typer's click (typer._click) raises these, not click's
        raise MerError(f"{step}: {exc.format_message()}") from exc
    except OSError as exc:  # e.g. the demo folder cannot be written
        raise MerError(f"{step}: {exc}") from exc
    if code:
        raise MerError(f"{step} (exit {code})")


def demo_engine(folder: Path | None = None) -> Path:
    """The demo engine folder, built by the documented commands on first use."""
    folder = folder or demo_dir()
    engine = folder / "engine"
    if (engine / "engine.json").is_file():
        return engine
    log.info("building the synthetic demo model in %s (first use only)", folder)
    if folder.exists():  # an interrupted earlier build: start clean, the inputs are all synthetic
        import shutil

        shutil.rmtree(folder)
    for name, args in demo_commands(folder):
        _run(name, args)
    return engine


def demo_interview(out: Path) -> Path:
    """A synthetic interview (and its ground truth beside it) to process."""
    from training.synth import make_video

    video = out / "demo_interview.mp4"
    if not video.is_file():
        make_video(video, **DEMO_INTERVIEW)
    return video


def prepare_demo(out: Path, engine: Path | None = None, *, build_model: bool = True) -> tuple[Path | None, Path]:
    """(engine folder, interview video): `engine`, else the demo model unless not `build_model`
    (spotting only), and the interview, synthesised on a second thread while the model builds
    (training uses one core)."""
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(1, thread_name_prefix="demo-interview") as pool:
        video = pool.submit(demo_interview, out)
        if engine is None and build_model:
            engine = demo_engine()
        return engine, video.result()


def engine_note(path: Path, engine) -> str:
    """How an engine is named to the user: the demo model always says it is one."""
    if demo_dir().resolve() in Path(path).resolve().parents:
        return DEMO_DESCRIPTION
    return engine.description
