"""mer-process end to end: consistent outputs, DIs equal offline ones, bad input, Ctrl-C, resume."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from engines import load as load_engine
from realtime.capture.video_io import VideoWriter, read_video
from realtime.cli.process import app
from realtime.core.interval import Interval
from realtime.dynamic_images.rank_pooling import DIInputConfig, phase_dynamic_images
from realtime.face.aligner import AlignConfig
from realtime.pipeline.pipeline import PipelineConfig, RecognitionPipeline
from realtime.spotting.spotter import MOVEMENT_KINDS
from training.checkpoint import CheckpointMeta, save_checkpoint
from training.clip_cache import raw_representations
from training.models import ModelConfig, create_model, input_names

runner = CliRunner()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def processed(synth_interview: Path, tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("processed")
    result = runner.invoke(app, [str(synth_interview), "--out", str(out), "--engine", str(tiny_checkpoint)])
    assert result.exit_code == 0, result.output
    return out / synth_interview.stem


@pytest.mark.slow
def test_outputs_are_consistent_with_each_other(processed: Path) -> None:
    summary = json.loads((processed / "summary.json").read_text())
    assert summary["complete"] and not summary["interrupted"]
    frames = _rows(processed / "frames.csv")
    events = _rows(processed / "events.csv")
    movements = _rows(processed / "movements.csv")
    assert len(frames) == summary["frames"] == sum(1 for _ in read_video(processed / "annotated.mp4"))
    assert [int(r["frame"]) for r in frames] == list(range(len(frames)))
    assert len(events) == summary["micro_expressions"] >= 1
    assert len(movements) == summary["other_movements"]
    times = {int(r["frame"]): float(r["time_s"]) for r in frames}
    classes = summary["engine"]["classes"]
    for row in events:
        onset, apex, offset = int(row["onset_frame"]), int(row["apex_frame"]), int(row["offset_frame"])
        assert 0 <= onset <= apex <= offset < len(frames)
        assert float(row["onset_s"]) == pytest.approx(times[onset], abs=1e-4)
        assert float(row["offset_s"]) == pytest.approx(times[offset], abs=1e-4)
        assert float(row["duration_ms"]) == pytest.approx(1000 * (times[offset] - times[onset]), abs=0.1)
        probs = [float(row[f"prob_{c}"]) for c in classes]
        assert sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert row["label"] == classes[int(np.argmax(probs))]
        assert float(row["confidence"]) == pytest.approx(max(probs), abs=1e-5)
        evidence = processed / "events" / row["event"]
        assert sorted(p.name for p in evidence.iterdir()) == sorted(
            ["onset.png", "apex.png", "offset.png", "di_onset.png", "di_offset.png", "replay.mp4", "di_pair.jpg"])
    assert all(row["kind"] in MOVEMENT_KINDS for row in movements)
    report = (processed / "report.html").read_text()
    assert all(f"events/{row['event']}/di_pair.jpg" in report and f"events/{row['event']}/replay.mp4" in report
               for row in events)
    assert (processed / "timeline.png").stat().st_size > 10_000


def test_event_dis_equal_the_offline_dynamic_images(synth_interview: Path) -> None:
    crops, closed = [], []
    with RecognitionPipeline(PipelineConfig(), fps=30.0) as pipeline:
        for step in pipeline.stream(read_video(synth_interview)):  # mer-process's path: aligned on a second thread
            crops.append(step.face.crop if step.face.found else crops[-1])
            closed += step.closed
        closed += pipeline.finish().closed
    assert closed, "the synthetic interview has micro-expressions; the spotter found none"
    stack = np.stack(crops)[..., None]  # (T, S, S, 1) grey uint8, the ring's content
    for event in closed:
        s = event.event.spot
        want_on, want_off = phase_dynamic_images(stack, s.frames.onset, s.frames.apex, s.frames.offset)
        for got, want in ((event.dis["di_onset"], want_on), (event.dis["di_offset"], want_off)):
            assert np.linalg.norm(got - want) <= 1e-5 * max(np.linalg.norm(want), 1e-9)


def test_an_engine_gets_at_each_event_what_training_computes(synth_interview: Path, tmp_path: Path) -> None:
    """AFN's inputs at event close (TR-DI from the builder's sums, MI-DI from the event's frames
    copied out of the ring) equal training's (clip_cache) for the same crops and positions: the
    probabilities the pipeline reports equal the engine's on training's inputs."""
    config = ModelConfig(backbone="resnet18", num_classes=3, inputs="afn", feature_dim=32, hidden_dim=16)
    torch.manual_seed(0)
    model = create_model(config).eval()
    with torch.no_grad():
        model.head[-1].weight.mul_(40.0)  # probabilities far from uniform, so they tell inputs apart
    save_checkpoint(tmp_path / "model.pt", model, CheckpointMeta(
        classes=("a", "b", "c"), model=config, input_names=input_names(config), di_input=DIInputConfig(size=64),
        alignment=asdict(AlignConfig()), data_fingerprint="untrained", training={"note": "test"}))
    engine = load_engine(tmp_path / "model.pt", threads=1)
    crops, labelled = [], []
    with RecognitionPipeline(PipelineConfig(), engine=engine, fps=30.0) as pipeline:
        for step in pipeline.stream(read_video(synth_interview)):
            crops.append(step.face.crop if step.face.found else crops[-1])
            labelled += step.finished
        labelled += pipeline.finish().finished
    assert len(labelled) >= 2 and all(event.probabilities for event in labelled)
    stack = np.stack(crops)  # (T, S, S) grey uint8, the ring's content
    for event in labelled:
        s = event.spot.frames
        raws = raw_representations(stack, Interval(s.onset, s.apex, s.offset), engine.input_names,
                                   engine.di_input.representation)
        got = np.array([p for _, p in event.probabilities])
        np.testing.assert_allclose(got, engine.classify([raws])[0], atol=1e-5)


def test_an_engine_that_does_not_load_is_one_line(synth_interview: Path, tmp_path: Path) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    result = runner.invoke(app, [str(synth_interview), "--out", str(tmp_path / "out"), "--engine", str(bad)])
    assert result.exit_code == 2 and "model.pt" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_spot_only_finds_events_without_a_classifier(demo_out: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    refused = runner.invoke(app, ["--demo", "--spot-only", "--engine", str(tmp_path / "engine"), "--out",
                                  str(demo_out)])
    assert refused.exit_code == 2 and "--spot-only" in refused.output and "Traceback" not in refused.output
    monkeypatch.setenv("MER_DEMO_DIR", str(tmp_path / "demo-cache"))
    result = runner.invoke(app, ["--demo", "--spot-only", "--no-video", "--out", str(demo_out)])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "demo-cache").exists()  # no demo model was built for spotting only
    summary = json.loads((demo_out / "demo_interview" / "summary.json").read_text())
    assert summary["micro_expressions"] >= 3 and summary["engine"]["classes"] == []
    events = _rows(demo_out / "demo_interview" / "events.csv")
    assert len(events) == summary["micro_expressions"] and not any(e["label"] for e in events)


@pytest.mark.slow
def test_sigint_leaves_readable_files_and_resume_finishes(synth_interview: Path, tmp_path: Path) -> None:
    exe = shutil.which("mer-process", path=str(Path(sys.executable).parent))
    assert exe is not None
    out = tmp_path / "out"
    proc = subprocess.Popen([exe, str(synth_interview), "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
    frames_csv = out / synth_interview.stem / "frames.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not frames_csv.exists() or len(frames_csv.read_text().splitlines()) < 40):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 130, output
    assert "Traceback" not in output
    folder = out / synth_interview.stem
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["interrupted"] and not summary["complete"]
    assert len(_rows(folder / "frames.csv")) == summary["frames"] < 360
    assert sum(1 for _ in read_video(folder / "annotated.mp4")) == summary["frames"]
    _rows(folder / "events.csv"), _rows(folder / "movements.csv")

    resumed = runner.invoke(app, [str(synth_interview), "--out", str(out), "--resume", "--no-video"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((folder / "summary.json").read_text())["complete"]
    again = runner.invoke(app, [str(synth_interview), "--out", str(out), "--resume"])
    assert "skipped" in again.output
