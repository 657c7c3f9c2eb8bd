"""`mer-train compare`: bootstrap intervals on constructed predictions, and a two-method comparison on
small clips (conftest.py: blob_clips) that is interrupted and resumed."""

from __future__ import annotations

import json

import numpy as np
import pytest

import training.loso.run
from realtime.core.errors import InputError
from training.compare import (BootstrapConfig, accuracy_agreement, bootstrap_accuracy, bootstrap_uf1, compare_results,
                              paired_difference, run_cached_variants, uf1_resampled, wilson)
from training.jobs import RunOptions
from training.loso.epochs import train_fold
from training.methods import METHODS, REFERENCE, resolve_methods
from training.metrics import compute_metrics
from training.presets import resolve

CLASSES = ("a", "b", "c")
FAST = BootstrapConfig(resamples=500)


def test_resampled_uf1_is_megc_uf1() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    labels[labels == 2] = 1  # class c never occurs: MEGC leaves it out of the mean
    predicted = rng.integers(0, 3, 60)
    everything = np.arange(60)[None]
    expected = compute_metrics([CLASSES[k] for k in labels], [CLASSES[k] for k in predicted], CLASSES).uf1
    assert uf1_resampled(labels, predicted, 3, everything)[0] == pytest.approx(expected)


def test_bootstrap_intervals_on_constructed_predictions() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 40)
    assert bootstrap_uf1(labels, labels, 3, FAST) == (1.0, 1.0)
    assert bootstrap_accuracy(labels, labels, FAST) == (1.0, 1.0)
    assert paired_difference(labels, labels, labels, 3, FAST) == (0.0, 0.0, 0.0)
    guess = rng.integers(0, 3, len(labels))  # chance: UF1 about 1/3, its interval around it
    low, high = bootstrap_uf1(labels, guess, 3, FAST)
    assert low < 1 / 3 < high and high - low < 0.3
    a_low, a_high = bootstrap_accuracy(labels, guess, FAST)
    assert a_low < np.mean(labels == guess) < a_high
    good = np.where(rng.random(len(labels)) < 0.8, labels, (labels + 1) % 3)  # ~80 % right
    value, d_low, d_high = paired_difference(labels, good, guess, 3, FAST)
    assert 0 < d_low < value < d_high  # clearly better than guessing
    # Paired: two methods that differ on 3 clips of 120 have a narrow difference interval.
    close = good.copy()
    close[:3] = labels[:3]
    _, c_low, c_high = paired_difference(labels, close, good, 3, FAST)
    assert c_high - c_low < 0.06 < high - low


def test_wilson_and_newcombe_intervals_match_the_published_examples() -> None:
    # Newcombe (1998), Stat. Med. 17: 857-872 (single proportion) and 873-890 (difference, method 10).
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)
    assert wilson(0, 20)[0] == pytest.approx(0.0) and wilson(20, 20)[1] == pytest.approx(1.0)
    published = accuracy_agreement(56, 70, 48, 80)
    assert published.difference == pytest.approx(0.2)
    assert published.ci == pytest.approx((0.0524, 0.3339), abs=1e-4) and not published.agrees
    # 20 of 22 interview events against 78 of 80 LOSO clips: the interview's point lies below the LOSO
    # interval, but with 22 events the two accuracies are not distinguishable.
    interview = accuracy_agreement(20, 22, 78, 80)
    assert not interview.loso_ci[0] <= 20 / 22 <= interview.loso_ci[1]
    assert interview.ci[0] < 0 < interview.ci[1] and interview.agrees
    assert interview.deployed_ci == wilson(20, 22) and interview.loso_ci == wilson(78, 80)
    assert not accuracy_agreement(5, 22, 78, 80).agrees  # chance-level deployment of a good model
    with pytest.raises(InputError, match="3 of 2"):
        wilson(3, 2)


def test_compare_preset_computes_each_representation_once_per_clip(blob_clips, tmp_path) -> None:
    """No phase jitter: every fold and epoch reads the flows at the coded phases, computed once."""
    clips = blob_clips(subjects=3)
    config = METHODS["cof"].config(resolve("compare", size=32, epochs=2, batch_size=8, final_model=False))
    assert config.augment.jitter_fraction == 0.0 and config.backbone == "resnet18"
    result = run_cached_variants(clips, CLASSES, {}, {"cof": config}, RunOptions(out=tmp_path, device="cpu"), None,
                                 description={})["cof"]
    assert len(result.folds) == 3 and result.metrics.n == len(clips)
    for clip in clips:
        stored = list(clip.stack_path.parent.glob(f"{clip.stack_path.stem}-*-cof-*.npz"))
        assert [p.name.split("-")[1:4] for p in stored] == [["1", "6", "11"]]  # the coded onset, apex, offset


def test_methods_resolve_with_the_reference_first() -> None:
    assert resolve_methods("shuffled,dianet") == ["dianet", "shuffled"]
    assert resolve_methods(None)[0] == REFERENCE and "shuffled" in resolve_methods(None)
    with pytest.raises(InputError, match="unknown compared method 'nope'"):
        resolve_methods("dianet,nope")
    base = resolve("demo")
    assert METHODS["shuffled"].config(base).shuffle_labels and not METHODS[REFERENCE].config(base).shuffle_labels
    assert METHODS["clip_di"].config(base).inputs == "clip" and METHODS["clip_di"].config(base).size == base.size


@pytest.mark.slow
def test_compare_two_methods_resumes_after_interruption(blob_clips, tmp_path, monkeypatch) -> None:
    clips = blob_clips(subjects=4)
    base = resolve("demo", size=32, epochs=2, batch_size=8, patience=2, final_model=False)
    configs = {name: METHODS[name].config(base) for name in ("dianet", "shuffled")}
    run = RunOptions(out=tmp_path, device="cpu")
    calls: list[str] = []

    def dies_in_sixth_fold(context, fold, n_folds):
        calls.append(f"{context.config.shuffle_labels}:{fold.test_subject}")
        if len(calls) == 6:
            raise KeyboardInterrupt  # killed in the second method's second fold
        return train_fold(context, fold, n_folds)

    monkeypatch.setattr(training.loso.run, "train_fold", dies_in_sixth_fold)
    with pytest.raises(KeyboardInterrupt):
        run_cached_variants(clips, CLASSES, {}, configs, run, None, description={})
    assert len(list((tmp_path / "dianet" / "folds").glob("*.json"))) == 4
    assert [p.name for p in sorted((tmp_path / "shuffled" / "folds").glob("*.json"))] == ["00_s1.json"]
    saved = (tmp_path / "shuffled" / "folds" / "00_s1.json").read_bytes()

    calls.clear()
    resumed = RunOptions(out=tmp_path, device="cpu", resume=True)
    results = run_cached_variants(clips, CLASSES, {}, configs, resumed, None, description={})
    assert calls == ["True:s2", "True:s3", "True:s4"]  # only the missing folds ran
    assert (tmp_path / "shuffled" / "folds" / "00_s1.json").read_bytes() == saved

    text = compare_results(results, CLASSES, tmp_path, dataset="blobs", preset_text="demo", wall_s=12.0)
    summary = json.loads((tmp_path / "compare.json").read_text())
    assert summary["reference"] == "dianet" and summary["n"] == 24 and summary["folds"] == 4
    dianet, shuffled = summary["methods"]["dianet"], summary["methods"]["shuffled"]
    assert dianet["uf1"] == pytest.approx(results["dianet"].metrics.uf1)
    assert dianet["uf1_ci"][0] <= dianet["uf1"] <= dianet["uf1_ci"][1]
    assert shuffled["control"] and shuffled["uf1_difference"]["vs"] == "dianet"
    assert shuffled["uf1_difference"]["value"] == pytest.approx(shuffled["uf1"] - dianet["uf1"])
    assert dianet["ece_before"] is not None and len(results["dianet"].folds) == 4
    assert "| shuffled (control) |" in text and "(reference)" in text
    assert (tmp_path / "compare.png").stat().st_size > 5000
