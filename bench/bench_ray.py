"""mer-process on Ray against one machine: throughput with 1 and 2 workers, and the cost per task.

    python bench/bench_ray.py [--videos 4] [--duration 6]

Makes `--videos` mer-synth interviews (24 fps, 320x240), then processes them (spotting only, no
annotated video) three ways and prints wall times:
- single machine: realtime.apps.offline.process_video one after another in this process (warmed up
  by one short video first, one torch/OpenMP thread as in a 1-CPU Ray task);
- Ray, 1 worker: a local Ray instance with one CPU (one task at a time);
- Ray, 2 workers: a local Ray instance with two CPUs.
Starting an instance and each worker's first task (a process starting, importing torch and
MediaPipe) are one-off costs, timed and printed apart; the measured videos run on warm workers.
It prints videos per second of each, the 2-worker / 1-worker throughput ratio (at most 2 on two
cores, less when other processes share them), and the overhead per task on a warm worker:
(Ray 1 worker - single machine) / videos (the task's round trips, argument and result transfer,
progress reports), and that of an empty task. Load from other processes comes and goes on a shared
machine, so Ray and single-machine rounds alternate and the best of each is kept. Both instances
run in private temporary folders and are stopped at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# What Ray gives a 1-CPU task's worker, so that the single-machine run differs from it only by Ray.
os.environ.setdefault("OMP_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.support is test code
from tests.support.loopback_cluster import AUTH_TOKEN  # after the environment is set

os.environ.setdefault("RAY_AUTH_MODE", "token")  # a token per run, never written to ~/.ray
os.environ.setdefault("RAY_AUTH_TOKEN", AUTH_TOKEN)

import torch

from realtime.apps.offline import process_video
from realtime.distributed.cluster import ClusterConfig, RayCluster, TaskProgress, TaskResources
from realtime.distributed.videos import VideoJob, VideoSettings, process_on_ray
from training.synth import make_video

EMPTY_TASKS = 20
ROUNDS = 2  # of the measured videos per instance, each followed by a single-machine round; the best is kept


def _empty_task(board: object, job: str) -> None:
    """A task that does nothing but what every task does: announce itself on the progress board."""
    TaskProgress(board, job)


def single_machine(videos: list[Path], out: Path) -> float:
    started = time.perf_counter()
    for video in videos:
        process_video(video, out, write_video=False)
    return time.perf_counter() - started


def on_ray(videos: list[Path], warm_up: list[Path], out: Path, cpus: int, singles: list[float]) -> dict[str, float]:
    """Seconds of: starting a local instance with `cpus` CPUs, the first task on each fresh worker
    (`cpus` short warm-up videos), the videos on warm workers (best of ROUNDS), one empty task (mean
    of EMPTY_TASKS submitted at once). Each round is followed by a single-machine round (appended to
    `singles`), so that both see the same load from other processes."""
    temp = Path(tempfile.mkdtemp(prefix="mer-ray-", dir="/tmp"))
    cluster = ClusterConfig(address="local", num_cpus=cpus, object_store_bytes=200_000_000, temp_dir=temp,
                            node_ip_address="127.0.0.2")
    settings = VideoSettings(out=out, write_video=False)
    times: dict[str, float] = {}
    try:
        started = time.perf_counter()
        with RayCluster(cluster) as ray_cluster:
            times["startup"] = time.perf_counter() - started
            started = time.perf_counter()
            process_on_ray([VideoJob(v) for v in warm_up[:cpus]], settings, cluster=ray_cluster)
            times["first"] = time.perf_counter() - started
            rounds = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                results = process_on_ray([VideoJob(v) for v in videos], settings, cluster=ray_cluster)
                rounds.append(time.perf_counter() - started)
                failed = [r.job.name for r in results if r.status != "finished"]
                if failed:
                    raise SystemExit(f"videos not finished on Ray: {failed}")
                singles.append(single_machine(videos, out.with_name(f"{out.name}-single")))
            times["videos"] = min(rounds)
            started = time.perf_counter()
            pending = {ray_cluster.submit(_empty_task, resources=TaskResources(), job=f"empty {k}"): f"empty {k}"
                       for k in range(EMPTY_TASKS)}
            for _ in ray_cluster.gather(pending):
                pass
            times["empty"] = (time.perf_counter() - started) / EMPTY_TASKS
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of video each")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        videos, warm_up = [], []
        for k in range(args.videos):
            path = root / f"v{k}.mp4"
            make_video(path, fps=24, duration=args.duration, micro=2, seed=20 + k, size=(320, 240))
            videos.append(path)
        for k in range(2):
            path = root / f"warm{k}.mp4"
            make_video(path, fps=24, duration=2.0, micro=0, seed=40 + k, size=(320, 240))
            warm_up.append(path)
        frames = round(24 * args.duration) * len(videos)

        torch.set_num_threads(1)  # as in a 1-CPU Ray task
        process_video(warm_up[0], root / "warm", write_video=False)  # this process imports and warms up too
        singles: list[float] = []
        ray1 = on_ray(videos, warm_up, root / "ray1", 1, singles)
        ray2 = on_ray(videos, warm_up, root / "ray2", 2, singles)
        single = min(singles)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n = len(videos)
    print(f"{n} videos x {args.duration:g} s at 24 fps, 320x240 ({frames} frames), spotting only, "
          f"{os.cpu_count()} cores")
    print(f"  single machine     {single:7.1f} s  {n / single:6.3f} videos/s")
    for name, times in (("Ray, 1 worker ", ray1), ("Ray, 2 workers", ray2)):
        print(f"  {name}     {times['videos']:7.1f} s  {n / times['videos']:6.3f} videos/s  (before: "
              f"{times['startup']:.1f} s to start the instance, {times['first']:.1f} s for the first, 2 s video "
              f"on each fresh worker)")
    print(f"throughput 2 workers / 1 worker: {ray1['videos'] / ray2['videos']:.2f}x")
    print(f"overhead per task on a warm worker: (Ray 1 worker - single machine) / videos = "
          f"{(ray1['videos'] - single) / n:+.2f} s ({100 * (ray1['videos'] - single) / single:+.0f}% of the "
          f"single-machine time); an empty task: {1000 * ray1['empty']:.0f} ms (1 worker), "
          f"{1000 * ray2['empty']:.0f} ms (2 workers)")


if __name__ == "__main__":
    main()
