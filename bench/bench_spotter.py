"""Spotting on the frozen held-out interviews (silent and talking), and the spotter's cost.

Part 1 (default): on bench/heldout.py's HELD_OUT set (or --set tuning), 60 s `mer-synth video`
interviews with 10 micro-expressions at 30, 100 and 200 fps, silent and with 40 % of the time
talking, prints
- pooled spotting F1 (MEGC, IoU >= 0.5) with TP/FP/FN per frame rate, silent and talking, and
  where the false positives lie (inside talking; on a conversational brow raise);
- recall by where the micro-expression lies: inside talking, within 1 s of it, farther (the
  silent videos' same micro-expressions, placed by their talking twin's segments);
- an amplitude sweep (micro-expressions at 1x, 0.7x, 0.5x of 1-3 px);
- the run time. Videos and aligned motion are cached under heldout.CACHE: the first run renders
  and aligns every video (about an hour of CPU at 480x360; --jobs runs them in parallel), later
  runs spend a few seconds per video on spotting.

Part 2 (--cost): makes a 640x480 interview (30 fps, 20 micro-expressions), decodes and aligns it
once, then prints
1. cost per camera frame of decoding + MediaPipe alignment, of `FacialMotion` and of `Spotter`
   at 30, 100 and 200 fps (the same crops re-timed: flow runs at ~50 Hz, so faster cameras cost
   less per frame), and the ratio (motion + spotter) / (decoding + alignment);
2. the flow choice: the spotting score's signal-to-noise ratio on the micro-expressions (median
   and 10th percentile of their peak, in noise units), spotting F1, and the cost of one flow
   step, for the dense Lucas-Kanade flow `FacialMotion` uses and for OpenCV DIS (fast and
   medium presets) in its place.

With --per-video, each video's misses (action units, time, place) and false positives follow;
with --lower-off, the spotter runs without its lower-face channel during talking
(SpotterConfig.lower_in_speech).

--set weakblink: heldout.WEAK_BLINK_TUNING (tuning only: 100 fps, blinks closing the lids 24-50 %), as the
held-out set.

--set lower: heldout.LOWER_TUNING (tuning only: 30 s, 60 % talking, every micro-expression inside
talking a lower-face one), spotted with the lower-face channel and without it: recall of the
lower-face micro-expressions inside talking, of the others, and the false positives.

Run: python bench/bench_spotter.py [--set tuning|weakblink|lower] [--jobs 2] [--amplitudes 1] [--per-video]
     [--lower-off] | --cost [--seed N]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout import (HELD_OUT_BASE, LOWER_TUNING, TALK, TUNING_BASE, WEAK_BLINK_TUNING, BenchVideo,  # noqa: E402
                     load_motion, prepare, variants)

from realtime.capture.video_io import read_video  # noqa: E402
from realtime.face.aligner import AlignConfig, FaceAligner  # noqa: E402
from realtime.spotting.config import SpotterConfig  # noqa: E402
from realtime.spotting.ground_truth import read_synth_ground_truth  # noqa: E402
from realtime.spotting.motion import CellGrid, FacialMotion, MotionConfig  # noqa: E402
from realtime.spotting.scoring import SpottingScore, interval_iou, pool, score_spotting  # noqa: E402
from realtime.spotting.spotter import SpotEvent, Spotter, spot  # noqa: E402
from training.synth.speech import BROW_RAISE_AUS, SPEECH_AUS  # noqa: E402
from training.synth.video import LOWER_FACE_CHOICES, make_video  # noqa: E402

NEAR_S = 1.0  # "within 1 s of talking"
PLACES = ("inside talking", f"within {NEAR_S:g} s", "farther")


@dataclass(frozen=True)
class Result:
    video: BenchVideo
    score: SpottingScore
    places: dict[str, tuple[int, int]]  # place -> (found, total) micro-expressions
    fp_talking: int  # false positives overlapping a talking segment
    fp_brow: int  # false positives overlapping a conversational brow raise
    seconds: float  # spotting time
    missed: tuple[str, ...]  # each missed micro-expression: its action units, time and place
    false: tuple[str, ...]  # each false positive: its time and regions
    lower_inside: tuple[int, int]  # (found, total) lower-face micro-expressions inside talking


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _spans(rows: list[dict[str, str]], aus: str) -> list[tuple[int, int]]:
    return [(int(r["onset_frame"]), int(r["offset_frame"])) for r in rows
            if r["kind"] == "speech" and r["action_units"] == aus]


def _place(interval: tuple[int, int], talking: list[tuple[int, int]], fps: float) -> str:
    if any(interval[0] <= b and a <= interval[1] for a, b in talking):
        return PLACES[0]
    gap = min((max(a - interval[1], interval[0] - b) for a, b in talking), default=np.inf)
    return PLACES[1] if gap <= NEAR_S * fps else PLACES[2]


def evaluate(video: BenchVideo, grid: CellGrid, config: SpotterConfig = SpotterConfig()) -> Result:
    truth_path, motion_path, _ = prepare(video)
    rows = _rows(truth_path)
    talk_truth, _, _ = prepare(video.twin(TALK, video.amplitude)) if not video.talk else (truth_path, None, 0)
    talking = _spans(_rows(talk_truth), SPEECH_AUS)
    brows = _spans(rows, BROW_RAISE_AUS)
    micro_rows = [r for r in rows if r["kind"] == "micro"]
    micro = [(int(r["onset_frame"]), int(r["offset_frame"])) for r in micro_rows]
    frames = load_motion(motion_path).frames()
    started = time.perf_counter()
    events = spot(frames, grid, config)
    seconds = time.perf_counter() - started
    found_events = [e for e in events if isinstance(e, SpotEvent)]
    spotted = [e.frames.bounds for e in found_events]
    score = score_spotting(spotted, micro)
    hit = {m.truth for m in score.matches}
    taken = {m.spotted for m in score.matches}
    places = {p: (0, 0) for p in PLACES}
    missed = []
    lower_aus = {aus for _, aus in LOWER_FACE_CHOICES}
    lower_inside = (0, 0)
    for i, interval in enumerate(micro):
        p = _place(interval, talking, video.fps)
        found, total = places[p]
        places[p] = (found + (i in hit), total + 1)
        if p == PLACES[0] and micro_rows[i]["action_units"] in lower_aus:
            lower_inside = (lower_inside[0] + (i in hit), lower_inside[1] + 1)
        if i not in hit:
            missed.append(f"AU{micro_rows[i]['action_units']} {float(micro_rows[i]['onset_s']):.2f} s ({p})")
    false = [s for i, s in enumerate(spotted) if i not in taken]
    false_text = tuple(f"{e.onset_s:.2f} s {'+'.join(e.regions[:2])}" for i, e in enumerate(found_events)
                       if i not in taken)
    own_talking = _spans(rows, SPEECH_AUS)
    fp_talking = sum(any(interval_iou(f, t) > 0 for t in own_talking) for f in false)
    fp_brow = sum(any(interval_iou(f, b) > 0 for b in brows) for f in false)
    return Result(video, score, places, fp_talking, fp_brow, seconds, tuple(missed), false_text, lower_inside)


def _prepare_one(video: BenchVideo) -> float:
    cv2.setNumThreads(1)
    return prepare(video)[2]


def heldout(which: str, jobs: int, amplitudes: tuple[float, ...], talking_only: bool = False,
            per_video: bool = False, config: SpotterConfig = SpotterConfig()) -> None:
    """Part 1: F1, recall by place, amplitude sweep and run time on the held-out (or tuning) set."""
    base = {"heldout": HELD_OUT_BASE, "tuning": TUNING_BASE, "weakblink": WEAK_BLINK_TUNING}[which]
    videos = variants(base, amplitudes, (TALK,) if talking_only else (0.0, TALK))
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool_:
        made = list(pool_.map(_prepare_one, videos))
    prepared_s = time.perf_counter() - started
    grid = FacialMotion(crop_size=224).grid
    results = [evaluate(v, grid, config) for v in videos]
    spot_s = sum(r.seconds for r in results)
    total_s = time.perf_counter() - started
    rates = sorted({v.fps for v in base})
    conditions = ((("silent", 0.0),) if not talking_only else ()) + ((f"talking {TALK:.0%}", TALK),)

    def chosen(talk: float, amplitude: float, fps: float | None = None) -> list[Result]:
        return [r for r in results if r.video.talk == talk and r.video.amplitude == amplitude
                and (fps is None or r.video.fps == fps)]

    print(f"{which} set{'' if config.lower_in_speech else ' (no lower-face channel during talking)'}: {len(base)} videos x {'talking' if talking_only else 'silent/talking'} x amplitudes "
          f"{amplitudes}; 60 s, 10 micro-expressions "
          f"each; F1 at IoU 0.5, counts pooled over videos\n")
    print("1. pooled F1 at amplitude 1x")
    print(f"{'fps':>5} {'condition':>12} {'TP':>4} {'FP':>4} {'FN':>4} {'F1':>6} {'FP in talking':>14} "
          f"{'FP on brow raise':>17}")
    for fps in rates + [None]:
        for label, talk in conditions:
            rs = chosen(talk, 1.0, fps) if 1.0 in amplitudes else []
            if not rs:
                continue
            s = pool([r.score for r in rs])
            print(f"{'all' if fps is None else f'{fps:g}':>5} {label:>12} {s.tp:4d} {s.fp:4d} {s.fn:4d} {s.f1:6.2f} "
                  f"{sum(r.fp_talking for r in rs):14d} {sum(r.fp_brow for r in rs):17d}")

    print("\n2. recall by where the micro-expression lies (amplitude 1x; silent: the same micro-expressions "
          "without the talking)")
    print(f"{'fps':>5} {'condition':>12} " + " ".join(f"{p:>16}" for p in PLACES))
    for fps in rates + [None]:
        for label, talk in conditions:
            rs = chosen(talk, 1.0, fps) if 1.0 in amplitudes else []
            if not rs:
                continue
            cells = []
            for p in PLACES:
                found, total = sum(r.places[p][0] for r in rs), sum(r.places[p][1] for r in rs)
                cells.append(f"{found}/{total} {found / total if total else float('nan'):.2f}")
            print(f"{'all' if fps is None else f'{fps:g}':>5} {label:>12} " + " ".join(f"{c:>16}" for c in cells))

    print("\n3. amplitude sweep: F1 (TP/FP/FN) per frame rate")
    print(f"{'amplitude':>9} {'condition':>12} " + " ".join(f"{f'{fps:g} fps':>16}" for fps in rates)
          + f" {'pooled':>16}")
    for amplitude in amplitudes:
        for label, talk in conditions:
            cells = []
            for fps in rates + [None]:
                s = pool([r.score for r in chosen(talk, amplitude, fps)])
                cells.append(f"{s.f1:.2f} ({s.tp}/{s.fp}/{s.fn})")
            print(f"{amplitude:>8g}x {label:>12} " + " ".join(f"{c:>16}" for c in cells))
    if per_video:
        print("\n4. per video: TP/FP/FN, the micro-expressions missed and the false positives")
        for r in results:
            print(f"{r.video.name}: {r.score.tp}/{r.score.fp}/{r.score.fn}; missed: {', '.join(r.missed) or '-'}; "
                  f"false: {', '.join(r.false) or '-'}")
    frames = sum(len(load_motion(prepare(r.video)[1]).index) for r in results)
    print(f"\nrun time: {total_s:.0f} s in all; rendering and aligning what was not cached {prepared_s:.0f} s "
          f"(this run; {sum(made):.0f} s of worker time); spotting {spot_s:.1f} s for {len(results)} videos "
          f"({1000 * spot_s / frames:.3f} ms per aligned frame)")


def lower(jobs: int, per_video: bool) -> None:
    """--set lower: the lower-face channel's recall and false positives, with it and without it."""
    with ProcessPoolExecutor(max_workers=jobs) as pool_:
        list(pool_.map(_prepare_one, LOWER_TUNING))
    grid = FacialMotion(crop_size=224).grid
    print(f"lower set: {len(LOWER_TUNING)} videos (30 s, 60 % talking, 8 micro-expressions; those inside talking "
          "move the lower face: AU12, 14, 15, 17); F1 at IoU 0.5, counts pooled")
    print(f"{'lower channel':>13} {'fps':>5} {'lower inside talking':>21} {'other micro':>12} {'TP':>4} {'FP':>4} "
          f"{'FN':>4} {'F1':>6} {'FP in talking':>14}")
    for on in (False, True):
        results = [evaluate(v, grid, replace(SpotterConfig(), lower_in_speech=on)) for v in LOWER_TUNING]
        for fps in sorted({v.fps for v in LOWER_TUNING}) + [None]:
            rs = [r for r in results if fps is None or r.video.fps == fps]
            s = pool([r.score for r in rs])
            found, total = sum(r.lower_inside[0] for r in rs), sum(r.lower_inside[1] for r in rs)
            other = s.tp - found, sum(sum(t for _, t in r.places.values()) for r in rs) - total
            print(f"{'on' if on else 'off':>13} {'all' if fps is None else f'{fps:g}':>5} "
                  f"{f'{found}/{total} {found / max(total, 1):.2f}':>21} {f'{other[0]}/{other[1]}':>12} "
                  f"{s.tp:4d} {s.fp:4d} {s.fn:4d} {s.f1:6.2f} {sum(r.fp_talking for r in rs):14d}")
        if per_video:
            for r in results:
                print(f"  {r.video.name}: {r.score.tp}/{r.score.fp}/{r.score.fn}; "
                      f"missed: {', '.join(r.missed) or '-'}; false: {', '.join(r.false) or '-'}")


class DISMotion(FacialMotion):
    """FacialMotion with OpenCV DIS in place of the Lucas-Kanade flow (for comparison only)."""

    def __init__(self, preset: int) -> None:
        super().__init__(MotionConfig(), crop_size=224)
        self._dis = cv2.DISOpticalFlow_create(preset)

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._dis.calc(np.clip(a, 0, 255).astype(np.uint8), np.clip(b, 0, 255).astype(np.uint8), None)


class ScoreTrace(Spotter):
    """Spotter that keeps every score in noise units (for the signal-to-noise ratio)."""

    def reset(self) -> None:
        super().reset()
        self.trace: list[tuple[float, float]] = []
        segment = self._segments.add  # every scored sample passes here with its score in noise units

        def traced(t: float, value: float, z: float, cells: np.ndarray):  # noqa: ANN202
            self.trace.append((t, z))
            return segment(t, value, z, cells)

        self._segments.add = traced  # type: ignore[method-assign]


def run(motion: FacialMotion, crops: np.ndarray, times: np.ndarray) -> tuple[list, ScoreTrace, float, float]:
    spotter = ScoreTrace(motion.grid)
    events, motion_s, spot_s = [], 0.0, 0.0
    for i, (crop, t) in enumerate(zip(crops, times)):
        start = time.perf_counter()
        frame = motion.process(crop, t_s=float(t), index=i)
        middle = time.perf_counter()
        events += spotter.process(frame)
        motion_s += middle - start
        spot_s += time.perf_counter() - middle
    events += spotter.finish()
    return events, spotter, 1000 * motion_s / len(times), 1000 * spot_s / len(times)


def cost(seed: int) -> None:
    """Part 2: cost per frame and the flow choice, on one 640x480 interview made here."""
    with tempfile.TemporaryDirectory() as tmp:
        video = make_video(Path(tmp) / "interview.mp4", fps=30.0, duration=60.0, micro=20, seed=seed)
        truth = read_synth_ground_truth(video.groundtruth)
        crops, times = [], []
        start = time.perf_counter()
        with FaceAligner(AlignConfig()) as aligner:
            for frame in read_video(video.path):
                crops.append(aligner.process(frame.image, frame.t_s).crop)
                times.append(frame.t_s)
        base_ms = 1000 * (time.perf_counter() - start) / len(times)
    crops_arr, times_arr = np.stack(crops), np.array(times)
    print(f"{len(times)} frames of 640x480; decoding + MediaPipe alignment: {base_ms:.2f} ms/frame")
    print(f"{'fps':>5} {'motion ms/frame':>16} {'spotter ms/frame':>17} {'(motion+spotter)/(decode+align)':>32}")
    for fps in (30.0, 100.0, 200.0):
        _, _, motion_ms, spot_ms = run(FacialMotion(crop_size=224), crops_arr, np.arange(len(times)) / fps)
        print(f"{fps:5.0f} {motion_ms:16.3f} {spot_ms:17.3f} {(motion_ms + spot_ms) / base_ms:32.3f}")

    micro = [item for item in truth.of_kind("micro")]
    print(f"\nflow choice on the same video ({len(micro)} micro-expressions, 30 fps):")
    print(f"{'flow':>20} {'ME peak z median':>17} {'10th pct':>9} {'F1':>6} {'ms per flow step':>17}")
    flows = {"lucas-kanade (ours)": FacialMotion(crop_size=224),
             "DIS fast": DISMotion(cv2.DISOPTICAL_FLOW_PRESET_FAST),
             "DIS medium": DISMotion(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)}
    for name, motion in flows.items():
        events, spotter, motion_ms, _ = run(motion, crops_arr, times_arr)
        trace = np.array(spotter.trace)
        peaks = [np.nanmax(trace[(trace[:, 0] >= m.onset_s) & (trace[:, 0] <= m.offset_s), 1]) for m in micro]
        spotted = [e.frames.bounds for e in events if isinstance(e, SpotEvent)]
        f1 = score_spotting(spotted, truth.micro_intervals()).f1
        print(f"{name:>20} {np.median(peaks):17.1f} {np.percentile(peaks, 10):9.1f} {f1:6.2f} {motion_ms:17.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("heldout", "tuning", "weakblink", "lower"), default="heldout",
                        help="the frozen held-out videos, the ones to tune on, the weak-blink or the lower-face "
                             "tuning videos")
    parser.add_argument("--jobs", type=int, default=1, help="videos rendered and aligned in parallel")
    parser.add_argument("--amplitudes", type=float, nargs="+", default=[1.0, 0.7, 0.5])
    parser.add_argument("--talking-only", action="store_true", help="only the talking videos (no silent twins)")
    parser.add_argument("--per-video", action="store_true", help="also each video's misses and false positives")
    parser.add_argument("--lower-off", action="store_true", help="without the lower-face channel during talking")
    parser.add_argument("--cost", action="store_true", help="part 2 instead: cost per frame and the flow choice")
    parser.add_argument("--seed", type=int, default=21, help="--cost: make_video seed (not one the spotter was tuned on)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.cost:
        cost(args.seed)
    elif args.set == "lower":
        lower(args.jobs, args.per_video)
    else:
        heldout(args.set, args.jobs, tuple(args.amplitudes), args.talking_only, args.per_video,
                replace(SpotterConfig(), lower_in_speech=not args.lower_off))


if __name__ == "__main__":
    main()
