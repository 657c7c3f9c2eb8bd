"""`mer-train ablation`: the paper's Tables 2-4 (backbone, fusion, inputs) as one Markdown table.

Each row is a full leave-one-subject-out run of the base configuration with one field changed;
rows that come out equal (the base itself appears in every table) share one run folder.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from realtime.core.console import console
from realtime.core.errors import InputError
from training.compare import run_variants
from training.jobs import DataOptions, RunOptions, run_log
from training.loso import RunResult
from training.models import check_backbone
from training.presets import TrainConfig

log = logging.getLogger(__name__)

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

Variant = tuple[str, str, TrainConfig]  # (table, row label, config)


def ablation_variants(base: TrainConfig, tables: list[str], backbones: tuple[str, ...]) -> list[Variant]:
    """(table, row label, config) of every row; rows equal to the base configuration share one run."""
    for name in backbones:
        check_backbone(name)
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


def variant_dir(config: TrainConfig) -> str:
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


def run_ablation(data: DataOptions, base: TrainConfig, variants: list[Variant], run: RunOptions, *,
                 preset_text: str) -> str:
    """Run every distinct variant (each in OUT/<backbone>-<inputs>-<fusion>), write OUT/ablation.md, return it."""
    configs: dict[str, TrainConfig] = {}
    for _, _, config in variants:
        configs.setdefault(variant_dir(config), config)
    with run_log(run):
        console.print(f"preset: [bold]{preset_text}[/]; {len(configs)} distinct runs; selection: "
                      f"[bold]{base.selection}[/]", highlight=False)
        log.info("ablation: preset %s; base config %s", preset_text, base.to_dict())
        done, _ = run_variants(data, configs, run)
        rows = [(table, label, config, done[variant_dir(config)]) for table, label, config in variants]
        text = ablation_markdown(data.dataset, rows, preset_text)
        (run.out / "ablation.md").write_text(text)
    console.print(text, markup=False, highlight=False)
    return text

