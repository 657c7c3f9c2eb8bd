"""Fold logic, fold isolation and resuming, on small clips (conftest.py: blob_clips; no MediaPipe, seconds).

The end-to-end run on `mer-synth` data (UF1, shuffled labels, metrics from predictions.csv) is
in tests/training/test_cli_train.py, which aligns the synthetic release once for all of its tests.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

import training.loso.run
from realtime.core.errors import InputError
from training.augment import AugmentConfig
from training.clip_cache import CachedClip
from training.loso import LosoRun, make_folds
from training.loso.epochs import train_fold
from training.presets import resolve

CLASSES = ("a", "b", "c")  # those of the blob_clips fixture (conftest.py)
SIZE = 32  # their side in px


@pytest.fixture(scope="module")
def clips(blob_clips) -> list[CachedClip]:
    return blob_clips(subjects=4)


def _config(**changes):
    base = dict(backbone="resnet18", size=SIZE, epochs=2, batch_size=8, lr=1e-3, patience=2, final_model=False)
    return resolve("cpu", **{**base, **changes})


def test_folds_test_each_subject_once_and_never_train_or_validate_on_it() -> None:
    subjects = [f"{i:02d}" for i in range(1, 11)]
    folds = make_folds(subjects * 3, val_fraction=0.2, select_on_test=False)
    assert [f.test_subject for f in folds] == subjects
    for fold in folds:
        assert fold.test_subject not in fold.train_subjects + fold.val_subjects
        assert not set(fold.train_subjects) & set(fold.val_subjects)
        assert sorted((fold.test_subject, *fold.train_subjects, *fold.val_subjects)) == subjects
        assert len(fold.val_subjects) == 2  # round(0.2 * 9)
    val_counts = {s: sum(s in f.val_subjects for f in folds) for s in subjects}
    assert set(val_counts.values()) == {2}  # rotation: every subject validates equally often


def test_folds_edge_cases() -> None:
    assert all(len(f.val_subjects) == 1 and len(f.train_subjects) == 1
               for f in make_folds(["1", "2", "3"], val_fraction=0.5, select_on_test=False))
    assert all(f.val_subjects == () for f in make_folds(["1", "2"], val_fraction=0.2, select_on_test=True))
    with pytest.raises(InputError, match="at least 3 subjects"):
        make_folds(["1", "2"], val_fraction=0.2, select_on_test=False)


@pytest.fixture(scope="module")
def full_run(clips, tmp_path_factory):
    return LosoRun(clips, CLASSES, _config(), tmp_path_factory.mktemp("full") / "run", alignment={}, device="cpu")()


def test_no_fold_sees_its_test_subject_and_outputs_agree(full_run) -> None:
    assert len(full_run.folds) == 4
    for fold in full_run.folds:
        test = fold.fold.test_subject
        assert all(key.split("/")[1] != test for key in fold.train_clips + fold.val_clips)
        assert fold.val_clips and all(key.split("/")[1] in fold.fold.val_subjects for key in fold.val_clips)
        assert {p["subject"] for p in fold.predictions} == {test}
        assert len(fold.predictions) == 6
    document = json.loads((full_run.run_dir / "metrics.json").read_text())
    assert document["selection"]["rule"] == "validation" and document["selection"]["optimistic"] is False
    assert document["n"] == 24 and set(document["per_fold"]) == {"s1", "s2", "s3", "s4"}
    assert document["uf1"] == pytest.approx(full_run.metrics.uf1)


@pytest.mark.slow
def test_interrupted_run_resumes_without_recomputing_finished_folds(clips, full_run, tmp_path, monkeypatch) -> None:
    run_dir = tmp_path / "run"
    calls: list[str] = []

    def dies_in_third_fold(context, fold, n_folds):
        calls.append(fold.test_subject)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user's Ctrl-C or a kill, mid-run
        return train_fold(context, fold, n_folds)

    monkeypatch.setattr(training.loso.run, "train_fold", dies_in_third_fold)
    with pytest.raises(KeyboardInterrupt):
        LosoRun(clips, CLASSES, _config(), run_dir, alignment={}, device="cpu")()
    finished = sorted((run_dir / "folds").glob("*.json"))
    assert [p.name for p in finished] == ["00_s1.json", "01_s2.json"]
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in finished}

    with pytest.raises(InputError, match="--resume"):
        LosoRun(clips, CLASSES, _config(), run_dir, alignment={}, device="cpu")()
    with pytest.raises(InputError, match="differs"):
        LosoRun(clips, CLASSES, _config(lr=5e-4), run_dir, alignment={}, device="cpu")(resume=True)

    calls.clear()
    result = LosoRun(clips, CLASSES, _config(), run_dir, alignment={}, device="cpu")(resume=True)
    assert calls == ["s3", "s4"]  # only the missing folds ran
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in finished} == before
    assert result.metrics.n == 24

    # Seeds depend on the fold only, so the resumed run equals an uninterrupted one.
    assert (full_run.run_dir / "predictions.csv").read_text() == (run_dir / "predictions.csv").read_text()


def test_select_on_test_is_labelled(clips, tmp_path) -> None:
    LosoRun(clips[:12], CLASSES, _config(select_on_test=True, epochs=1), tmp_path / "opt", alignment={}, device="cpu")()
    document = json.loads((tmp_path / "opt" / "metrics.json").read_text())
    assert document["selection"]["rule"] == "test-subject (optimistic)" and document["selection"]["optimistic"]
    assert all(len(fold["val_subjects"]) == 0 for fold in document["per_fold"].values())
    lines = (tmp_path / "opt" / "predictions.csv").read_text().splitlines()
    assert lines[0].endswith("selection") and all(line.endswith("test-subject (optimistic)") for line in lines[1:])


def test_dual_phase_samples_only_for_the_whole_clip_model(clips, tmp_path) -> None:
    whole_clip = LosoRun(clips, CLASSES, _config(inputs="clip"), tmp_path / "a", alignment={}, device="cpu")
    train = whole_clip.context.items(range(6), train=True)
    assert len(train) == 18
    assert {item.sources for item in train} == {("di_clip",), ("di_onset",), ("di_offset",)}
    tested = whole_clip.context.items(range(6), train=False)
    assert {item.sources for item in tested} == {("di_clip",)}  # tested as trained
    phases = LosoRun(clips, CLASSES, _config(), tmp_path / "b", alignment={}, device="cpu")
    assert {item.sources for item in phases.context.items(range(6), train=True)} == {("di_onset", "di_offset")}
    off = LosoRun(clips, CLASSES, _config(inputs="clip", augment=AugmentConfig(dual_phase=False)), tmp_path / "c",
                  alignment={}, device="cpu")
    assert len(off.context.items(range(6), train=True)) == 6


def test_labels_outside_the_classes_are_refused(clips, tmp_path) -> None:
    with pytest.raises(InputError, match="not among the classes"):
        LosoRun([replace(clips[0], label="zzz")], CLASSES, _config(), tmp_path, alignment={}, device="cpu")
