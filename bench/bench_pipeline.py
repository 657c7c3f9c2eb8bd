"""The whole pipeline's cost per frame, and its memory over a long stream, measured in one run.

1. Per frame on 640x480 video at 30, 100 and 200 fps: what a user runs, `mer-process VIDEO
   --spot-only --no-video` (with --video: without --no-video) end to end (frames / wall time of its processing loop, from
   summary.json, and of the whole command with start-up), and the pipeline in-process with its
   sinks (alignment on a second thread, as mer-process runs it), against decoding + MediaPipe
   face mesh on every frame, the old floor. The aim: <= 0.6 at 100 and 200 fps and <= 1.0 at
   30 fps. The ways take turns, so load from other processes hits them alike. The face mesh
   runs at most AlignConfig.mesh_max_hz times a second; frames between are carried by optical
   flow of rigid points, and the stabiliser registers the rigid skin on every frame. With
   --video, the annotated H.264 too. Then where the time goes: each stage alone (decoding,
   alignment, occlusion detection, the rest), ms per frame, by the thread it runs on; and every
   stage timed inside one single-threaded run (wall and the calling thread's CPU: the CPU a
   thread holds, where the GIL is, against the other thread's; MediaPipe's graphs run on
   threads of their own, so the mesh's and Hands' CPU shows in the wall time only). And how many of
   the cores the threaded pipeline keeps busy (CPU of every thread / wall) against the CPU a frame
   the aim leaves (aim x the floor x the cores: no threading or process split can do with more),
   and how much of it decoding and the mesh calls at their bounded rate leave for every other
   stage (their CPU measured alone). And what the GIL does to a face mesh call: alone, beside a
   thread running Python, beside one running native code.
2. Resident memory over --frames frames (default 108,000: an hour at 30 fps), fed from a
   decoded clip looped with increasing indices and times: growth after warm-up (aim < 5%).

    python bench/bench_pipeline.py [--video] [--frames 108000] [--skip-memory] [--skip-per-frame] [--rounds 3]
                                   [--against CHECKOUT]

--against: the pipeline of another checkout of the project (the code before a change) takes its
turn beside this one's in every round, each in a fresh process as mer-process runs it (alignment
on a second thread): wall time and CPU time (every thread of the process; what load from other
processes inflates least) per frame of both.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from realtime.capture.video_io import VideoInfo, annotated_video_writer, read_video
from realtime.core.frame import Frame
from realtime.face.aligner import TRACKED, AlignConfig, FaceAligner
from realtime.face.mesh import FaceMesh
from realtime.face.occlusion import OcclusionConfig, OcclusionDetector
from realtime.pipeline.pipeline import PipelineConfig, RecognitionPipeline
from realtime.sinks.overlay import OverlayHistory, draw_overlay
from realtime.sinks.run_folder import RunFolder
from training.synth import make_video


ROOT = Path(__file__).resolve().parents[1]
WAYS = ("base", "base CPU", "mer-process", "mer-process command", "in-process", "in-process CPU", "one thread",
        "decode", "decode CPU", "decode+align", "decode+align+occlusion", "checkout", "checkout CPU", "against",
        "against CPU", "against mer-process")
FPS = (30.0, 100.0, 200.0)
AIMS = {30.0: 1.0, 100.0: 0.6, 200.0: 0.6}  # per-frame wall time / (decode + mesh on every frame)


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


class Clock:
    """Wall and CPU time (every thread of this process) from its making on."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def per_frame_ms(self, frames: int) -> tuple[float, float]:
        """Wall and CPU ms per frame so far."""
        return 1000 * (time.perf_counter() - self.wall) / frames, 1000 * (time.process_time() - self.cpu) / frames


def decode_ms(video: Path, *, mesh: bool = False) -> tuple[float, float]:
    """Decoding alone (PyAV, the decoder's own threads), or with MediaPipe face mesh on every frame (the
    old floor): wall and CPU (every thread) ms per frame."""
    with FaceMesh(static_image_mode=False) if mesh else contextlib.nullcontext() as face_mesh:
        clock, n = Clock(), 0
        for frame in read_video(video):
            if face_mesh is not None:
                face_mesh.process(frame.image)
            n += 1
    return clock.per_frame_ms(n)


def align_ms(video: Path, *, occlusion: bool) -> float:
    """Decoding + alignment (mesh at its bounded rate, flow, stabiliser, crop), + occlusion detection
    (appearance test and MediaPipe Hands at OcclusionConfig.check_hz) if asked, on one thread, ms per frame."""
    with FaceAligner(AlignConfig()) as aligner:
        detector = OcclusionDetector(aligner.config.size, OcclusionConfig()) if occlusion else None
        start, n = time.perf_counter(), 0
        for frame in read_video(video):
            face = aligner.process(frame.image, frame.t_s)
            if detector is not None:
                detector.process(frame.image, face, frame.t_s)
            n += 1
        elapsed = time.perf_counter() - start
        if detector is not None:
            detector.close()
    return 1000 * elapsed / n


def mer_process_ms(video: Path, *, with_video: bool, root: Path = ROOT) -> tuple[float, float]:
    """`mer-process VIDEO --spot-only --no-video` (with `with_video`, its annotated.mp4 too) of the checkout
    at `root`, as a user runs it: ms per frame of its processing loop (frames / wall time in summary.json)
    and of the whole command (start-up and imports too)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from realtime.cli.process import app; app()", str(video), "--out", tmp,
                        "--spot-only", *([] if with_video else ["--no-video"])], check=True, capture_output=True,
                       env=env, cwd=root)
        command = time.perf_counter() - start
        summary = json.loads(next(Path(tmp).glob("*/summary.json")).read_text())
    return 1000 / summary["processing_fps"], 1000 * command / summary["frames"]


def checkout_ms(video: Path, root: Path) -> tuple[float, float]:
    """The pipeline of the checkout at `root` (its `realtime` package) in a fresh process, threaded as in
    mer-process: wall and CPU (every thread) ms per frame."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, __file__, "--pipeline-only", str(video)], check=True, capture_output=True,
                          text=True, env=env, cwd=root)
    wall, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, cpu


def startup_ms() -> float:
    """Making and closing a pipeline (MediaPipe's graphs, the ring): inside mer-process's timed loop."""
    start = time.perf_counter()
    with RecognitionPipeline(PipelineConfig(), fps=30.0):
        pass
    return 1000 * (time.perf_counter() - start)


def mesh_beside_ms(images: list[np.ndarray], busy: str | None) -> float:
    """The face mesh's wall ms per call on `images` on one thread while a second thread is `busy`: None
    (idle), "python" (pure Python: holds the GIL) or "native" (a large matrix product: releases it)."""
    stop = threading.Event()

    def python_work() -> None:
        while not stop.is_set():
            sum(range(1000))

    def native_work() -> None:
        a = np.random.default_rng(0).random((300, 300))
        while not stop.is_set():
            a @ a

    worker = threading.Thread(target={"python": python_work, "native": native_work}[busy]) if busy else None
    with FaceMesh(static_image_mode=False) as mesh:
        for image in images[:10]:  # the tracking graph warmed up
            mesh.process(image)
        if worker is not None:
            worker.start()
        try:
            start = time.perf_counter()
            for image in images:
                mesh.process(image)
            elapsed = time.perf_counter() - start
        finally:
            stop.set()
            if worker is not None:
                worker.join()
    return 1000 * elapsed / len(images)


def pipeline_ms(video: Path, *, threaded: bool, with_video: bool) -> tuple[float, float]:
    """Decoding and the whole pipeline with its sinks, ms per frame of wall time and of CPU time (every
    thread of this process); `threaded` is mer-process's path (alignment on a second thread), else
    everything on one thread."""
    fps = VideoInfo.from_video_path(video).fps
    with tempfile.TemporaryDirectory() as tmp, RecognitionPipeline(PipelineConfig(), fps=fps) as pipeline:
        run = RunFolder(Path(tmp), classes=(), regions=pipeline.region_names)
        history = OverlayHistory(pipeline.region_names)
        writer = annotated_video_writer(Path(tmp) / "annotated.mp4", fps) if with_video else None
        clock, n = Clock(), 0
        frames = read_video(video)
        for step in pipeline.stream(frames) if threaded else map(pipeline.process, frames):
            run.write(step)
            if writer is not None:
                writer.write(draw_overlay(step.frame.image, history.observe(step)))
            n += 1
        run.write(pipeline.finish())
        run.close_streams()
        if writer is not None:
            writer.close()
        return clock.per_frame_ms(n)


class Timed:
    """Wall time and the calling thread's CPU time of every call of `fn`, summed."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.calls = 0
        self.wall = self.cpu = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.thread_time() - cpu
            self.calls += 1

    def __getattr__(self, name: str) -> Any:  # a wrapped object's other methods (the stabiliser's reset)
        return getattr(self.fn, name)


def timed_frames(frames: Iterator[Frame], timer: Timed) -> Iterator[Frame]:
    """The frames of `frames`, the time to get each (decoding) counted by `timer` (a Timed `next`)."""
    while True:
        try:
            yield timer(frames)
        except StopIteration:
            return


def stage_ms(video: Path) -> tuple[dict[str, Timed], int]:
    """Every stage of the pipeline and its sinks timed in one single-threaded run (the stages'
    objects wrapped in place: a bench's view inside the pipeline, not an interface of it)."""
    fps = VideoInfo.from_video_path(video).fps
    stages: dict[str, Timed] = {}

    def wrap(owner: object, name: str, label: str) -> None:
        stages[label] = Timed(getattr(owner, name))
        setattr(owner, name, stages[label])

    with tempfile.TemporaryDirectory() as tmp, RecognitionPipeline(PipelineConfig(), fps=fps) as pipeline:
        run = RunFolder(Path(tmp), classes=(), regions=pipeline.region_names)
        aligner, occlusion, spotter = pipeline._aligner, pipeline._occlusion, pipeline._spotter
        wrap(aligner, "process", "alignment")
        wrap(aligner._mesh, "process", "mesh")
        wrap(aligner._detector, "detect", "face detector")
        wrap(aligner._flow, "track", "point flow")
        if aligner._stabiliser is not None:
            wrap(aligner, "_stabiliser", "stabiliser")
        wrap(occlusion, "process", "occlusion")
        if occlusion._hands is not None:
            wrap(occlusion._hands, "find", "Hands")
        wrap(pipeline, "_push", "ring + DI builder")
        wrap(pipeline._motion, "process", "motion")
        wrap(pipeline._covers, "mask", "cover mask")
        wrap(spotter, "process", "spotter")
        wrap(spotter, "_jaw_removal", "jaw removal")
        wrap(pipeline, "_step", "events")
        wrap(run, "write", "sinks")
        stages["decoding"] = Timed(next)
        n = 0
        for step in map(pipeline.process, timed_frames(read_video(video), stages["decoding"])):
            run.write(step)
            n += 1
        run.write(pipeline.finish())
        run.close_streams()
    return stages, n


THREADS = {  # stage: (thread, the stage it is part of)
    "alignment": ("align-ahead", None), "mesh": ("align-ahead", "alignment"),
    "face detector": ("align-ahead", "alignment"), "point flow": ("align-ahead", "alignment"),
    "stabiliser": ("align-ahead", "alignment"), "occlusion": ("align-ahead", None),
    "Hands": ("align-ahead", "occlusion"), "decoding": ("frame", None), "ring + DI builder": ("frame", None),
    "motion": ("frame", None), "cover mask": ("frame", None), "spotter": ("frame", None),
    "jaw removal": ("frame", "spotter"), "events": ("frame", None), "sinks": ("frame", None)}


def print_stages(stages: dict[str, Timed], frames: int) -> None:
    """Per thread, each stage's wall / calling-thread CPU ms per frame, parts indented under their stage."""
    for thread in ("align-ahead", "frame"):
        names = [n for n in stages if THREADS[n][0] == thread]
        wall = sum(stages[n].wall for n in names if THREADS[n][1] is None)
        cpu = sum(stages[n].cpu for n in names if THREADS[n][1] is None)
        parts = [f"{'  of which ' if THREADS[n][1] else ''}{n} {1000 * stages[n].wall / frames:.2f}/"
                 f"{1000 * stages[n].cpu / frames:.2f} ({stages[n].calls} calls)" for n in names]
        print(f"{'':>16} {thread} thread {1000 * wall / frames:.2f}/{1000 * cpu / frames:.2f}: {'; '.join(parts)}")


def per_frame_ms(video: Path, *, with_video: bool, rounds: int, against: Path | None) -> dict[str, float]:
    """Median ms per frame of each way, the ways taking turns so that all see the same load."""
    times: dict[str, list[float]] = {name: [] for name in WAYS}

    def record(way: str, wall_and_cpu: tuple[float, float]) -> None:
        times[way].append(wall_and_cpu[0])
        times[f"{way} CPU"].append(wall_and_cpu[1])

    for _ in range(rounds):
        record("base", decode_ms(video, mesh=True))
        loop, command = mer_process_ms(video, with_video=with_video)
        times["mer-process"].append(loop)
        times["mer-process command"].append(command)
        if against is not None:
            times["against mer-process"].append(mer_process_ms(video, with_video=with_video, root=against)[0])
        for way, root in (("checkout", ROOT), ("against", against)) if against is not None else ():
            record(way, checkout_ms(video, root))
        record("in-process", pipeline_ms(video, threaded=True, with_video=with_video))
        times["one thread"].append(pipeline_ms(video, threaded=False, with_video=with_video)[0])
        record("decode", decode_ms(video))
        times["decode+align"].append(align_ms(video, occlusion=False))
        times["decode+align+occlusion"].append(align_ms(video, occlusion=True))
    return {name: statistics.median(values) for name, values in times.items() if values}


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
        run.close_streams()
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
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the per-frame ways, taken in turns")
    parser.add_argument("--against", type=Path, help="another checkout whose pipeline takes its turn beside this one's")
    parser.add_argument("--pipeline-only", type=Path, metavar="VIDEO", help=argparse.SUPPRESS)  # checkout_ms's child
    args = parser.parse_args()
    if args.pipeline_only is not None:
        cv2.setNumThreads(1)
        print(json.dumps(pipeline_ms(args.pipeline_only, threaded=True, with_video=False)))
        return
    cv2.setNumThreads(1)
    align = AlignConfig()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_per_frame:
            occ = OcclusionConfig()
            print(f"per frame on 640x480 video (spot-only), ms of wall time, median of {args.rounds} rounds taken in "
                  f"turns; mesh at most {align.mesh_max_hz:g} Hz (optical flow of {len(TRACKED)} rigid points between), "
                  f"rigid-skin registration at {align.stabilise_size} px on every frame; occlusion checks (appearance"
                  f"{', MediaPipe Hands' if occ.hands else ''}) at {occ.check_hz:g} Hz on the align-ahead thread; load "
                  f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
            print(f"{'video':>16} {'decode+mesh':>12} {'mer-process':>12} {'ratio':>6} {'aim':>5} {'command':>8} "
                  f"{'ratio':>6} {'in-process':>11} {'ratio':>6} | {'decode':>7} {'+align':>7}")
            for fps in FPS:
                video = test_video(Path(tmp), fps)
                ms = per_frame_ms(video, with_video=args.video, rounds=args.rounds, against=args.against)
                base = ms["base"]
                verdict = "met" if ms["mer-process"] / base <= AIMS[fps] else "MISSED"
                print(f"{video.name:>16} {base:>12.2f} {ms['mer-process']:>12.2f} {ms['mer-process'] / base:>6.2f} "
                      f"{AIMS[fps]:>5.1f} {ms['mer-process command']:>8.2f} {ms['mer-process command'] / base:>6.2f} "
                      f"{ms['in-process']:>11.2f} {ms['in-process'] / base:>6.2f} | {ms['decode']:>7.2f} "
                      f"{ms['decode+align']:>7.2f}  {verdict}")
                align, occlusion = ms["decode+align"] - ms["decode"], ms["decode+align+occlusion"] - ms["decode+align"]
                rest = ms["one thread"] - ms["decode+align+occlusion"]
                budget = AIMS[fps] * base * os.cpu_count()  # ms of CPU a frame the aim leaves
                print(f"{'':>16} in-process, threaded: {ms['in-process CPU']:.2f} ms of CPU (every thread) a frame in "
                      f"{ms['in-process']:.2f} ms of wall: {ms['in-process CPU'] / ms['in-process']:.2f} of the "
                      f"{os.cpu_count()} cores; the aim leaves {budget:.2f} ms of CPU a frame even if every core "
                      f"were kept busy")
                mesh_hz = AlignConfig().mesh_max_hz
                calls, mesh_cpu = min(1.0, mesh_hz / fps), ms["base CPU"] - ms["decode CPU"]
                print(f"{'':>16} decoding alone takes {ms['decode CPU']:.2f} ms of CPU a frame (every thread) and a "
                      f"face mesh call {mesh_cpu:.2f}: at most {mesh_hz:g} mesh calls a second ({calls:.2f} a frame) "
                      f"leave {budget - ms['decode CPU'] - calls * mesh_cpu:.2f} ms of that CPU for every other stage")
                print(f"{'':>16} per thread: alignment {align:.2f} + occlusion {occlusion:.2f} = "
                      f"{align + occlusion:.2f} ms (the align-ahead thread); decoding {ms['decode']:.2f} + the rest "
                      f"(ring, DI builder, motion, spotter, sinks) {rest:.2f} = {ms['decode'] + rest:.2f} ms (the frame "
                      f"thread; the rest: everything on one thread {ms['one thread']:.2f} less the stages alone)")
                if args.against is not None:
                    print(f"{'':>16} this checkout's pipeline {ms['checkout']:.2f} ms wall, {ms['checkout CPU']:.2f} ms "
                          f"CPU per frame; {args.against}'s {ms['against']:.2f} wall, {ms['against CPU']:.2f} CPU; "
                          f"this / that: wall {ms['checkout'] / ms['against']:.2f}, CPU "
                          f"{ms['checkout CPU'] / ms['against CPU']:.2f} (each in a fresh process, threaded); "
                          f"mer-process{' with its video' if args.video else ''}: this {ms['mer-process']:.2f}, that "
                          f"{ms['against mer-process']:.2f} ms a frame (this / that {ms['mer-process'] / ms['against mer-process']:.2f})")
                print_stages(*stage_ms(video))
            print("(mer-process: frames / wall time of its processing loop, from summary.json; command: the whole "
                  "command per frame, start-up included; in-process: the pipeline and its sinks in this process; "
                  "decode, +align: the stages alone, one thread; per stage: wall / the calling thread's CPU, ms per "
                  "frame, in one single-threaded run after the rounds)")
            print(f"where mer-process and in-process part: making the pipeline, inside mer-process's timed loop, "
                  f"takes {startup_ms():.0f} ms (per frame: that / the video's frames); the command adds Python's "
                  f"start-up and imports")
            images = [frame.image for _, frame in zip(range(150), read_video(test_video(Path(tmp), 30.0)))]
            alone, python, native = (mesh_beside_ms(images, busy) for busy in (None, "python", "native"))
            print(f"the GIL: a face mesh call takes {alone:.2f} ms alone, {python:.2f} ms while another thread runs "
                  f"Python ({python / alone:.1f}x: its graph hands results back through Python) and {native:.2f} ms "
                  f"while another thread runs native code without the GIL ({native / alone:.1f}x)")
            print(f"load at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        if not args.skip_memory:
            memory_growth(test_video(Path(tmp), 30.0), args.frames)


if __name__ == "__main__":
    main()
