"""`mer-train compare`: every registered method under one protocol, one table, intervals, a plot.

Every method (training.methods) is a full leave-one-subject-out run of the same base preset
with its own fields laid over it: the same folds, the same seeds (a fold's seed depends on the
run's seed and its test subject only), the same epoch choice on validation subjects (never the
test subject), each in OUT/<method>/, resumable fold by fold, one Ray task per fold and method
with --ray. `run_variants` is the runner `mer-train ablation` uses too.

Statistics, on the pooled predictions of the folds (the clips are the same for every method):
- accuracy, UF1, UAR pooled, and the mean and sd over folds of the per-fold accuracy and UF1;
- percentile bootstrap intervals of each method's UF1 and accuracy (clips resampled with replacement);
- a paired bootstrap interval of each method's UF1 minus the reference's (DIANet): both
  methods are scored on the same resampled clips, so what the clips have in common cancels;
- calibration: ECE on the test subjects before and after each fold's temperature.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
from rich.progress import Progress

from realtime.core.console import console
from realtime.core.errors import InputError
from training.clip_cache import CachedClip
from training.jobs import DataOptions, RunOptions, cache_clips, execute, load_clips, progress_display, run_log
from training.loso import LosoRun, RunResult
from training.methods import METHODS, REFERENCE
from training.presets import TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BootstrapConfig:
    """The bootstrap behind every interval of the comparison."""

    resamples: int = 2000  # percentile intervals settle to ~0.005 in UF1 by 2000 resamples
    level: float = 0.95
    seed: int = 0


BOOTSTRAP = BootstrapConfig()


def run_cached_variants(clips: Sequence[CachedClip], classes: Sequence[str], alignment: dict,
                        configs: Mapping[str, TrainConfig], run: RunOptions, progress: Progress | None, *,
                        description: dict) -> dict[str, RunResult]:
    """One leave-one-subject-out run per named config, in OUT/<name>/ (resumable; --ray: one task per fold)."""
    runs = {name: LosoRun(clips, classes, config, run.out / name, alignment=alignment, device=run.device,
                          progress=progress, description={**description, "variant": name})
            for name, config in configs.items()}
    return dict(zip(runs, execute(list(runs.values()), run, progress), strict=True))


def run_variants(data: DataOptions, configs: Mapping[str, TrainConfig],
                 run: RunOptions) -> tuple[dict[str, RunResult], tuple[str, ...]]:
    """Align the release's clips once and run every named config on them -> (results, classes)."""
    with progress_display() as progress:
        clips, classes = load_clips(data)
        cached, skipped, alignment = cache_clips(clips, data, progress)
        results = run_cached_variants(cached, classes, alignment, configs, run, progress,
                                      description={"dataset": data.dataset, "fps": data.fps, "skipped_clips": skipped})
    return results, classes


def uf1_resampled(labels: np.ndarray, predicted: np.ndarray, num_classes: int, index: np.ndarray) -> np.ndarray:
    """UF1 (MEGC: mean F1 over the classes present) of each row of resampled clip indices (R, N) -> (R,)."""
    truth = np.eye(num_classes, dtype=np.int32)[labels[index]]  # (R, N, K)
    guess = np.eye(num_classes, dtype=np.int32)[predicted[index]]
    tp = (truth * guess).sum(axis=1)  # (R, K)
    support, called = truth.sum(axis=1), guess.sum(axis=1)
    denominator = support + called  # 2 TP + FP + FN
    f1 = np.divide(2 * tp, denominator, out=np.zeros(tp.shape), where=denominator > 0)
    present = support > 0
    return (f1 * present).sum(axis=1) / present.sum(axis=1)


def _resamples(n: int, config: BootstrapConfig) -> np.ndarray:
    return np.random.default_rng(config.seed).integers(0, n, size=(config.resamples, n))


def _interval(values: np.ndarray, config: BootstrapConfig) -> tuple[float, float]:
    tail = 100 * (1 - config.level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_uf1(labels: np.ndarray, predicted: np.ndarray, num_classes: int,
                  config: BootstrapConfig = BOOTSTRAP) -> tuple[float, float]:
    """Percentile interval of the UF1 of one set of predictions."""
    return _interval(uf1_resampled(labels, predicted, num_classes, _resamples(len(labels), config)), config)


def bootstrap_accuracy(labels: np.ndarray, predicted: np.ndarray,
                       config: BootstrapConfig = BOOTSTRAP) -> tuple[float, float]:
    """Percentile interval of the accuracy (what a deployed engine's label accuracy is checked against)."""
    correct = (labels == predicted).astype(np.float64)
    return _interval(correct[_resamples(len(labels), config)].mean(axis=1), config)


def paired_difference(labels: np.ndarray, predicted: np.ndarray, reference: np.ndarray, num_classes: int,
                      config: BootstrapConfig = BOOTSTRAP) -> tuple[float, float, float]:
    """UF1(predicted) - UF1(reference) and its paired percentile interval (the same clips drawn for both)."""
    everything = np.arange(len(labels))[None]
    index = _resamples(len(labels), config)
    difference = (uf1_resampled(labels, predicted, num_classes, index)
                  - uf1_resampled(labels, reference, num_classes, index))
    point = float(uf1_resampled(labels, predicted, num_classes, everything)[0]
                  - uf1_resampled(labels, reference, num_classes, everything)[0])
    return (point, *_interval(difference, config))


def wilson(successes: int, n: int, level: float = BOOTSTRAP.level) -> tuple[float, float]:
    """Wilson score interval of a proportion: right at 0 or n successes and for n of ~20, where the
    normal interval leaves [0, 1] or collapses to a point."""
    if n < 1 or not 0 <= successes <= n:
        raise InputError(f"a proportion needs 0 <= successes <= n and n >= 1, got {successes} of {n}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class AccuracyAgreement:
    """A deployed engine's label accuracy beside its leave-one-subject-out accuracy, as two proportions."""

    deployed: tuple[int, int]  # (right, events): the interview's matched events
    loso: tuple[int, int]  # (right, clips): the pooled test predictions
    deployed_ci: tuple[float, float]  # Wilson interval of the deployed accuracy
    loso_ci: tuple[float, float]  # Wilson interval of the LOSO accuracy
    difference: float  # deployed minus LOSO accuracy
    ci: tuple[float, float]  # Newcombe's hybrid score interval of that difference

    @property
    def agrees(self) -> bool:
        """The two accuracies are consistent: the interval of their difference contains 0."""
        return self.ci[0] <= 0.0 <= self.ci[1]


def accuracy_agreement(deployed_right: int, deployed_n: int, loso_right: int, loso_n: int,
                       level: float = BOOTSTRAP.level) -> AccuracyAgreement:
    """Compare like with like: both accuracies are proportions with their own sampling error (about
    20 events against 80 clips), so the check is the interval of their difference (Newcombe 1998,
    method 10, from the two Wilson intervals), not whether one point lies in the other's interval."""
    p1, p2 = deployed_right / deployed_n, loso_right / loso_n
    (l1, u1), (l2, u2) = wilson(deployed_right, deployed_n, level), wilson(loso_right, loso_n, level)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return AccuracyAgreement((deployed_right, deployed_n), (loso_right, loso_n), (l1, u1), (l2, u2), difference,
                             (low, high))


def _aligned(result: RunResult, classes: Sequence[str], keys: list[tuple[str, str, str]]) -> np.ndarray:
    """The run's predicted class indices in the order of `keys` (dataset, subject, clip)."""
    index = {name: k for k, name in enumerate(classes)}
    by_key = {(p["dataset"], p["subject"], p["clip"]): index[p["predicted"]]
              for f in result.folds for p in f.predictions}
    if set(by_key) != set(keys):
        raise InputError(f"{result.run_dir}: its predictions are of other clips than the reference run's")
    return np.array([by_key[key] for key in keys])


def _fold_spread(result: RunResult, classes: Sequence[str]) -> dict:
    """Mean and sd over folds of the per-fold accuracy and UF1."""
    from training.metrics import compute_metrics

    accuracy, uf1 = [], []
    for fold in result.folds:
        m = compute_metrics([p["label"] for p in fold.predictions], [p["predicted"] for p in fold.predictions],
                            classes)
        accuracy.append(m.accuracy)
        uf1.append(m.uf1)
    sd = (lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0)
    return {"accuracy_mean": float(np.mean(accuracy)), "accuracy_sd": sd(accuracy),
            "uf1_mean": float(np.mean(uf1)), "uf1_sd": sd(uf1)}


def summarise(results: Mapping[str, RunResult], classes: Sequence[str], reference: str,
              config: BootstrapConfig = BOOTSTRAP) -> dict:
    """Every number of the comparison, JSON-ready (compare.json)."""
    ref = results[reference]
    rows = [p for f in ref.folds for p in f.predictions]
    keys = [(p["dataset"], p["subject"], p["clip"]) for p in rows]
    target = {name: k for k, name in enumerate(classes)}
    labels = np.array([target[p["label"]] for p in rows])
    ref_predicted = _aligned(ref, classes, keys)
    methods = {}
    for name, result in results.items():
        predicted = _aligned(result, classes, keys)
        m = result.metrics
        calibration = json.loads((result.run_dir / "metrics.json").read_text()).get("calibration") or {}
        low, high = bootstrap_uf1(labels, predicted, len(classes), config)
        entry = {"run_dir": str(result.run_dir), "accuracy": m.accuracy, "uf1": m.uf1, "uar": m.uar, "n": m.n,
                 **_fold_spread(result, classes), "uf1_ci": [low, high],
                 "accuracy_ci": list(bootstrap_accuracy(labels, predicted, config)),
                 "fold_seconds": sum(f.seconds for f in result.folds),
                 "ece_before": calibration.get("before", {}).get("ece"),
                 "ece_after": calibration.get("after", {}).get("ece"),
                 "nll_before": calibration.get("before", {}).get("nll"),
                 "nll_after": calibration.get("after", {}).get("nll"),
                 "control": METHODS[name].control, "summary": METHODS[name].summary}
        if name != reference:
            point, d_low, d_high = paired_difference(labels, predicted, ref_predicted, len(classes), config)
            entry["uf1_difference"] = {"vs": reference, "value": point, "ci": [d_low, d_high]}
        methods[name] = entry
    return {"reference": reference, "classes": list(classes), "chance_uf1": 1.0 / len(classes), "n": len(labels),
            "folds": len(ref.folds), "selection": ref.config.selection,
            "bootstrap": {"resamples": config.resamples, "level": config.level, "unit": "clip", "seed": config.seed},
            "methods": methods}


def compare_markdown(dataset: str, summary: dict, *, preset_text: str, wall_s: float) -> str:
    """The comparison as one Markdown table and the lines that say how to read it."""
    level = round(100 * summary["bootstrap"]["level"])
    chance = summary["chance_uf1"]
    lines = [f"## Methods compared on {dataset} (leave-one-subject-out, {summary['folds']} subjects, "
             f"{summary['n']} clips; preset {preset_text}; selection: {summary['selection']}; "
             f"wall time of this call {wall_s / 60:.1f} min; each method's training time in the last column)", "",
             f"| Method | Acc (%) | UF1 | UAR | Acc per fold (mean +- sd) | UF1 per fold (mean +- sd) "
             f"| UF1 {level}% CI "
             f"| UF1 - {summary['reference']} [{level}% CI] | ECE T=1 -> fitted T | fold time (s) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, m in summary["methods"].items():
        low, high = m["uf1_ci"]
        difference = m.get("uf1_difference")
        diff_text = (f"{difference['value']:+.3f} [{difference['ci'][0]:+.3f}, {difference['ci'][1]:+.3f}]"
                     if difference else "(reference)")
        ece = (f"{m['ece_before']:.3f} -> {m['ece_after']:.3f}" if m["ece_before"] is not None else "-")
        label = f"{name} (control)" if m["control"] else name
        lines.append(f"| {label} | {100 * m['accuracy']:.1f} | {m['uf1']:.3f} | {m['uar']:.3f} "
                     f"| {100 * m['accuracy_mean']:.1f} +- {100 * m['accuracy_sd']:.1f} "
                     f"| {m['uf1_mean']:.3f} +- {m['uf1_sd']:.3f} | [{low:.3f}, {high:.3f}]"
                     f"{' > chance' if low > chance else ''} | {diff_text} | {ece} | {m['fold_seconds']:.0f} |")
    lines += ["", f"Accuracy, UF1 and UAR over the pooled predictions of all folds (MEGC); per-fold numbers weight "
                  f"every subject equally. Intervals: percentile bootstrap over clips "
                  f"({summary['bootstrap']['resamples']} resamples); the difference from {summary['reference']} is paired (the same clips drawn for both). "
                  f"Chance UF1 = 1/K = {chance:.3f}. ECE on the test subjects, before and after each fold's "
                  f"temperature (fitted on its validation subjects)."]
    return "\n".join(lines) + "\n"


def save_plot(summary: dict, path: Path, title: str) -> None:
    """UF1 of every method with its interval, and the chance line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["methods"])
    values = [summary["methods"][n]["uf1"] for n in names]
    lows = [v - summary["methods"][n]["uf1_ci"][0] for n, v in zip(names, values, strict=True)]
    highs = [summary["methods"][n]["uf1_ci"][1] - v for n, v in zip(names, values, strict=True)]
    figure, axis = plt.subplots(figsize=(6.0, 0.5 * len(names) + 1.6))
    colours = ["grey" if summary["methods"][n]["control"] else "tab:blue" for n in names]
    axis.barh(names, values, xerr=[lows, highs], color=colours, capsize=4)
    axis.axvline(summary["chance_uf1"], color="red", linestyle=":", label=f"chance (1/K = {summary['chance_uf1']:.2f})")
    axis.invert_yaxis()
    axis.set(xlim=(0, 1), xlabel=f"UF1 ({round(100 * summary['bootstrap']['level'])}% bootstrap interval)", title=title)
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def compare_results(results: Mapping[str, RunResult], classes: Sequence[str], out: Path, *, dataset: str,
                    preset_text: str, wall_s: float) -> str:
    """Write OUT/compare.json, compare.md and compare.png; return the Markdown."""
    reference = REFERENCE if REFERENCE in results else next(iter(results))
    summary = summarise(results, classes, reference)
    summary["wall_s"] = wall_s
    (out / "compare.json").write_text(json.dumps(summary, indent=2))
    text = compare_markdown(dataset, summary, preset_text=preset_text, wall_s=wall_s)
    (out / "compare.md").write_text(text)
    save_plot(summary, out / "compare.png", f"{dataset}: {summary['folds']} subjects, {summary['n']} clips")
    return text


def run_compare(data: DataOptions, base: TrainConfig, methods: Sequence[str], run: RunOptions, *,
                preset_text: str) -> str:
    """Align the clips once, run every method (resumable), write the comparison; return its Markdown."""
    start = time.perf_counter()
    configs = {name: METHODS[name].config(base) for name in methods}
    with run_log(run):
        console.print(f"preset: [bold]{preset_text}[/]; methods: {', '.join(methods)}; selection: "
                      f"[bold]{base.selection}[/]", highlight=False)
        log.info("compare: preset %s; base config %s; methods %s", preset_text, base.to_dict(), list(methods))
        results, classes = run_variants(data, configs, run)
        text = compare_results(results, classes, run.out, dataset=data.dataset, preset_text=preset_text,
                               wall_s=time.perf_counter() - start)
    console.print(text, markup=False, highlight=False)
    return text
