"""What the realtime commands share: loading the engine they classify with."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from realtime.cli.demo import engine_note
from realtime.face.aligner import AlignConfig
from realtime.pipeline.pipeline import check_engine

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
