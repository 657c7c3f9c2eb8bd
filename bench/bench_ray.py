"""mer-process on Ray against one machine: throughput with 1 and 2 workers, and the cost per task.

    python bench/bench_ray.py [--videos 4] [--duration 6]

Makes `--videos` mer-synth interviews (24 fps, 320x240), then processes them (spotting only, no
annotated video) three ways and prints wall times:
- single machine: realtime.offline.process_video one after another in this process;
- Ray, 1 worker: a local Ray instance with one CPU (one task at a time), start-up timed apart;
- Ray, 2 workers: a local Ray instance with two CPUs.
It prints videos per second of each, the 2-worker / 1-worker throughput ratio (at most 2 on two
cores, less when other processes share them), and the overhead per task: (Ray 1 worker - single
machine) / videos, which is what a task costs beyond the work itself (a worker process starting
and importing torch and MediaPipe, the task's round trips, the progress reports). Both local
instances run in private temporary folders and are stopped at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from realtime.loopback_cluster import AUTH_TOKEN  # after the environment is set

os.environ.setdefault("RAY_AUTH_MODE", "token")  # a token per run, never written to ~/.ray
os.environ.setdefault("RAY_AUTH_TOKEN", AUTH_TOKEN)

from realtime.offline import process_video
from realtime.ray_cluster import ClusterConfig, RayCluster
from realtime.ray_process import VideoJob, VideoSettings, process_on_ray
from training.synth import make_video


def on_ray(videos: list[Path], out: Path, cpus: int) -> tuple[float, float]:
    """(start-up s, processing s) of the videos on a fresh local instance with `cpus` CPUs."""
    temp = Path(tempfile.mkdtemp(prefix="mer-ray-", dir="/tmp"))
    cluster = ClusterConfig(address="local", num_cpus=cpus, object_store_bytes=200_000_000, temp_dir=temp,
                            node_ip_address="127.0.0.2")
    try:
        started = time.perf_counter()
        with RayCluster(cluster) as ray_cluster:
            startup = time.perf_counter() - started
            started = time.perf_counter()
            results = process_on_ray([VideoJob(v) for v in videos], VideoSettings(out=out, write_video=False),
                                     cluster=ray_cluster)
            elapsed = time.perf_counter() - started
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    failed = [r.job.name for r in results if r.status != "finished"]
    if failed:
        raise SystemExit(f"videos not finished on Ray: {failed}")
    return startup, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of video each")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        videos = []
        for k in range(args.videos):
            path = root / f"v{k}.mp4"
            make_video(path, fps=24, duration=args.duration, micro=2, seed=20 + k, size=(320, 240))
            videos.append(path)
        frames = round(24 * args.duration) * len(videos)

        started = time.perf_counter()
        for video in videos:
            process_video(video, root / "single", write_video=False)
        single = time.perf_counter() - started
        startup1, ray1 = on_ray(videos, root / "ray1", 1)
        startup2, ray2 = on_ray(videos, root / "ray2", 2)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n = len(videos)
    print(f"{n} videos x {args.duration:g} s at 24 fps, 320x240 ({frames} frames), spotting only, "
          f"{os.cpu_count()} cores")
    print(f"  single machine     {single:7.1f} s  {n / single:6.3f} videos/s")
    print(f"  Ray, 1 worker      {ray1:7.1f} s  {n / ray1:6.3f} videos/s  (+ {startup1:.1f} s to start the instance)")
    print(f"  Ray, 2 workers     {ray2:7.1f} s  {n / ray2:6.3f} videos/s  (+ {startup2:.1f} s to start the instance)")
    print(f"throughput 2 workers / 1 worker: {ray1 / ray2:.2f}x")
    print(f"overhead per task (Ray 1 worker - single machine) / videos: {(ray1 - single) / n:+.2f} s "
          f"({100 * (ray1 - single) / single:+.0f}% of the single-machine time)")


if __name__ == "__main__":
    main()
