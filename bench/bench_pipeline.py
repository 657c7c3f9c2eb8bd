"""The whole pipeline's cost per frame, and its memory over a long stream, measured in one run.

1. Per frame on 640x480 video: decoding + the full pipeline (alignment, ring buffer, DI
   builder, motion, spotter, CSV sinks; spot-only) against decoding + MediaPipe face mesh alone,
   the unavoidable cost (ratio; the aim is <= 1.25), in wall time, with the pipeline on one
   thread and as mer-process runs it (alignment on a second thread). With --video, the
   annotated H.264 too.
2. Resident memory over --frames frames (default 108,000: an hour at 30 fps), fed from a
   decoded clip looped with increasing indices and times: growth after warm-up (aim < 5%).

    python bench/bench_pipeline.py [--video] [--frames 108000] [--skip-memory] [--skip-per-frame]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2

from realtime.capture.video_io import VideoInfo, VideoWriter, read_video
from realtime.core.frame import Frame
from realtime.face.mesh import FaceMesh
from realtime.pipeline.pipeline import PipelineConfig, RecognitionPipeline
from realtime.sinks.overlay import OverlayHistory, draw_overlay
from realtime.sinks.run_folder import RunFolder
from training.synth import make_video


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def test_video(folder: Path, fps: float) -> Path:
    """A synthetic 640x480 interview with micro-expressions, so the spotter works as it does for real."""
    path = folder / f"bench_{int(fps)}fps.mp4"
    if not path.is_file():
        make_video(path, fps=fps, duration=2400 / fps if fps > 100 else 12.0, micro=3, seed=11,
                   size=(640, 480))
    return path


def decode_and_mesh_ms(video: Path) -> float:
    """The unavoidable cost: decoding and MediaPipe face mesh alone, ms per frame."""
    with FaceMesh(static_image_mode=False) as mesh:
        start, n = time.perf_counter(), 0
        for frame in read_video(video):
            mesh.process(frame.image)
            n += 1
    return 1000 * (time.perf_counter() - start) / n


def pipeline_ms(video: Path, *, threaded: bool, with_video: bool) -> float:
    """Decoding and the whole pipeline with its sinks, ms per frame of wall time; `threaded` is
    mer-process's path (alignment on a second thread), else everything on one thread."""
    fps = VideoInfo.from_video_path(video).fps
    with tempfile.TemporaryDirectory() as tmp, RecognitionPipeline(PipelineConfig(), fps=fps) as pipeline:
        run = RunFolder(Path(tmp), classes=(), regions=pipeline.region_names)
        history = OverlayHistory(pipeline.region_names)
        writer = VideoWriter(Path(tmp) / "annotated.mp4", fps, preset="veryfast") if with_video else None
        start, n = time.perf_counter(), 0
        frames = read_video(video)
        for step in pipeline.stream(frames) if threaded else map(pipeline.process, frames):
            run.write(step)
            if writer is not None:
                writer.write(draw_overlay(step.frame.image, history.observe(step)))
            n += 1
        run.write(pipeline.finish())
        run.close()
        if writer is not None:
            writer.close()
        return 1000 * (time.perf_counter() - start) / n


def per_frame_ms(video: Path, *, with_video: bool, rounds: int = 3) -> dict[str, float]:
    """Median ms per frame of each way, the ways taking turns so that all see the same load."""
    times: dict[str, list[float]] = {"base": [], "one thread": [], "two threads": []}
    for _ in range(rounds):
        times["base"].append(decode_and_mesh_ms(video))
        times["one thread"].append(pipeline_ms(video, threaded=False, with_video=with_video))
        times["two threads"].append(pipeline_ms(video, threaded=True, with_video=with_video))
    return {name: statistics.median(values) for name, values in times.items()}


def memory_growth(video: Path, total: int) -> None:
    clip = [f.image for _, f in zip(range(150), read_video(video))]  # 5 s, 140 MB: the pipeline's own memory shows
    fps = 30.0
    with tempfile.TemporaryDirectory() as tmp, RecognitionPipeline(PipelineConfig(), fps=fps) as pipeline:
        run = RunFolder(Path(tmp), classes=(), regions=pipeline.region_names)
        marks = {}
        at = {total * k // 10 - 1 for k in range(1, 11)}  # every tenth of the stream
        start = time.perf_counter()

        def frames() -> Iterator[Frame]:
            for i in range(total):
                # Ping-pong through the clip so the stream has no jump at the loop point.
                k = i % (2 * len(clip) - 2)
                yield Frame(image=clip[k if k < len(clip) else 2 * len(clip) - 2 - k], index=i, t_s=i / fps)

        for step in pipeline.stream(frames()):
            run.write(step)
            if step.frame.index in at:
                marks[step.frame.index] = rss_mb()
        run.write(pipeline.finish())
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
    parser.add_argument("--skip-per-frame", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_per_frame:
            print("per frame on 640x480 video (spot-only), ms of wall time, median of 3 rounds taken in turns:")
            print(f"{'video':>16} {'decode+MediaPipe':>17} {'pipeline, 1 thread':>19} {'ratio':>6} "
                  f"{'pipeline, 2 threads':>20} {'ratio':>6}")
            for fps in (30.0, 200.0):
                video = test_video(Path(tmp), fps)
                ms = per_frame_ms(video, with_video=args.video)
                base = ms["base"]
                print(f"{video.name:>16} {base:>17.2f} {ms['one thread']:>19.2f} {ms['one thread'] / base:>6.2f} "
                      f"{ms['two threads']:>20.2f} {ms['two threads'] / base:>6.2f}")
            print("(2 threads is mer-process and mer-live: alignment of the next frame overlaps the rest; "
                  "aim <= 1.25)")
        if not args.skip_memory:
            memory_growth(test_video(Path(tmp), 30.0), args.frames)


if __name__ == "__main__":
    main()
