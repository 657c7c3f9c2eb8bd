"""Golden outputs: what users get from mer-process, an ONNX engine and a LOSO run, recorded once.

Recorded before the package restructure (issue 13) so that moving code can be shown not to change
behaviour; a change that is meant to change outputs re-records them in its own commit:

    MER_REGEN_GOLDEN=1 python -m pytest tests/test_golden.py

Everything is made from fixed seeds (a short low-resolution mer-synth interview, stored: see
_interview; an untrained seeded DIANet; blob clips); floats are compared with a small tolerance so that the last digit of a
MediaPipe or BLAS result on another CPU does not fail the test, while any real change does.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("MER_REGEN_GOLDEN") == "1"
REL, ABS = 1e-3, 1e-3  # outputs print 6 significant digits; MediaPipe/BLAS differ far below this across CPUs


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _check_csv(got_path: Path, name: str) -> None:
    """Compare a CSV with tests/golden/`name`: same header and rows, numbers within REL/ABS."""
    golden = GOLDEN / name
    if REGEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(got_path.read_bytes())
    got, want = _rows(got_path), _rows(golden)
    assert list(got[0] if got else {}) == list(want[0] if want else {}), f"{name}: columns differ"
    assert len(got) == len(want), f"{name}: {len(got)} rows, golden has {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        for column, expected in w.items():
            actual, number = g[column], _number(expected)
            if number is None:
                assert actual == expected, f"{name} row {i} {column}: {actual!r} != {expected!r}"
            else:
                assert _number(actual) == pytest.approx(number, rel=REL, abs=ABS), f"{name} row {i} {column}"


def _check_json(got: dict, name: str) -> None:
    golden = GOLDEN / name
    if REGEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == pytest.approx(json.loads(golden.read_text()), rel=REL, abs=ABS)


def _interview() -> Path:
    """The spot-only run's input, a stored mer-synth video: recorded when make_video's encodes still
    differed run to run (x264's MB-tree), so the file was made once and kept."""
    video = GOLDEN / "interview.mp4"
    if REGEN:
        from training.synth import make_video

        make_video(video, fps=30, duration=8.0, micro=2, seed=11, size=(320, 240))
        for extra in (GOLDEN / "interview_groundtruth.csv", GOLDEN / "interview_synth.json"):
            extra.unlink()  # mer-process would score against the ground truth: not what is recorded here
    return video


def test_spot_only_run_outputs(tmp_path: Path) -> None:
    from realtime.cli.process import app

    video = _interview()
    result = CliRunner().invoke(app, [str(video), "--out", str(tmp_path / "out"), "--spot-only", "--no-video"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "interview"
    for name in ("events.csv", "movements.csv", "frames.csv"):
        _check_csv(folder / name, f"spot_only_{name}")
    summary = json.loads((folder / "summary.json").read_text())
    _check_json({key: summary[key] for key in ("frames", "micro_expressions", "other_movements", "face_found_fraction")},
                "spot_only_summary.json")


@pytest.mark.slow
def test_onnx_engine_outputs(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import engines
    from engines.builder import build_engine
    from engines.inputs import synthetic_samples

    build_engine(tiny_checkpoint, tmp_path / "engine", backend="onnx", max_batch=2, threads=1)
    with engines.load(tmp_path / "engine", threads=1) as engine:
        samples = synthetic_samples(engine.input_names, batch=4, raw_size=80, seed=3)
        probabilities = engine.classify(samples)  # (4, 3) float32
    assert probabilities.shape == (4, 3)
    got = {"classes": list(engine.classes), "probabilities": np.round(probabilities, 6).tolist()}
    golden = GOLDEN / "onnx_engine_probabilities.json"
    if REGEN:
        golden.write_text(json.dumps(got, indent=1) + "\n")
    want = json.loads(golden.read_text())
    assert got["classes"] == want["classes"]
    np.testing.assert_allclose(probabilities, np.array(want["probabilities"]), rtol=0, atol=1e-5)


def test_loso_metrics_and_predictions(blob_clips, tmp_path: Path) -> None:
    from training.loso import LosoRun
    from training.presets import resolve

    config = resolve("cpu", backbone="resnet18", size=32, epochs=2, batch_size=8, lr=1e-3, patience=2,
                     final_model=False)
    result = LosoRun(blob_clips(subjects=3), ("a", "b", "c"), config, tmp_path / "run", alignment={}, device="cpu")()
    _check_csv(tmp_path / "run" / "predictions.csv", "loso_predictions.csv")
    metrics = result.metrics
    assert metrics.n == 18
    _check_json({"accuracy": metrics.accuracy, "uf1": metrics.uf1, "uar": metrics.uar,
                 **{f"fold_accuracy_{fold}": value for fold, value in metrics.fold_accuracy.items()},
                 **{f"confusion_{i}_{j}": int(n) for (i, j), n in np.ndenumerate(metrics.confusion)}},
                "loso_metrics.json")
