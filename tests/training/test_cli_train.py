"""`mer-train` end to end on a small `mer-synth` release: real frames, MediaPipe, the DI cache, LOSO.

The release (4 subjects who differ in identity, 5 classes, 3 clips each, 50 fps) is made and
aligned once for the module; every other test reuses the run or the cache. Sizes are the
smallest that still learn: ResNet-18 at 64 px, 12 epochs a fold with the cpu preset's cosine
decay (48 px or a constant learning rate gave UF1 0.55-0.80 in trials; this setting 0.90).
Each fold trains on 2 subjects, validates on 1 and tests on 1.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from realtime.face.aligner import AlignConfig
from training.checkpoint import load_checkpoint
from training.cli.train import app
from training.clip_cache import ClipCache
from training.datasets import load_dataset
from training.jobs import DataOptions, load_clips
from training.loso import LosoRun
from training.presets import TrainConfig
from training.synth import make_dataset

FPS = 50.0
SIZE = 64
TRAIN_ARGS = ["--preset", "cpu", "--backbone", "resnet18", "--size", str(SIZE), "--epochs", "12", "--patience", "12",
              "--fps", str(FPS), "--min-clips-per-class", "1", "--device", "cpu", "--seed", "0"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "casme2"
    make_dataset(root, subjects=4, clips_per_class=3, fps=FPS, size=256, seed=0)
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _invoke(args: list[str]):
    return CliRunner().invoke(app, args, catch_exceptions=False)  # its log handler is undone by conftest.py


@pytest.fixture(scope="module")
def run(synth, cache_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "casme2"
    result = _invoke(["--dataset", "casme2", "--root", str(synth), "--out", str(out), "--cache", str(cache_dir),
                      *TRAIN_ARGS])
    assert result.exit_code == 0, result.output
    assert "preset: cpu" in result.output
    return out


def _read_predictions(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_loso_on_synthetic_release_learns(run) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == 60
    assert metrics["uf1"] >= 0.8, metrics["per_fold"]
    assert metrics["selection"]["rule"] == "validation"


@pytest.mark.slow
def test_metrics_recomputed_from_predictions_equal_metrics_json(run) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    rows = _read_predictions(run / "predictions.csv")
    classes = metrics["classes"]
    header = ["subject", "clip", "label", "predicted", *[f"prob_{c}" for c in classes]]
    assert list(rows[0])[:len(header)] == header
    for row in rows:  # predicted = argmax of the stored probabilities
        probs = [float(row[f"prob_{c}"]) for c in classes]
        assert classes[int(np.argmax(probs))] == row["predicted"] and sum(probs) == pytest.approx(1.0, abs=1e-4)
    labels = [r["label"] for r in rows]
    predicted = [r["predicted"] for r in rows]
    f1s, recalls = [], []
    for c in classes:
        tp = sum(t == c == p for t, p in zip(labels, predicted))
        fp = sum(p == c != t for t, p in zip(labels, predicted))
        fn = sum(t == c != p for t, p in zip(labels, predicted))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        recalls.append(tp / (tp + fn))
    assert metrics["accuracy"] == pytest.approx(np.mean([t == p for t, p in zip(labels, predicted)]))
    assert metrics["uf1"] == pytest.approx(np.mean(f1s))
    assert metrics["uar"] == pytest.approx(np.mean(recalls))
    assert metrics["n"] == len(rows)
    assert {c: m["support"] for c, m in metrics["per_class"].items()} == Counter(labels)
    by_subject = {s: np.mean([t == p for t, p, r in zip(labels, predicted, rows) if r["subject"] == s])
                  for s in {r["subject"] for r in rows}}
    assert metrics["mean_fold_accuracy"] == pytest.approx(np.mean(list(by_subject.values())))
    matrix = np.array(metrics["confusion"]["matrix"])
    assert matrix.sum() == len(rows) and np.trace(matrix) == sum(t == p for t, p in zip(labels, predicted))
    numbers = (run / "confusion.csv").read_text().splitlines()[1:]
    assert [[int(v) for v in line.split(",")[1:]] for line in numbers] == matrix.tolist()


@pytest.mark.slow
def test_no_fold_trains_or_validates_on_its_test_subject(run) -> None:
    folds = [json.loads(p.read_text()) for p in sorted((run / "folds").glob("*.json"))]
    assert [f["fold"]["test_subject"] for f in folds] == ["01", "02", "03", "04"]
    for fold in folds:
        test = fold["fold"]["test_subject"]
        seen = {key.split("/")[1] for key in fold["train_clips"] + fold["val_clips"]}
        assert test not in seen and seen == {"01", "02", "03", "04"} - {test}
        assert {key.split("/")[1] for key in fold["val_clips"]} == set(fold["fold"]["val_subjects"])
        assert {p["subject"] for p in fold["predictions"]} == {test}


@pytest.mark.slow
def test_run_folder_holds_everything_the_engines_need(run) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    folds = [json.loads(p.read_text()) for p in sorted((run / "folds").glob("*.json"))]
    median = int(np.floor(np.median([f["best_epoch"] for f in folds]) + 0.5))
    assert metrics["final_model"]["epochs"] == max(1, median)
    assert len(metrics["data_fingerprint"]) == 64
    assert metrics["configuration"]["backbone"] == "resnet18" and metrics["configuration"]["preset"] == "cpu"
    assert json.loads((run / "config.json").read_text()) == metrics["configuration"]
    assert (run / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    log = (run / "train.log").read_text()
    assert "selection: validation" in log and "fold 4/4" in log
    model, meta = load_checkpoint(run / "model.pt")
    assert meta.classes == tuple(metrics["classes"])
    assert meta.input_names == ("di_onset", "di_offset")
    assert meta.di_input.size == SIZE  # the network's input; DIs come from the live path's aligned crop:
    assert meta.alignment == asdict(AlignConfig()) and meta.alignment["grey"] is True
    assert meta.data_fingerprint == metrics["data_fingerprint"]
    assert meta.training["selection"] == "validation" and meta.training["epochs"] == metrics["final_model"]["epochs"]
    with torch.no_grad():
        logits = model.eval()(torch.zeros(1, 1, SIZE, SIZE), torch.zeros(1, 1, SIZE, SIZE)).logits
    assert logits.shape == (1, 5)


@pytest.mark.slow
def test_resume_recomputes_nothing_and_out_is_never_overwritten(run, synth, cache_dir) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in [*(run / "folds").glob("*.json"), run / "model.pt"]}
    refused = _invoke(["--dataset", "casme2", "--root", str(synth), "--out", str(run), "--cache", str(cache_dir),
                       *TRAIN_ARGS])
    assert refused.exit_code == 2 and "--resume" in refused.output
    resumed = _invoke(["--dataset", "casme2", "--root", str(synth), "--out", str(run), "--cache", str(cache_dir),
                       "--resume", *TRAIN_ARGS])
    assert resumed.exit_code == 0, resumed.output
    assert {p.name: p.stat().st_mtime_ns for p in [*(run / "folds").glob("*.json"), run / "model.pt"]} == before
    assert (run / "train.log").read_text().count("finished earlier") == 5  # 4 folds + the all-subject model


@pytest.mark.slow
def test_final_only_trains_the_all_subject_model_without_folds(run, synth, cache_dir, tmp_path) -> None:
    out = tmp_path / "final"
    args = ["--dataset", "casme2", "--root", str(synth), "--out", str(out), "--cache", str(cache_dir), *TRAIN_ARGS]
    refused = _invoke([*args, "--final-only", "--resume"])
    assert refused.exit_code == 2 and "--final-only" in refused.output and "Traceback" not in refused.output
    result = _invoke([*args, "--final-only", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert not (out / "folds").exists() and not (out / "predictions.csv").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["evaluated"] is False and metrics["uf1"] is None and metrics["final_model"]["epochs"] == 2
    model, meta = load_checkpoint(out / "model.pt")
    assert meta.training["epochs"] == 2 and "not evaluated" in meta.training["epochs_rule"]
    assert meta.data_fingerprint == json.loads((run / "metrics.json").read_text())["data_fingerprint"]


@pytest.mark.slow
def test_shuffled_labels_stay_at_chance(run, synth, cache_dir, tmp_path) -> None:
    """The same run on labels permuted across clips: nothing to learn, so nothing may leak."""
    index = load_dataset("casme2", synth, min_clips_per_class=1)
    align = AlignConfig(**json.loads((run / "run.json").read_text())["alignment"])
    clips = [ClipCache(cache_dir, align, fps=FPS)(clip) for clip in index.clips]  # cached by the run
    labels = [clip.label for clip in clips]
    np.random.default_rng(0).shuffle(labels)
    shuffled = [replace(clip, label=label) for clip, label in zip(clips, labels)]
    config = replace(TrainConfig.from_dict(json.loads((run / "run.json").read_text())["config"]), final_model=False)
    result = LosoRun(shuffled, index.classes, config, tmp_path / "shuffled", alignment=asdict(align), device="cpu")()
    chance = 1.0 / len(index.classes)
    assert result.metrics.uf1 <= chance + 0.1
    assert result.metrics.uar <= chance + 0.1


@pytest.mark.slow
def test_ablation_writes_one_table_in_the_papers_layout(run, synth, cache_dir, tmp_path) -> None:
    """The table's layout, not its numbers: one epoch at 32 px (a third of the time at 64)."""
    out = tmp_path / "ablation"
    result = _invoke(["ablation", "--dataset", "casme2", "--root", str(synth), "--out", str(out),
                      "--cache", str(cache_dir), "--tables", "3", "--backbone", "resnet18", "--size", "32",
                      "--epochs", "1", "--fps", str(FPS), "--min-clips-per-class", "1", "--device", "cpu",
                      "--preset", "cpu"])
    assert result.exit_code == 0, result.output
    table = (out / "ablation.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| 3 ")]
    assert len(rows) == 3 and "Cross-attention" in rows[0] and "Concatenation" in rows[2]
    assert "selection: validation" in table
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
        "resnet18-phases-concat", "resnet18-phases-cross_attention", "resnet18-phases-simple_attention"]
    assert not any((out / d / "model.pt").exists() for d in ("resnet18-phases-concat",))


def test_composite_maps_to_the_three_megc2019_classes(synth, tmp_path) -> None:
    clips, classes = load_clips(DataOptions("composite", (f"casme2={synth}",), min_clips_per_class=1))
    assert classes == ("negative", "positive", "surprise")
    counts = Counter(clip.label for clip in clips)
    assert counts == {"negative": 24, "positive": 12, "surprise": 12}  # disgust + repression; others dropped
    listed = tmp_path / "combined_3class_gt.csv"  # the challenge's list: it decides clips and labels
    listed.write_text("casme2,sub01,EP01_01,1\ncasme2,sub02,EP03_02,2\nsmic,s1,s1_ne_01,0\n")
    clips, classes = load_clips(DataOptions("composite", (f"casme2={synth}",), min_clips_per_class=1,
                                                composite_list=listed))
    assert [(c.subject, c.clip_id, c.label) for c in clips] == [("01", "EP01_01", "positive"),
                                                                 ("02", "EP03_02", "surprise")]


def test_usage_errors_are_one_line(synth, tmp_path) -> None:
    missing = _invoke(["--dataset", "casme2", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "missing --root" in missing.output
    bad = _invoke(["--dataset", "composite", "--root", str(synth), "--out", str(tmp_path / "y")])
    assert bad.exit_code == 2 and "NAME=PATH" in bad.output
    wrong = tmp_path / "wrong.pth"  # a state dict of some other network
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3)}, wrong)
    refused = _invoke(["--dataset", "casme2", "--root", str(synth), "--out", str(tmp_path / "z"),
                       "--pretrained", str(wrong), *TRAIN_ARGS])
    assert refused.exit_code == 2 and "wrong.pth" in refused.output and "resnet18" in refused.output
    assert not (tmp_path / "z").exists()  # refused before anything was aligned or written
