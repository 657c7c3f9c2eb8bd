"""--apex-samples: K apex hypotheses per event, their probabilities averaged; K = 1 is today's output."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import engines
from engines.inputs import synthetic_samples
from realtime.cli.process import app
from realtime.core.errors import InputError
from realtime.core.interval import Interval
from realtime.pipeline import pipeline as pipeline_module
from realtime.pipeline.pipeline import ApexSampling, mean_over_hypotheses


def test_apex_hypotheses_are_spread_around_the_spotted_apex_inside_the_event() -> None:
    assert ApexSampling().apexes(Interval(10, 15, 30)) == (15,)
    assert ApexSampling(samples=3, spread=0.2).apexes(Interval(10, 15, 30)) == (11, 15, 19)  # 15 +- 0.2 x 20
    assert ApexSampling(samples=5, spread=0.5).apexes(Interval(10, 12, 20)) == (11, 11, 12, 14, 17)  # in 11..19
    assert ApexSampling(samples=3, spread=0.5).apexes(Interval(4, 5, 5)) == (4, 5, 5)  # no room: the event's frames
    for bad in ({"samples": 0}, {"spread": 0.8}):
        with pytest.raises(InputError, match="apex"):
            ApexSampling(**bad)


def test_probabilities_are_the_mean_over_the_hypotheses(tiny_checkpoint: Path) -> None:
    samples = synthetic_samples(("di_onset", "di_offset"), batch=5, raw_size=224)
    with engines.load(tiny_checkpoint, threads=1) as engine:
        each = engine.classify(samples)
        assert not np.allclose(each[0], each[1])  # the samples differ, so the mean is not trivial
        single = mean_over_hypotheses(engine, [(s,) for s in samples[:2]])
        np.testing.assert_array_equal(single, engine.classify(samples[:2]))  # K = 1: exactly as before
        mixed = mean_over_hypotheses(engine, [samples[:3], samples[3:]])
    np.testing.assert_allclose(mixed[0], each[:3].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(mixed[1], each[3:].mean(axis=0), atol=1e-6)
    assert mixed.sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_mer_process_takes_apex_samples(synth_interview: Path, tiny_checkpoint: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    classified: list[list[int]] = []  # per event, in order: the onset phase's T of each hypothesis

    def recording(engine, events):
        classified.extend([sample["di_onset"][1] for sample in samples] for samples in events)
        return mean_over_hypotheses(engine, events)

    monkeypatch.setattr(pipeline_module, "mean_over_hypotheses", recording)
    result = CliRunner().invoke(app, [str(synth_interview), "--out", str(tmp_path), "--engine", str(tiny_checkpoint),
                                      "--apex-samples", "3", "--no-video"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / synth_interview.stem
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["config"]["apex"] == {"samples": 3, "spread": 0.2}
    with (folder / "events.csv").open(newline="") as handle:
        events = list(csv.DictReader(handle))
    assert events and all(row["label"] for row in events)
    assert len(classified) == len(events)
    for row, onset_lengths in zip(events, classified, strict=True):  # every hypothesis once, the spotted apex among them
        spotted = Interval(int(row["onset_frame"]), int(row["apex_frame"]), int(row["offset_frame"]))
        apexes = ApexSampling(samples=3).apexes(spotted)
        assert onset_lengths == [apex - spotted.onset + 1 for apex in apexes] and spotted.apex in apexes
    for row in events:
        assert sum(float(row[f"prob_{c}"]) for c in summary["engine"]["classes"]) == pytest.approx(1.0, abs=1e-4)
    bad = CliRunner().invoke(app, [str(synth_interview), "--out", str(tmp_path / "x"), "--apex-samples", "0"])
    assert bad.exit_code != 0 and "--apex-samples" in bad.output
