"""`mer-train`: leave-one-subject-out training of DIANet, and the paper's ablation tables.

    mer-train --dataset casme2 --root DIR --out RUN_DIR [--preset cpu|paper] [options]
    mer-train --dataset composite --root casme2=DIR --root samm=DIR --out RUN_DIR
    mer-train ablation --dataset casme2 --root DIR --out DIR [--tables 2,3,4]
    mer-train compare --dataset casme2 --root DIR --out DIR [--methods dianet,clip_di,shuffled]

This module only parses options (each declared once, below) and calls training.jobs.train,
training.ablation.run_ablation or training.compare.run_compare.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from realtime.core.console import VerboseOpt, make_app, user_errors
from realtime.core.device import DEVICES
from realtime.core.errors import InputError
from training.ablation import BACKBONE_ROWS, ablation_variants, run_ablation
from training.compare import run_compare
from training.jobs import DataOptions, RunOptions, apply_threads, choose_preset, train
from training.methods import list_methods, resolve_methods
from training.models import list_fusions, list_inputs
from training.presets import PRESETS, resolve

app = make_app(
    "Train DIANet with honest leave-one-subject-out evaluation (the test subject is used for nothing "
    "but testing), write predictions, MEGC metrics and the all-subject model.pt. "
    "`mer-train ablation ...` runs the paper's Tables 2-4; `mer-train compare ...` every method under one "
    "protocol.",
    examples=["mer-train --dataset casme2 --root /data/CASME2 --out runs/casme2 --preset cpu",
              "mer-train --dataset casme2 --root synth-data --out runs/demo --preset demo --final-only",
              "mer-train ablation --dataset casme2 --root /data/CASME2 --out runs/ablation",
              "mer-train compare --dataset casme2 --root synth-data --out runs/compare --methods dianet,clip_di,shuffled"])

# ---- every option, declared once (both commands use the shared ones)
DatasetOpt = Annotated[str | None, typer.Option(
    "--dataset", metavar="NAME",
    help="casme2 | samm | mmew, or composite (MEGC2019 three classes; one --root per dataset).")]
RootOpt = Annotated[list[str] | None, typer.Option(
    "--root", metavar="DIR", help="Release folder as shipped; for composite give NAME=DIR once per dataset.")]
AnnotationsOpt = Annotated[list[str] | None, typer.Option(
    "--annotations", metavar="SHEET", help="Coding sheet, when not found inside --root (composite: NAME=SHEET).")]
OutOpt = Annotated[Path | None, typer.Option("--out", metavar="RUN_DIR", help="Run folder for every output (created).")]
PresetOpt = Annotated[str, typer.Option(
    "--preset", metavar="NAME", help=f"{' | '.join(PRESETS)} | auto (paper when CUDA is present, else cpu).")]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="Maximum epochs per fold (preset's by default).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of everything random; a run is reproducible.")]
DeviceOpt = Annotated[str, typer.Option("--device", help=f"{DEVICES}; CUDA trains in mixed precision.")]
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
RayOpt = Annotated[str | None, typer.Option(
    "--ray", metavar="ADDRESS", help="One Ray task per fold (pip install 'dianet-mer[distributed]'): local (a Ray "
                                     "instance on this machine for this run), auto (the cluster this machine joined "
                                     "with `ray start`), or the head's HOST:PORT. --out (and --cache, with phase "
                                     "jitter) must be at the same path on every node.")]
RayCpusOpt = Annotated[float, typer.Option(
    "--ray-cpus", help="CPUs each fold's task reserves (with --ray); its torch threads unless --threads.")]
RayGpusOpt = Annotated[float, typer.Option("--ray-gpus", help="GPU share each fold's task reserves (with --ray).")]


BackboneOpt = Annotated[str | None, typer.Option("--backbone", help="Backbone registry name (preset's by default).")]
FusionOpt = Annotated[str | None, typer.Option("--fusion", help=f"{' | '.join(list_fusions())}.")]
InputsOpt = Annotated[str | None, typer.Option(
    "--inputs", help=f"{' | '.join(list_inputs())} (phases = DI-Onset + DI-Offset, the paper's).")]
SeparateStreamsOpt = Annotated[bool, typer.Option(
    "--separate-streams", help="One backbone per stream instead of shared weights.")]
SizeOpt = Annotated[int | None, typer.Option(
    "--size", help="Network input side, px (DIs are made on the 224 px aligned crop, then resized).")]
BatchSizeOpt = Annotated[int | None, typer.Option("--batch-size", help="Batch size (preset's by default).")]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Learning rate (preset's by default).")]
PatienceOpt = Annotated[int | None, typer.Option("--patience", help="Early-stopping patience in epochs.")]
CosLambdaOpt = Annotated[float | None, typer.Option(
    "--cos-lambda", help="Weight of the stream-agreement loss mean(1 - cos(f1, f2)).")]
JitterOpt = Annotated[float | None, typer.Option(
    "--jitter", help="Phase jitter: onset/apex/offset move by up to this fraction of the clip (0 = off).")]
PretrainedOpt = Annotated[Path | None, typer.Option(
    "--pretrained", metavar="FILE", help="torchvision ImageNet state dict of the backbone (loaded strictly).")]
FinalOnlyOpt = Annotated[bool, typer.Option(
    "--final-only", help="Only the all-subject model, for --epochs: no leave-one-subject-out folds and no "
                         "numbers (for a configuration already evaluated, e.g. the built-in demo's).")]
TablesOpt = Annotated[str, typer.Option("--tables", help="Which of the paper's tables: 2 (backbones), 3 (fusion), "
                                                         "4 (inputs), comma-separated.")]
BackbonesOpt = Annotated[str | None, typer.Option(
    "--backbones", help=f"Table 2 rows, comma-separated (default: {','.join(BACKBONE_ROWS)}).")]
MethodsOpt = Annotated[str | None, typer.Option(
    "--methods", help=f"Methods to compare, comma-separated (default: all of {','.join(list_methods())}; "
                      f"'shuffled' is the permuted-label control).")]
FinalModelsOpt = Annotated[bool, typer.Option(
    "--final-models/--no-final-models", help="Also train each method's all-subject model.pt (for its engine).")]
AblationBackboneOpt = Annotated[str | None, typer.Option(
    "--backbone", help="Backbone of the Table 3 and 4 rows (preset's by default).")]


def _options(dataset: str | None, roots: list[str] | None, annotations: list[str] | None, out: Path | None, *,
             min_clips_per_class: int, fps: float | None, composite_list: Path | None, cache: Path | None,
             device: str, resume: bool, threads: int | None, ray: str | None, ray_cpus: float, ray_gpus: float,
             verbose: bool) -> tuple[DataOptions, RunOptions]:
    """The options both commands share, as records; refuses missing ones and applies --threads."""
    apply_threads(threads)
    missing = [name for name, value in (("--dataset", dataset), ("--root", roots), ("--out", out)) if not value]
    if missing:
        raise InputError(f"missing {', '.join(missing)} (see mer-train --help)")
    data = DataOptions(dataset=dataset, roots=tuple(roots), annotations=tuple(annotations or ()),
                       min_clips_per_class=min_clips_per_class, fps=fps, composite_list=composite_list, cache=cache)
    return data, RunOptions(out=out, device=device, resume=resume, threads=threads, ray=ray, ray_cpus=ray_cpus,
                            ray_gpus=ray_gpus, verbose=verbose)


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context, dataset: DatasetOpt = None, root: RootOpt = None, annotations: AnnotationsOpt = None,
    out: OutOpt = None, preset: PresetOpt = "auto", backbone: BackboneOpt = None, fusion: FusionOpt = None,
    inputs: InputsOpt = None, separate_streams: SeparateStreamsOpt = False, size: SizeOpt = None,
    epochs: EpochsOpt = None, batch_size: BatchSizeOpt = None, lr: LrOpt = None, patience: PatienceOpt = None,
    cos_lambda: CosLambdaOpt = None, jitter: JitterOpt = None, pretrained: PretrainedOpt = None, seed: SeedOpt = 0,
    device: DeviceOpt = "auto", cache: CacheOpt = None, resume: ResumeOpt = False,
    select_on_test: SelectOnTestOpt = False, min_clips_per_class: MinClipsOpt = 10, fps: FpsOpt = None,
    composite_list: CompositeListOpt = None, threads: ThreadsOpt = None, ray: RayOpt = None,
    ray_cpus: RayCpusOpt = 1.0, ray_gpus: RayGpusOpt = 0.0, final_only: FinalOnlyOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Leave-one-subject-out training on one dataset (or the composite), then the all-subject model."""
    with user_errors():
        if ctx.invoked_subcommand is not None:
            if dataset or root or out:
                raise InputError(f"put the options after the command: mer-train {ctx.invoked_subcommand} --dataset ...")
            return
        data, run = _options(dataset, root, annotations, out, min_clips_per_class=min_clips_per_class, fps=fps,
                             composite_list=composite_list, cache=cache, device=device, resume=resume,
                             threads=threads, ray=ray, ray_cpus=ray_cpus, ray_gpus=ray_gpus, verbose=verbose)
        preset_name, preset_text = choose_preset(preset)
        augment = PRESETS[preset_name].augment
        config = resolve(preset_name, backbone=backbone, fusion=fusion, inputs=inputs, size=size, epochs=epochs,
                         batch_size=batch_size, lr=lr, patience=patience, cos_lambda=cos_lambda, seed=seed,
                         select_on_test=select_on_test, shared_backbone=False if separate_streams else None,
                         augment=augment if jitter is None else replace(augment, jitter_fraction=jitter))
        train(data, config, run, preset_text=preset_text, pretrained=pretrained, final_only=final_only)


@app.command()
def ablation(
    dataset: DatasetOpt = None, root: RootOpt = None, annotations: AnnotationsOpt = None, out: OutOpt = None,
    preset: PresetOpt = "auto", tables: TablesOpt = "2,3,4", backbones: BackbonesOpt = None,
    backbone: AblationBackboneOpt = None, size: SizeOpt = None, epochs: EpochsOpt = None, seed: SeedOpt = 0,
    device: DeviceOpt = "auto", cache: CacheOpt = None, resume: ResumeOpt = False,
    select_on_test: SelectOnTestOpt = False, min_clips_per_class: MinClipsOpt = 10, fps: FpsOpt = None,
    composite_list: CompositeListOpt = None, threads: ThreadsOpt = None, ray: RayOpt = None,
    ray_cpus: RayCpusOpt = 1.0, ray_gpus: RayGpusOpt = 0.0, verbose: VerboseOpt = False,
) -> None:
    """Run the configurations of the paper's Tables 2-4 on one dataset; write OUT/ablation.md."""
    with user_errors():
        data, run = _options(dataset, root, annotations, out, min_clips_per_class=min_clips_per_class, fps=fps,
                             composite_list=composite_list, cache=cache, device=device, resume=resume,
                             threads=threads, ray=ray, ray_cpus=ray_cpus, ray_gpus=ray_gpus, verbose=verbose)
        preset_name, preset_text = choose_preset(preset)
        base = resolve(preset_name, backbone=backbone, size=size, epochs=epochs, seed=seed,
                       select_on_test=select_on_test, final_model=False)
        variants = ablation_variants(base, [t.strip() for t in tables.split(",") if t.strip()],
                                     tuple(backbones.split(",")) if backbones else BACKBONE_ROWS)
        run_ablation(data, base, variants, run, preset_text=preset_text)


@app.command()
def compare(
    dataset: DatasetOpt = None, root: RootOpt = None, annotations: AnnotationsOpt = None, out: OutOpt = None,
    methods: MethodsOpt = None, preset: PresetOpt = "compare", size: SizeOpt = None, epochs: EpochsOpt = None,
    seed: SeedOpt = 0, device: DeviceOpt = "auto", cache: CacheOpt = None, resume: ResumeOpt = False,
    final_models: FinalModelsOpt = True, min_clips_per_class: MinClipsOpt = 10, fps: FpsOpt = None,
    composite_list: CompositeListOpt = None, threads: ThreadsOpt = None, ray: RayOpt = None,
    ray_cpus: RayCpusOpt = 1.0, ray_gpus: RayGpusOpt = 0.0, verbose: VerboseOpt = False,
) -> None:
    """Every method on the same folds, seeds and epoch rule (the compare preset trains from scratch);
    write OUT/compare.md, compare.json and compare.png."""
    with user_errors():
        data, run = _options(dataset, root, annotations, out, min_clips_per_class=min_clips_per_class, fps=fps,
                             composite_list=composite_list, cache=cache, device=device, resume=resume,
                             threads=threads, ray=ray, ray_cpus=ray_cpus, ray_gpus=ray_gpus, verbose=verbose)
        preset_name, preset_text = choose_preset(preset)
        base = resolve(preset_name, size=size, epochs=epochs, seed=seed, final_model=final_models)
        run_compare(data, base, resolve_methods(methods), run, preset_text=preset_text)


if __name__ == "__main__":
    app()
