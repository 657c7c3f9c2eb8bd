"""`mer-train compare` end to end, and each method's engine on a synthetic interview against its LOSO numbers.

    python bench/bench_compare.py --work DIR [--subjects 8] [--methods dianet,clip_di,shuffled]
                                  [--epochs 12] [--micro 24] [--apex-samples 5]

In DIR (reused and resumed on a second call):
1. `mer-synth dataset` (--subjects x 5 classes x --clips-per-class, 50 fps, 256 px);
2. `mer-train compare` over it at the demo preset (OUT = DIR/compare), timed;
3. per method: `mer-build-engine` on its all-subject model.pt;
4. `mer-synth video`: one interview (a new synthetic person) with --micro micro-expressions of
   the same five classes; `mer-process` on it with every engine, at --apex-samples 1 and K;
5. the spotted events matched to the ground truth (IoU >= 0.5, as MEGC): label accuracy and
   expected calibration error over the matched events, beside the method's LOSO accuracy and its
   95 % bootstrap interval (compare.json). Deployment matches the protocol when the accuracy
   lies in that interval.

Prints one table; the numbers check the machinery (synthetic data), not the papers' claims.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from realtime.spotting.ground_truth import load_ground_truth
from realtime.spotting.scoring import score_spotting
from training.calibration import reliability, softmax

ROOT = Path(__file__).resolve().parents[1]
FPS = 50  # the demo data's rate (realtime/cli/demo.py)


def command(module: str, *args: object) -> float:
    """Run one of the project's commands (its typer app, from this checkout) and return its wall time in s."""
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", f"from {module} import app; app()", *map(str, args)], check=True, env=env,
                   cwd=ROOT)
    return time.perf_counter() - start


def matched_events(folder: Path, truth_csv: Path, classes: list[str]) -> tuple[list[int], list[int], np.ndarray]:
    """(true class, predicted class, probabilities) of the spotted events that hit a ground-truth micro-expression."""
    with (folder / "events.csv").open(newline="") as handle:
        events = [row for row in csv.DictReader(handle) if row["label"]]
    truth = [t for t in load_ground_truth(truth_csv).intervals if t.kind == "micro"]
    score = score_spotting([(int(e["onset_frame"]), int(e["offset_frame"])) for e in events],
                           [t.frames.bounds for t in truth])
    index = {name: k for k, name in enumerate(classes)}
    true = [index[truth[m.truth].emotion] for m in score.matches]
    probs = np.array([[float(events[m.spotted][f"prob_{c}"]) for c in classes] for m in score.matches])
    return true, [int(p.argmax()) for p in probs], probs


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion (the interview's own sampling uncertainty)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    scale = 1 + z * z / n
    centre, half = (p + z * z / (2 * n)) / scale, z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / scale
    return float(centre - half), float(centre + half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--clips-per-class", type=int, default=2)
    parser.add_argument("--methods", default=None, help="comma-separated (default: every registered method)")
    parser.add_argument("--epochs", type=int, default=None, help="per fold (default: the compare preset's)")
    parser.add_argument("--micro", type=int, default=24, help="micro-expressions in the interview")
    parser.add_argument("--apex-samples", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    data, out, video = work / "data", work / "compare", work / "interview.mp4"

    if not data.is_dir():
        command("training.cli.synth", "dataset", "--out", data, "--subjects", args.subjects, "--clips-per-class",
                args.clips_per_class, "--fps", FPS, "--size", 256, "--seed", args.seed)
    compare_args = ["compare", "--dataset", "casme2", "--root", data, "--out", out, "--preset", "compare", "--fps", FPS,
                    "--cache", work / "cache", "--min-clips-per-class", 1, "--device", "cpu", "--threads",
                    args.threads, "--seed", args.seed]
    compare_args += ["--methods", args.methods] if args.methods else []
    compare_args += ["--epochs", args.epochs] if args.epochs else []
    compare_args += ["--resume"] if out.is_dir() else []
    compare_s = command("training.cli.train", *compare_args)
    summary = json.loads((out / "compare.json").read_text())
    classes = summary["classes"]

    if not video.is_file():
        command("training.cli.synth", "video", "--out", video, "--fps", 30, "--micro", args.micro, "--seed",
                args.seed + 1000)
    truth_csv = video.with_name(f"{video.stem}_groundtruth.csv")

    rows = []
    for name, method in summary["methods"].items():
        engine = work / "engines" / name
        if not (engine / "engine.json").is_file():
            command("engines.cli", Path(method["run_dir"]) / "model.pt", "--out", engine, "--backend", "onnx")
        temperature = json.loads((engine / "engine.json").read_text())["temperature"]
        for k in sorted({1, args.apex_samples}):
            folder = work / "process" / f"{name}-k{k}"
            if not (folder / video.stem / "summary.json").is_file():
                command("realtime.cli.process", video, "--engine", engine, "--out", folder, "--no-video",
                        "--apex-samples", k, "--threads", args.threads)
            true, predicted, probs = matched_events(folder / video.stem, truth_csv, classes)
            accuracy = float(np.mean(np.array(true) == np.array(predicted))) if true else float("nan")
            # The engine's probabilities are softmax(z / T): softmax(T log p) gives back those at T = 1
            # (for K = 1; for K > 1 it tempers the averaged probabilities, the nearest like-for-like).
            untempered = softmax(temperature * np.log(np.clip(probs, 1e-12, None))) if true else probs
            ece = (reliability(probs, true).ece, reliability(untempered, true).ece) if true else (np.nan, np.nan)
            low, high = method["accuracy_ci"]
            rows.append((name, k, temperature, len(true), accuracy, wilson(int(round(accuracy * len(true))), len(true)),
                         ece, method["accuracy"], low, high, low <= accuracy <= high))

    print(f"\ncompare: {len(summary['methods'])} methods, {summary['folds']} subjects, {summary['n']} clips, "
          f"{compare_s / 60:.1f} min this call (folds: "
          + ", ".join(f"{n} {m['fold_seconds'] / 60:.1f} min" for n, m in summary["methods"].items()) + ")")
    print((out / "compare.md").read_text())
    print(f"interview: {video.name}, {args.micro} micro-expressions (ground truth), 30 fps")
    print("| method | apex samples | T | matched events | label acc. [95% Wilson] | ECE (T = 1 -> T) | LOSO acc. "
          "| LOSO 95% CI | inside |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, k, t, n, acc, (w_low, w_high), (ece, ece_1), loso, low, high, inside in rows:
        print(f"| {name} | {k} | {t:.2f} | {n} | {acc:.3f} [{w_low:.2f}, {w_high:.2f}] | {ece_1:.3f} -> {ece:.3f} "
              f"| {loso:.3f} | [{low:.3f}, {high:.3f}] | {'yes' if inside else 'NO'} |")


if __name__ == "__main__":
    main()
