"""The whole pipeline's cost per frame, and its memory over a long stream, measured in one run.

1. Per frame on 640x480 video: decoding + the full pipeline (alignment, ring buffer, DI
   builder, motion, spotter, CSV sinks; spot-only) against decoding + MediaPipe face mesh alone,
   the unavoidable cost (ratio; the aim is <= 1.25). With --video, the annotated H.264 too.
2. Resident memory over --frames frames (default 108,000: an hour at 30 fps), fed from a
   decoded clip looped with increasing indices and times: growth after warm-up (aim < 5%).

    python bench/bench_pipeline.py [--video] [--frames 108000] [--skip-memory]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2

from realtime.face_mesh import FaceMesh
from realtime.offline import RunFolder
from realtime.overlay import OverlayHistory, draw_overlay
from realtime.pipeline import PipelineConfig, RecognitionPipeline
from realtime.video_io import Frame, VideoInfo, VideoWriter, read_video
from training.synth import make_video


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def test_video(folder: Path, fps: float) -> Path:
    """A synthetic 640x480 interview with micro-expressions, so the spotter works as it does for real."""
    path = folder / f"bench_{int(fps)}fps.mp4"
    make_video(path, fps=fps, duration=2400 / fps if fps > 100 else 12.0, micro=3, seed=11, size=(640, 480))
    return path


def per_frame_ms(video: Path, *, with_video: bool) -> tuple[float, float, int]:
    """(decode + MediaPipe ms/frame, decode + pipeline ms/frame, frames), interleaved per frame
    in one loop so that both see the same machine load."""
    frames = list(read_video(video))  # decoded once here; decoding is timed separately below
    fps = VideoInfo.from_video_path(video).fps
    start = time.perf_counter()
    for _ in read_video(video):
        pass
    decode_ms = 1000 * (time.perf_counter() - start) / len(frames)
    mesh_s = pipe_s = 0.0
    with tempfile.TemporaryDirectory() as tmp, FaceMesh(static_image_mode=False) as mesh, \
            RecognitionPipeline(PipelineConfig(), fps=fps) as pipeline:
        run = RunFolder(Path(tmp), classes=(), regions=pipeline.region_names)
        history = OverlayHistory(pipeline.region_names)
        writer = VideoWriter(Path(tmp) / "annotated.mp4", fps, preset="veryfast") if with_video else None
        for frame in frames:
            t0 = time.perf_counter()
            mesh.process(frame.image)
            t1 = time.perf_counter()
            step = pipeline.process(frame)
            run.write(step)
            if writer is not None:
                writer.write(draw_overlay(frame.image, history.observe(step)))
            t2 = time.perf_counter()
            mesh_s += t1 - t0
            pipe_s += t2 - t1
        run.write(pipeline.finish())
        run.close()
        if writer is not None:
            writer.close()
    n = len(frames)
    return decode_ms + 1000 * mesh_s / n, decode_ms + 1000 * pipe_s / n, n


def memory_growth(video: Path, total: int) -> None:
    clip = [f.image for f in read_video(video)]
    fps = 30.0
    with tempfile.TemporaryDirectory() as tmp, RecognitionPipeline(PipelineConfig(), fps=fps) as pipeline:
        run = RunFolder(Path(tmp), classes=(), regions=pipeline.region_names)
        marks = {}
        start = time.perf_counter()
        for i in range(total):
            # Ping-pong through the clip so the stream has no jump at the loop point.
            k = i % (2 * len(clip) - 2)
            image = clip[k if k < len(clip) else 2 * len(clip) - 2 - k]
            run.write(pipeline.process(Frame(image=image, index=i, t_s=i / fps)))
            if i in (total // 10, total // 2, total - 1):
                marks[i] = rss_mb()
        run.close()
        elapsed = time.perf_counter() - start
    first, *_, last = marks.items()
    print(f"\nmemory over {total} frames ({total / fps / 60:.0f} min at 30 fps, {elapsed / 60:.1f} min to run):")
    for i, mb in marks.items():
        print(f"  after {i + 1:>7} frames: {mb:8.1f} MB resident")
    print(f"  growth after warm-up ({first[0] + 1} -> {last[0] + 1} frames): {100 * (last[1] / first[1] - 1):+.2f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", action="store_true", help="also draw the overlay and encode annotated.mp4")
    parser.add_argument("--frames", type=int, default=108_000, help="frames for the memory run")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        print("per frame on 640x480 video (spot-only):")
        print(f"{'video':>14} {'decode+MediaPipe ms':>20} {'decode+pipeline ms':>19} {'ratio':>6}")
        for fps in (30.0, 200.0):
            video = test_video(Path(tmp), fps)
            base, ours, n = per_frame_ms(video, with_video=args.video)
            print(f"{video.name:>14} {base:>20.2f} {ours:>19.2f} {ours / base:>6.2f}   ({n} frames)")
        if not args.skip_memory:
            memory_growth(video, args.frames)


if __name__ == "__main__":
    main()
