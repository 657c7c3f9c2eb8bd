"""What one micro-expression's magnified replay costs, against the video time it covers.

The replay is written when the event closes, on the frame thread (RunFolder.write), so its cost
is a stall of the pipeline. For a 300 ms event (+ 0.2 s on each side: 0.7 s of crops) at 30, 100
and 200 fps, each clip is magnified (Farneback flow per frame, affine fit, warp) and encoded
(libx264 veryfast, 448x242); the two are timed apart, in turns, and the total is given per event
and as a ratio to the 0.7 s of video the clip covers (below 1: a replay never costs more than the
time it shows; events are seconds apart, so the stall is absorbed by the work-ahead of the stream).

    python bench/bench_replay.py [--repeats N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from realtime.capture.video_io import VideoWriter
from realtime.sinks.replay import ReplayConfig, replay_frames

CLIP_S = 0.7  # 300 ms event + 2 x 0.2 s of context
SIZE = 224


def make_clip(fps: float, rng: np.random.Generator) -> np.ndarray:
    """(T, S, S) grey crops: a smooth texture whose middle bulges by up to 2 px and back."""
    base = cv2.GaussianBlur(rng.uniform(0, 255, (SIZE, SIZE)).astype(np.float32), (0, 0), 2.0)
    gy, gx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    bump = np.exp(-((gx - 112) ** 2 + (gy - 150) ** 2) / (2 * 20.0**2))
    frames = []
    for t in np.linspace(0, 1, int(round(CLIP_S * fps))):
        s = 2.0 * np.sin(np.pi * t) * bump
        frames.append(cv2.remap(base, gx - s, gy, cv2.INTER_LINEAR).clip(0, 255).astype(np.uint8))
    return np.stack(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    config = ReplayConfig()
    cv2.setNumThreads(1)  # the frame thread's share of a busy machine
    with tempfile.TemporaryDirectory() as tmp:
        for fps in (30.0, 100.0, 200.0):
            clip = make_clip(fps, rng)
            magnify_s, encode_s, size = [], [], 0
            for r in range(args.repeats):
                started = time.perf_counter()
                frames = replay_frames(clip, fps, config)
                magnify_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                path = Path(tmp) / f"replay_{fps:.0f}_{r}.mp4"
                with VideoWriter(path, fps * config.speed, crf=config.crf, preset="veryfast") as writer:
                    for frame in frames:
                        writer.write(frame)
                encode_s.append(time.perf_counter() - started)
                size = path.stat().st_size
            magnify, encode = float(np.median(magnify_s)), float(np.median(encode_s))
            print(f"{fps:5.0f} fps, {len(clip):3d} crops: magnify {1000 * magnify:6.0f} ms + encode "
                  f"{1000 * encode:5.0f} ms = {1000 * (magnify + encode):6.0f} ms per event "
                  f"({(magnify + encode) / CLIP_S:.2f}x the {CLIP_S} s it shows), {size / 1e3:.0f} KB")


if __name__ == "__main__":
    main()
