"""`mer-train`: leave-one-subject-out training of DIANet, and the paper's ablation tables.

    mer-train --dataset casme2 --root DIR --out RUN_DIR [--preset cpu|paper] [options]
    mer-train --dataset composite --root casme2=DIR --root samm=DIR --out RUN_DIR
    mer-train ablation --dataset casme2 --root DIR --out DIR [--tables 2,3,4]
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from realtime.core.console import console, setup_logging, user_errors
from realtime.core.errors import InputError
from realtime.face.aligner import AlignConfig
from training.checkpoint import file_sha256
from training.clip_cache import CachedClip, ClipCache, default_cache_dir
from training.datasets import MEGC3_CLASSES, load_composite, load_dataset
from training.loso import LosoRun, RunResult, check_out_dir
from training.models import ModelConfig, create_model, list_backbones
from training.presets import FUSIONS, INPUTS, PRESETS, TrainConfig, resolve

log = logging.getLogger("training.cli.train")

DATASETS = ("casme2", "samm", "mmew")

app = typer.Typer(
    help="Train DIANet with honest leave-one-subject-out evaluation (the test subject is used for nothing "
         "but testing), write predictions, MEGC metrics and the all-subject model.pt. "
         "`mer-train ablation ...` runs the paper's Tables 2-4.",
    add_completion=False, no_args_is_help=True, rich_markup_mode=None)

# ---- options shared by training and ablation
DatasetOpt = Annotated[str | None, typer.Option(
    "--dataset", metavar="NAME",
    help="casme2 | samm | mmew, or composite (MEGC2019 three classes; one --root per dataset).")]
RootOpt = Annotated[list[str] | None, typer.Option(
    "--root", metavar="DIR", help="Release folder as shipped; for composite give NAME=DIR once per dataset.")]
AnnotationsOpt = Annotated[list[str] | None, typer.Option(
    "--annotations", metavar="SHEET", help="Coding sheet, when not found inside --root (composite: NAME=SHEET).")]
OutOpt = Annotated[Path | None, typer.Option("--out", metavar="RUN_DIR", help="Run folder for every output (created).")]
PresetOpt = Annotated[str, typer.Option(
    "--preset", metavar="NAME", help="paper | cpu | auto (paper when CUDA is present, else cpu).")]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="Maximum epochs per fold (preset's by default).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of everything random; a run is reproducible.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda[:N]; CUDA trains in mixed precision.")]
CacheOpt = Annotated[Path | None, typer.Option(
    "--cache", metavar="DIR", help="Folder of aligned frames and DIs (default $XDG_CACHE_HOME/dianet-mer/clips).")]
ResumeOpt = Annotated[bool, typer.Option(
    "--resume", help="Continue a killed run in --out: finished folds are loaded, never recomputed.")]
SelectOnTestOpt = Annotated[bool, typer.Option(
    "--select-on-test", help="OPTIMISTIC: choose each fold's epoch on its test subject (as much published MER "
                             "code does). Labelled so in every output.")]
MinClipsOpt = Annotated[int, typer.Option(
    "--min-clips-per-class", help="Drop classes with fewer clips in a release (the paper: 10).")]
FpsOpt = Annotated[float | None, typer.Option(
    "--fps", help="Recording rate of the clips, for the aligner's temporal smoothing (default: the "
                  "release's, CASME-II and SAMM 200, MMEW 90).")]
ThreadsOpt = Annotated[int | None, typer.Option(
    "--threads", help="torch CPU threads (default: torch's, one per core); 1 is fastest on a shared machine.")]
CompositeListOpt = Annotated[Path | None, typer.Option(
    "--composite-list", metavar="CSV", help="MEGC2019 combined_3class_gt.csv: the clips and labels of "
                                            "--dataset composite (default: the sheets' emotions, mapped).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]
RayOpt = Annotated[str | None, typer.Option(
    "--ray", metavar="ADDRESS", help="One Ray task per fold (pip install 'dianet-mer[distributed]'): local (a Ray "
                                     "instance on this machine for this run), auto (the cluster this machine joined "
                                     "with `ray start`), or the head's HOST:PORT. --out (and --cache, with phase "
                                     "jitter) must be at the same path on every node.")]
RayCpusOpt = Annotated[float, typer.Option(
    "--ray-cpus", help="CPUs each fold's task reserves (with --ray); its torch threads unless --threads.")]
RayGpusOpt = Annotated[float, typer.Option("--ray-gpus", help="GPU share each fold's task reserves (with --ray).")]


def _parse_named(values: list[str], option: str) -> dict[str, Path]:
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


def _load_clips(dataset: str, roots: list[str], annotations: list[str], *, min_clips: int,
                composite_list: Path | None) -> tuple[list, tuple[str, ...]]:
    """Clips (training.datasets.Clip) and class order for a dataset or the composite."""
    if dataset in DATASETS:
        if len(roots) != 1 or len(annotations) > 1:
            raise InputError(f"--dataset {dataset} takes one --root and at most one --annotations")
        if composite_list is not None:
            raise InputError("--composite-list goes with --dataset composite only")
        root = Path(roots[0].split("=", 1)[1] if roots[0].startswith(f"{dataset}=") else roots[0])
        index = load_dataset(dataset, root, annotations=Path(annotations[0]) if annotations else None,
                             min_clips_per_class=min_clips)
        if index.problems:
            log.warning("%s: %d problems in the release (run `mer-data check` for the list)", root, len(index.problems))
        return list(index.clips), tuple(index.classes)
    if dataset == "composite":
        named_roots = _parse_named(roots, "--root")
        named_sheets = _parse_named(annotations, "--annotations")
        extra = sorted(set(named_sheets) - set(named_roots))
        if extra:
            raise InputError(f"--annotations given for {extra} without a --root")
        if composite_list is not None:  # the challenge's own list is the authority on clips and labels
            index = load_composite(named_roots, gt=composite_list, annotations=named_sheets)
            if index.problems:
                log.warning("composite: %d problems (clips of the list not used, release problems)",
                            len(index.problems))
            return list(index.clips), tuple(index.classes)
        log.warning("composite without --composite-list: classes from the sheets' emotions by the MEGC2019 "
                    "mapping (negative, positive, surprise); the official list leaves out a few of those clips")
        clips, present = [], set()
        for name, root in named_roots.items():
            index = load_dataset(name, root, annotations=named_sheets.get(name), class_map="megc3",
                                 min_clips_per_class=min_clips)
            if index.problems:
                log.warning("%s: %d problems in the release (run `mer-data check`)", root, len(index.problems))
            clips += index.clips
            present |= set(index.classes)
        return clips, tuple(c for c in MEGC3_CLASSES if c in present)
    raise InputError(f"unknown --dataset {dataset!r}; use one of {[*DATASETS, 'composite']}")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=False)


def _cache_clips(clips: list, cache_dir: Path, progress: Progress, *, fps: float | None
                 ) -> tuple[list[CachedClip], list[str], dict]:
    """Align (or load) every clip; a clip without a face anywhere is skipped with a warning."""
    # The same aligned crop as mer-process and mer-live (AlignConfig's 224 px): the DIs are made
    # at that size everywhere and only to_network_input resizes them to the network's --size.
    align = AlignConfig(grey=True, static_image_mode=False)
    cache = ClipCache(cache_dir, align, fps=fps)
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


def _choose_preset(preset: str) -> tuple[str, str]:
    if preset == "auto":
        chosen = "paper" if torch.cuda.is_available() else "cpu"
        return chosen, f"{chosen} (auto: {'CUDA present' if chosen == 'paper' else 'no CUDA device'})"
    if preset not in PRESETS:
        raise InputError(f"unknown --preset {preset!r}; use one of {[*PRESETS, 'auto']}")
    return preset, preset


def _print_result(result: RunResult, title: str) -> None:
    m = result.metrics
    table = Table(title=title)
    for column in ("accuracy", "UF1", "UAR", "N", "mean fold acc.", "selection"):
        table.add_column(column)
    table.add_row(f"{m.accuracy:.4f}", f"{m.uf1:.4f}", f"{m.uar:.4f}", str(m.n), f"{m.mean_fold_accuracy:.4f}",
                  result.config.selection)
    console.print(table)


@contextmanager
def _run_log(out: Path, resume: bool, verbose: bool) -> Iterator[None]:
    """Check --out, then copy the log into OUT/train.log for the duration of the command."""
    check_out_dir(out, resume)
    setup_logging(verbose)
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def _on_ray(runs: list[LosoRun], address: str, cpus: float, gpus: float, *, device: str, threads: int | None,
            resume: bool, progress: Progress, verbose: bool) -> list[RunResult]:
    """--ray: the same runs, one Ray task per fold (issue 7; Ray is imported only here)."""
    from realtime.distributed.cluster import ClusterConfig, TaskResources
    from training.ray_folds import train_on_ray

    resources = TaskResources(cpus=cpus, gpus=gpus)
    return train_on_ray(runs, device=device, threads=threads or resources.threads, resources=resources,
                        cluster=ClusterConfig(address=address, log_to_driver=verbose), resume=resume, progress=progress)


def _check_common(dataset: str | None, roots: list[str] | None, out: Path | None, threads: int | None
                  ) -> tuple[str, list[str], Path]:
    """The options both commands need; applies --threads."""
    if threads is not None:
        if threads < 1:
            raise InputError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    missing = [name for name, value in (("--dataset", dataset), ("--root", roots), ("--out", out)) if not value]
    if missing:
        raise InputError(f"missing {', '.join(missing)} (see mer-train --help)")
    return dataset, roots, out


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    dataset: DatasetOpt = None,
    root: RootOpt = None,
    annotations: AnnotationsOpt = None,
    out: OutOpt = None,
    preset: PresetOpt = "auto",
    backbone: Annotated[str | None, typer.Option(
        "--backbone", help="Backbone registry name (preset's by default).")] = None,
    fusion: Annotated[str | None, typer.Option("--fusion", help=f"{' | '.join(FUSIONS)}.")] = None,
    inputs: Annotated[str | None, typer.Option(
        "--inputs", help=f"{' | '.join(INPUTS)} (phases = DI-Onset + DI-Offset, the paper's).")] = None,
    separate_streams: Annotated[bool, typer.Option(
        "--separate-streams", help="One backbone per stream instead of shared weights.")] = False,
    size: Annotated[int | None, typer.Option(
        "--size", help="Network input side, px (DIs are made on the 224 px aligned crop, then resized).")] = None,
    epochs: EpochsOpt = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Batch size (preset's by default).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate (preset's by default).")] = None,
    patience: Annotated[int | None, typer.Option("--patience", help="Early-stopping patience in epochs.")] = None,
    cos_lambda: Annotated[float | None, typer.Option(
        "--cos-lambda", help="Weight of the stream-agreement loss mean(1 - cos(f1, f2)).")] = None,
    jitter: Annotated[float | None, typer.Option(
        "--jitter", help="Phase jitter: onset/apex/offset move by up to this fraction of the clip (0 = off).")] = None,
    pretrained: Annotated[Path | None, typer.Option(
        "--pretrained", metavar="FILE",
        help="torchvision ImageNet state dict of the backbone (loaded strictly).")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    cache: CacheOpt = None,
    resume: ResumeOpt = False,
    select_on_test: SelectOnTestOpt = False,
    min_clips_per_class: MinClipsOpt = 10,
    fps: FpsOpt = None,
    composite_list: CompositeListOpt = None,
    threads: ThreadsOpt = None,
    ray: RayOpt = None,
    ray_cpus: RayCpusOpt = 1.0,
    ray_gpus: RayGpusOpt = 0.0,
    final_only: Annotated[bool, typer.Option(
        "--final-only", help="Only the all-subject model, for --epochs: no leave-one-subject-out folds and no "
                             "numbers (for a configuration already evaluated, e.g. the built-in demo's).")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Leave-one-subject-out training on one dataset (or the composite), then the all-subject model."""
    if ctx.invoked_subcommand is not None:
        if dataset or root or out:
            with user_errors():
                raise InputError(f"put the options after the command: mer-train {ctx.invoked_subcommand} --dataset ...")
        return
    with user_errors():
        dataset, roots, out = _check_common(dataset, root, out, threads)
        if final_only and (resume or select_on_test or ray is not None):
            raise InputError("--final-only trains one model without folds: it takes no --resume, "
                             "--select-on-test or --ray")
        preset_name, preset_text = _choose_preset(preset)
        augment = PRESETS[preset_name].augment
        if jitter is not None:
            augment = replace(augment, jitter_fraction=jitter)
        config = resolve(preset_name, backbone=backbone, fusion=fusion, inputs=inputs, size=size, epochs=epochs,
                         batch_size=batch_size, lr=lr, patience=patience, cos_lambda=cos_lambda, seed=seed,
                         select_on_test=select_on_test, shared_backbone=False if separate_streams else None,
                         augment=augment)
        if config.backbone not in list_backbones():
            raise InputError(f"unknown --backbone {config.backbone!r}; known: {', '.join(list_backbones())}")
        if pretrained is not None:  # refuse a missing or mismatched file now, not after aligning every clip
            if not pretrained.is_file():
                raise InputError(f"--pretrained {pretrained}: no such file")
            create_model(ModelConfig(backbone=config.backbone, inputs=config.inputs, fusion=config.fusion,
                                     shared_backbone=config.shared_backbone), pretrained=pretrained)
        with _run_log(out, resume, verbose):
            console.print(f"preset: [bold]{preset_text}[/] -> {config.backbone} at {config.size} px, "
                          f"{config.optimizer} lr {config.lr:g}, batch {config.batch_size}, up to {config.epochs} "
                          f"epochs (patience {config.patience}); selection: [bold]{config.selection}[/]",
                          highlight=False)
            log.info("preset %s; resolved config %s", preset_text, config.to_dict())
            description = {"dataset": dataset, "roots": roots, "fps": fps,
                           "composite_list": str(composite_list) if composite_list else None,
                           "pretrained_sha256": file_sha256(pretrained) if pretrained else None}
            with _progress() as progress:
                clips, classes = _load_clips(dataset, roots, annotations or [], min_clips=min_clips_per_class,
                                              composite_list=composite_list)
                cached, skipped, alignment = _cache_clips(clips, cache or default_cache_dir(), progress,
                                                          fps=fps)
                run = LosoRun(cached, classes, config, out, alignment=alignment, device=device,
                              pretrained=pretrained, progress=progress,
                              description={**description, "skipped_clips": skipped})
                if final_only:
                    console.print(f"all-subject model (not evaluated: --final-only) -> {run.train_final_only()}")
                    return
                result = run(resume=resume) if ray is None else _on_ray(
                    [run], ray, ray_cpus, ray_gpus, device=device, threads=threads, resume=resume, progress=progress,
                    verbose=verbose)[0]
            _print_result(result, f"{dataset}: leave-one-subject-out ({len(result.folds)} folds) -> {out}")


ABLATION_TABLES = {
    "2": "Backbone",
    "3": "Fusion",
    "4": "Input",
}
BACKBONE_ROWS = ("efficientnetv2_s", "efficientnetv2_b0", "resnet18", "convnext_tiny", "mobilevit_s")
FUSION_ROWS = {"cross_attention": "Cross-attention (ours)", "simple_attention": "Simple attention",
               "concat": "Concatenation"}
INPUT_ROWS = {"phases": "DI-Onset + DI-Offset (ours)", "clip_both": "DI + DI (whole-clip DI in both streams)",
              "clip": "DI, single stream \u2020", "onset": "DI-Onset, single stream \u2020",
              "offset": "DI-Offset, single stream \u2020"}


def ablation_variants(base: TrainConfig, tables: list[str], backbones: tuple[str, ...]
                      ) -> list[tuple[str, str, TrainConfig]]:
    """(table, row label, config) of every row; rows equal to the base configuration share one run."""
    rows = []
    for table in tables:
        if table == "2":
            rows += [("2", name, replace(base, backbone=name)) for name in backbones]
        elif table == "3":
            rows += [("3", label, replace(base, fusion=fusion)) for fusion, label in FUSION_ROWS.items()]
        elif table == "4":
            rows += [("4", label, replace(base, inputs=inputs)) for inputs, label in INPUT_ROWS.items()]
        else:
            raise InputError(f"unknown ablation table {table!r}; use 2, 3 and/or 4")
    return rows


def _variant_dir(config: TrainConfig) -> str:
    return f"{config.backbone}-{config.inputs}-{config.fusion}"


def ablation_markdown(dataset: str, rows: list[tuple[str, str, TrainConfig, RunResult]], preset_text: str) -> str:
    """One Markdown table in the paper's layout: rows grouped by table, Acc (%) / UF1 / UAR columns."""
    first = rows[0][3]
    lines = [f"## DIANet ablations on {dataset} (leave-one-subject-out, {len(first.folds)} subjects, "
             f"{first.metrics.n} clips; preset {preset_text}; selection: {first.config.selection})", "",
             "| Table | Ablation | Variant | Backbone | Input | Fusion | Acc (%) | UF1 | UAR |",
             "| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: |"]
    for table, label, config, result in rows:
        m = result.metrics
        fusion = config.fusion if config.inputs in ("phases", "clip_both") else "-"
        lines.append(f"| {table} | {ABLATION_TABLES[table]} | {label} | {config.backbone} | {config.inputs} "
                     f"| {fusion} | {100 * m.accuracy:.2f} | {m.uf1:.4f} | {m.uar:.4f} |")
    lines += ["", "Accuracy, UF1 (mean per-class F1) and UAR (mean per-class recall) over the predictions of all "
                  "folds pooled, as MEGC defines them."]
    if any(config.inputs in ("clip", "onset", "offset") for _, _, config, _ in rows):
        lines.append("\u2020 The paper's single-stream rows use LEARNet; ours use one DIANet stream (the same "
                     "backbone, projection and MLP head) on that single DI. The whole-clip DI row trains with the "
                     "dual-phase samples of arXiv 2510.15466 (DI-Onset and DI-Offset as extra samples).")
    if first.config.select_on_test:
        lines.append("**Epochs chosen on the test subject (--select-on-test): these numbers are optimistic.**")
    return "\n".join(lines) + "\n"


@app.command()
def ablation(
    dataset: DatasetOpt = None,
    root: RootOpt = None,
    annotations: AnnotationsOpt = None,
    out: OutOpt = None,
    preset: PresetOpt = "auto",
    tables: Annotated[str, typer.Option("--tables", help="Which of the paper's tables: 2 (backbones), 3 (fusion), "
                                                         "4 (inputs), comma-separated.")] = "2,3,4",
    backbones: Annotated[str | None, typer.Option(
        "--backbones", help=f"Table 2 rows, comma-separated (default: {','.join(BACKBONE_ROWS)}).")] = None,
    backbone: Annotated[str | None, typer.Option(
        "--backbone", help="Backbone of the Table 3 and 4 rows (preset's by default).")] = None,
    size: Annotated[int | None, typer.Option(
        "--size", help="Network input side, px (DIs are made on the 224 px aligned crop, then resized).")] = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    cache: CacheOpt = None,
    resume: ResumeOpt = False,
    select_on_test: SelectOnTestOpt = False,
    min_clips_per_class: MinClipsOpt = 10,
    fps: FpsOpt = None,
    composite_list: CompositeListOpt = None,
    threads: ThreadsOpt = None,
    ray: RayOpt = None,
    ray_cpus: RayCpusOpt = 1.0,
    ray_gpus: RayGpusOpt = 0.0,
    verbose: VerboseOpt = False,
) -> None:
    """Run the configurations of the paper's Tables 2-4 on one dataset; write OUT/ablation.md."""
    with user_errors():
        dataset, roots, out = _check_common(dataset, root, out, threads)
        preset_name, preset_text = _choose_preset(preset)
        base = resolve(preset_name, backbone=backbone, size=size, epochs=epochs, seed=seed,
                       select_on_test=select_on_test, final_model=False)
        if base.backbone not in list_backbones():
            raise InputError(f"unknown --backbone {base.backbone!r}; known: {', '.join(list_backbones())}")
        names = tuple(backbones.split(",")) if backbones else BACKBONE_ROWS
        unknown = [name for name in names if name not in list_backbones()]
        if unknown:
            raise InputError(f"unknown backbones {unknown}; known: {', '.join(list_backbones())}")
        variants = ablation_variants(base, [t.strip() for t in tables.split(",") if t.strip()], names)
        with _run_log(out, resume, verbose):
            console.print(f"preset: [bold]{preset_text}[/]; {len({_variant_dir(c) for _, _, c in variants})} "
                          f"distinct runs; selection: [bold]{base.selection}[/]", highlight=False)
            log.info("ablation: preset %s; base config %s", preset_text, base.to_dict())
            rows = []
            with _progress() as progress:
                clips, classes = _load_clips(dataset, roots, annotations or [], min_clips=min_clips_per_class,
                                              composite_list=composite_list)
                cached, skipped, alignment = _cache_clips(clips, cache or default_cache_dir(), progress,
                                                          fps=fps)
                runs: dict[str, LosoRun] = {}
                done: dict[str, RunResult] = {}
                for table, label, config in variants:
                    name = _variant_dir(config)
                    if name not in runs:
                        log.info("ablation table %s, %s: %s", table, label, name)
                        runs[name] = LosoRun(cached, classes, config, out / name, alignment=alignment, device=device,
                                             progress=progress,
                                             description={"dataset": dataset, "fps": fps, "ablation": label,
                                                          "skipped_clips": skipped})
                        if ray is None:
                            done[name] = runs[name](resume=resume)
                if ray is not None:  # every fold of every configuration at once, one Ray task each
                    done = dict(zip(runs, _on_ray(list(runs.values()), ray, ray_cpus, ray_gpus, device=device,
                                                  threads=threads, resume=resume, progress=progress, verbose=verbose),
                                    strict=True))
                for table, label, config in variants:
                    rows.append((table, label, config, done[_variant_dir(config)]))
            text = ablation_markdown(dataset, rows, preset_text)
            (out / "ablation.md").write_text(text)
            console.print(text, markup=False, highlight=False)


if __name__ == "__main__":
    app()
