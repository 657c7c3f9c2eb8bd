"""`mer-train compare` end to end, and each method's engine on a synthetic interview against its LOSO numbers.

    python bench/bench_compare.py --work DIR [--subjects 8] [--methods dianet,clip_di,shuffled]
                                  [--epochs 8] [--micro 24] [--apex-samples 1] [--interview dianet,shuffled]
                                  [--amplitude 1] [--faces DIR]

In DIR (reused and resumed on a second call):
1. `mer-synth dataset` (--subjects x 5 classes x --clips-per-class, 50 fps, 256 px; movements of
   --amplitude x 1-3 px at a 250 px face, the interview's too; subjects made from the photos in
   --faces, one person each, or all from scikit-image's astronaut without it);
2. `mer-train compare` over it at the compare preset (OUT = DIR/compare), timed;
3. per method: `mer-build-engine` on its all-subject model.pt;
4. `mer-synth video`: one interview (a new scene, seed + 1000; a person of --faces) with --micro micro-expressions of
   the same five classes; `mer-process` on it with every engine, at --apex-samples 1 (and K);
5. the spotted events matched to the ground truth (IoU >= 0.5, as MEGC): label accuracy and
   expected calibration error over the matched events, beside the method's LOSO accuracy.
   Both accuracies are proportions with their own sampling error, so deployment counts as
   consistent with the protocol when the 95 % interval of their difference (Newcombe's, from the
   two Wilson intervals: training.compare.accuracy_agreement) contains 0.

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
from training.compare import accuracy_agreement

ROOT = Path(__file__).resolve().parents[1]
FPS = 50  # the demo data's rate (realtime/cli/demo.py)
MIN_EVENTS = 20  # matched interview events below which the accuracy check says so


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--clips-per-class", type=int, default=2)
    parser.add_argument("--methods", default=None, help="comma-separated (default: every registered method)")
    parser.add_argument("--epochs", type=int, default=None, help="per fold (default: the compare preset's)")
    parser.add_argument("--micro", type=int, default=24, help="micro-expressions in the interview")
    parser.add_argument("--interview", default=None,
                        help="comma-separated methods whose engines run on the interview (default: all compared)")
    parser.add_argument("--apex-samples", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--amplitude", type=float, default=1.0,
                        help="scale of every movement, dataset and interview (1: as real micro-expressions)")
    parser.add_argument("--faces", type=Path, default=None,
                        help="face photos to make the subjects and the interview's person from (mer-synth --faces)")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    data, out, video = work / "data", work / "compare", work / "interview.mp4"
    faces = ["--faces", args.faces.resolve()] if args.faces else []

    if not data.is_dir():
        command("training.cli.synth", "dataset", "--out", data, "--subjects", args.subjects, "--clips-per-class",
                args.clips_per_class, "--fps", FPS, "--size", 256, "--seed", args.seed, "--amplitude", args.amplitude,
                *faces)
    compare_args = ["compare", "--dataset", "casme2", "--root", data, "--out", out, "--preset", "compare", "--fps", FPS,
                    "--cache", work / "cache", "--min-clips-per-class", 1, "--device", "cpu", "--threads",
                    args.threads, "--seed", args.seed]
    compare_args += ["--methods", args.methods] if args.methods else []
    compare_args += ["--epochs", args.epochs] if args.epochs else []
    compare_args += ["--resume"] if out.is_dir() else []
    compare_s = command("training.cli.train", *compare_args)
    summary = json.loads((out / "compare.json").read_text())
    classes, level = summary["classes"], summary["bootstrap"]["level"]

    if not video.is_file():
        command("training.cli.synth", "video", "--out", video, "--fps", 30, "--micro", args.micro, "--seed",
                args.seed + 1000, "--amplitude", args.amplitude, *faces)
    truth_csv = video.with_name(f"{video.stem}_groundtruth.csv")

    rows = []
    chosen = args.interview.split(",") if args.interview else list(summary["methods"])
    for name, method in ((n, m) for n, m in summary["methods"].items() if n in chosen):
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
            if not true:
                rows.append((name, k, temperature, None, (np.nan, np.nan)))
                continue
            right = int(np.sum(np.array(true) == np.array(predicted)))
            # The engine's probabilities are softmax(z / T): softmax(T log p) gives back those at T = 1
            # (for K = 1; for K > 1 it tempers the averaged probabilities, the nearest like-for-like).
            untempered = softmax(temperature * np.log(np.clip(probs, 1e-12, None)))
            ece = (reliability(probs, true).ece, reliability(untempered, true).ece)
            check = accuracy_agreement(right, len(true), int(round(method["accuracy"] * method["n"])), method["n"],
                                       level)
            rows.append((name, k, temperature, check, ece))

    print(f"\ncompare: {len(summary['methods'])} methods, {summary['folds']} subjects, {summary['n']} clips, "
          f"{compare_s / 60:.1f} min this call (folds: "
          + ", ".join(f"{n} {m['fold_seconds'] / 60:.1f} min" for n, m in summary["methods"].items()) + ")")
    print((out / "compare.md").read_text())
    print(f"interview: {video.name}, {args.micro} micro-expressions (ground truth), 30 fps. 'consistent': the "
          f"{round(100 * level)}% Newcombe interval of (interview - LOSO) accuracy contains 0; both are proportions, both with "
          f"their Wilson interval (the events of one interview and the clips of one subject are not independent "
          f"draws, so the intervals are if anything too narrow)")
    print("| method | apex samples | T | matched events | interview acc. [Wilson] | ECE (T = 1 -> T) "
          "| LOSO acc. [Wilson] | difference [Newcombe] | consistent |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, k, t, check, (ece, ece_1) in rows:
        if check is None:
            print(f"| {name} | {k} | {t:.2f} | 0 | - | - | - | - | no events matched |")
            continue
        (right, n), (loso_right, loso_n) = check.deployed, check.loso
        (w_low, w_high), (l_low, l_high) = check.deployed_ci, check.loso_ci
        print(f"| {name} | {k} | {t:.2f} | {n}{'' if n >= MIN_EVENTS else ' (< ' + str(MIN_EVENTS) + ')'} "
              f"| {right / n:.3f} [{w_low:.2f}, {w_high:.2f}] | {ece_1:.3f} -> {ece:.3f} "
              f"| {loso_right / loso_n:.3f} [{l_low:.2f}, {l_high:.2f}] "
              f"| {check.difference:+.3f} [{check.ci[0]:+.2f}, {check.ci[1]:+.2f}] | {'yes' if check.agrees else 'NO'} |")


if __name__ == "__main__":
    main()
