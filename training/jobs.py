"""What `mer-train` does once its options are parsed: load and align the clips, keep a log in
the run folder, run leave-one-subject-out here or one Ray task per fold, report the result.

The CLI (training/cli/train.py) only turns options into the records below and calls `train`
or `training.ablation.run_ablation`; everything here can be called from Python as well.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from realtime.core.console import console, setup_logging
from realtime.core.errors import InputError
from realtime.face.aligner import AlignConfig
from training.checkpoint import file_sha256
from training.clip_cache import CachedClip, ClipCache, default_cache_dir
from training.datasets import MEGC3_CLASSES, load_composite, load_dataset
from training.loso import LosoRun, RunResult, check_out_dir
from training.models import ModelConfig, create_model
from training.presets import PRESETS, TrainConfig

log = logging.getLogger(__name__)

DATASETS = ("casme2", "samm", "mmew")


@dataclass(frozen=True)
class DataOptions:
    """Which clips to train on and where the aligned frames are cached."""

    dataset: str  # one of DATASETS, or "composite"
    roots: tuple[str, ...]  # release folders; NAME=DIR for the composite
    annotations: tuple[str, ...] = ()  # coding sheets when not inside the roots (composite: NAME=SHEET)
    min_clips_per_class: int = 10
    fps: float | None = None  # recording rate, when not the release's
    composite_list: Path | None = None  # MEGC2019 combined_3class_gt.csv
    cache: Path | None = None  # default: default_cache_dir()


@dataclass(frozen=True)
class RunOptions:
    """Where and how the runs execute (nothing here changes what they compute, but --threads)."""

    out: Path
    device: str = "auto"
    resume: bool = False
    threads: int | None = None
    ray: str | None = None  # Ray address: local | auto | HOST:PORT; None runs here
    ray_cpus: float = 1.0
    ray_gpus: float = 0.0
    verbose: bool = False


def _parse_named(values: Sequence[str], option: str) -> dict[str, Path]:
    """NAME=PATH values of a composite option -> {name: path}."""
    named = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or name not in DATASETS:
            raise InputError(f"{option} {value!r}: composite needs NAME=PATH with NAME in {list(DATASETS)}")
        if name in named:
            raise InputError(f"{option} given twice for {name}")
        named[name] = Path(path)
    return named


def _warn_problems(where: object, problems: Sequence[object], what: str = "problems in the release") -> None:
    if problems:
        log.warning("%s: %d %s (run `mer-data check` for the list)", where, len(problems), what)


def load_clips(data: DataOptions) -> tuple[list, tuple[str, ...]]:
    """Clips (training.datasets.Clip) and class order for a dataset or the composite."""
    roots, annotations, min_clips = list(data.roots), list(data.annotations), data.min_clips_per_class
    if data.dataset in DATASETS:
        if len(roots) != 1 or len(annotations) > 1:
            raise InputError(f"--dataset {data.dataset} takes one --root and at most one --annotations")
        if data.composite_list is not None:
            raise InputError("--composite-list goes with --dataset composite only")
        root = Path(roots[0].split("=", 1)[1] if roots[0].startswith(f"{data.dataset}=") else roots[0])
        index = load_dataset(data.dataset, root, annotations=Path(annotations[0]) if annotations else None,
                             min_clips_per_class=min_clips)
        _warn_problems(root, index.problems)
        return list(index.clips), tuple(index.classes)
    if data.dataset == "composite":
        named_roots = _parse_named(roots, "--root")
        named_sheets = _parse_named(annotations, "--annotations")
        extra = sorted(set(named_sheets) - set(named_roots))
        if extra:
            raise InputError(f"--annotations given for {extra} without a --root")
        if data.composite_list is not None:  # the challenge's own list is the authority on clips and labels
            index = load_composite(named_roots, gt=data.composite_list, annotations=named_sheets)
            _warn_problems("composite", index.problems, "problems (clips of the list not used, release problems)")
            return list(index.clips), tuple(index.classes)
        log.warning("composite without --composite-list: classes from the sheets' emotions by the MEGC2019 "
                    "mapping (negative, positive, surprise); the official list leaves out a few of those clips")
        clips, present = [], set()
        for name, root in named_roots.items():
            index = load_dataset(name, root, annotations=named_sheets.get(name), class_map="megc3",
                                 min_clips_per_class=min_clips)
            _warn_problems(root, index.problems)
            clips += index.clips
            present |= set(index.classes)
        return clips, tuple(c for c in MEGC3_CLASSES if c in present)
    raise InputError(f"unknown --dataset {data.dataset!r}; use one of {[*DATASETS, 'composite']}")


def progress_display() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=False)


def cache_clips(clips: list, data: DataOptions, progress: Progress) -> tuple[list[CachedClip], list[str], dict]:
    """Align (or load) every clip; a clip without a face anywhere is skipped with a warning."""
    # The same aligned crop as mer-process and mer-live (AlignConfig's 224 px): the DIs are made
    # at that size everywhere and only to_network_input resizes them to the network's --size.
    align = AlignConfig(grey=True, static_image_mode=False)
    cache_dir = data.cache or default_cache_dir()
    cache = ClipCache(cache_dir, align, fps=data.fps)
    cached, skipped = [], []
    task = progress.add_task(f"aligned frames + DIs ({cache_dir})", total=len(clips))
    for clip in clips:
        try:
            cached.append(cache(clip))
        except InputError as exc:
            log.warning("skipped: %s", exc)
            skipped.append(f"{clip.dataset}/{clip.subject}/{clip.clip_id}: {exc}")
        progress.update(task, advance=1)
    progress.remove_task(task)
    if not cached:
        raise InputError("no clip could be aligned; nothing to train on")
    return cached, skipped, asdict(align)


def choose_preset(preset: str) -> tuple[str, str]:
    """(preset name, how it was chosen): `auto` is paper with CUDA, cpu without."""
    if preset == "auto":
        chosen = "paper" if torch.cuda.is_available() else "cpu"
        return chosen, f"{chosen} (auto: {'CUDA present' if chosen == 'paper' else 'no CUDA device'})"
    if preset not in PRESETS:
        raise InputError(f"unknown --preset {preset!r}; use one of {[*PRESETS, 'auto']}")
    return preset, preset


def apply_threads(threads: int | None) -> None:
    if threads is not None:
        if threads < 1:
            raise InputError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)


@contextmanager
def run_log(run: RunOptions) -> Iterator[None]:
    """Check --out, then copy the log into OUT/train.log for the duration of the command."""
    check_out_dir(run.out, run.resume)
    setup_logging(run.verbose)
    handler = logging.FileHandler(run.out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def execute(runs: list[LosoRun], run: RunOptions, progress: Progress) -> list[RunResult]:
    """Every run here in turn, or (--ray) every fold of every run at once, one Ray task each."""
    if run.ray is None:
        return [loso(resume=run.resume) for loso in runs]
    from realtime.distributed.cluster import ClusterConfig, TaskResources  # Ray is imported only with --ray
    from training.loso.ray_folds import train_on_ray

    resources = TaskResources(cpus=run.ray_cpus, gpus=run.ray_gpus)
    return train_on_ray(runs, device=run.device, threads=run.threads or resources.threads, resources=resources,
                        cluster=ClusterConfig(address=run.ray, log_to_driver=run.verbose), resume=run.resume,
                        progress=progress)


def check_pretrained(config: TrainConfig, pretrained: Path | None) -> None:
    """Refuse a missing or mismatched --pretrained file now, not after aligning every clip."""
    if pretrained is None:
        return
    if not pretrained.is_file():
        raise InputError(f"--pretrained {pretrained}: no such file")
    create_model(ModelConfig(backbone=config.backbone, inputs=config.inputs, fusion=config.fusion,
                             shared_backbone=config.shared_backbone), pretrained=pretrained)


def print_result(result: RunResult, title: str) -> None:
    m = result.metrics
    table = Table(title=title)
    for column in ("accuracy", "UF1", "UAR", "N", "mean fold acc.", "selection"):
        table.add_column(column)
    table.add_row(f"{m.accuracy:.4f}", f"{m.uf1:.4f}", f"{m.uar:.4f}", str(m.n), f"{m.mean_fold_accuracy:.4f}",
                  result.config.selection)
    console.print(table)


def train(data: DataOptions, config: TrainConfig, run: RunOptions, *, preset_text: str,
          pretrained: Path | None = None, final_only: bool = False) -> None:
    """`mer-train`: leave-one-subject-out on one dataset (or the composite), then the all-subject model."""
    if final_only and (run.resume or config.select_on_test or run.ray is not None):
        raise InputError("--final-only trains one model without folds: it takes no --resume, "
                         "--select-on-test or --ray")
    check_pretrained(config, pretrained)
    with run_log(run):
        console.print(f"preset: [bold]{preset_text}[/] -> {config.backbone} at {config.size} px, "
                      f"{config.optimizer} lr {config.lr:g}, batch {config.batch_size}, up to {config.epochs} "
                      f"epochs (patience {config.patience}); selection: [bold]{config.selection}[/]",
                      highlight=False)
        log.info("preset %s; resolved config %s", preset_text, config.to_dict())
        description = {"dataset": data.dataset, "roots": list(data.roots), "fps": data.fps,
                       "composite_list": str(data.composite_list) if data.composite_list else None,
                       "pretrained_sha256": file_sha256(pretrained) if pretrained else None}
        with progress_display() as progress:
            clips, classes = load_clips(data)
            cached, skipped, alignment = cache_clips(clips, data, progress)
            loso = LosoRun(cached, classes, config, run.out, alignment=alignment, device=run.device,
                           pretrained=pretrained, progress=progress,
                           description={**description, "skipped_clips": skipped})
            if final_only:
                console.print(f"all-subject model (not evaluated: --final-only) -> {loso.train_final_only()}")
                return
            result = execute([loso], run, progress)[0]
        print_result(result, f"{data.dataset}: leave-one-subject-out ({len(result.folds)} folds) -> {run.out}")
