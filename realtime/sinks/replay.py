"""A magnified, slowed replay of one micro-expression: what lets an analyst see a 1-3 px movement.

Linear Eulerian magnification (amplifying brightness changes) breaks down at 10-20x on motion of
1-3 px: the first-order brightness model only holds for a small fraction of a pixel, and beyond
it the amplified change is a ghost, not a movement. The replay warps instead: dense flow from
the clip's first (neutral) crop to every crop, minus a robust affine fit (what the alignment left
of head motion), minus a noise floor (so that still skin stays exactly still), is amplified and
each crop is resampled so that its content moves `gain` times as far. Left: the crops as they
were, the regions that moved outlined; right: magnified; both at `speed` of real time.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.capture.video_io import VideoWriter
from realtime.core.errors import MerError
from realtime.face.regions import region_masks

log = logging.getLogger(__name__)

REPLAY = "replay.mp4"  # in events/<event>/
OUTLINE_RGB = (255, 200, 0)
LABEL_BAND_PX = 18  # band above the two panes with their captions (the faces are never covered)


@dataclass(frozen=True)
class ReplayConfig:
    """How a replay is made; gain and noise floor checked in tests/realtime/sinks/test_replay.py."""

    gain: float = 20.0  # applied to the estimated flow, which understates 1-3 px movements: on mer-synth
    #                     the decoded replay moves ~11x the true displacement (tests/realtime/sinks/test_replay.py)
    speed: float = 0.25  # playback speed relative to real time
    noise_px: float = 0.3  # flow around this (crop px) is sensor noise: gated out (below half of it: none kept),
    #                        so still skin stays still; from 1.5x it up the motion is kept whole
    smooth_px: float = 2.0  # Gaussian sigma on the flow (crop px): the warp stays smooth, no tearing
    flow_scale: float = 0.5  # flow runs at half the crop's side: 4x cheaper, 1-3 px still 0.5-1.5 px there
    flow_hz: float = 50.0  # flow measured at this rate at most, interpolated in time between
    fit_step_px: int = 8  # grid step of the samples the affine (head residual) fit uses
    fit_iterations: int = 3  # IRLS passes of that fit (Tukey bisquare)
    outline_px: float = 2.0  # a region is outlined when its mean magnified motion peaks above this
    outline_share: float = 0.5  # and at least at this share of the region that moved most
    crf: int = 23  # ~50 KB per replay: an hour with 120 events stays well within a 20 MB report


def _affine_residual(flow: np.ndarray, config: ReplayConfig) -> np.ndarray:
    """Flow minus a robust affine fit over a sparse grid: head and alignment motion removed."""
    h, w = flow.shape[:2]
    step = config.fit_step_px
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    design = np.column_stack([xs.ravel() / w - 0.5, ys.ravel() / h - 0.5, np.ones(xs.size)])  # (N, 3)
    samples = flow[ys, xs].reshape(-1, 2).astype(np.float64)  # (N, 2)
    weights = np.ones(len(samples))
    for _ in range(config.fit_iterations):
        coef = np.linalg.lstsq(design * weights[:, None], samples * weights[:, None], rcond=None)[0]  # (3, 2)
        r = np.linalg.norm(samples - design @ coef, axis=1)
        z = np.minimum(r / (4.0 * 1.4826 * np.median(r) + 1e-6), 1.0)
        weights = (1 - z**2) ** 2 + 1e-6
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    fitted = (np.dstack([gx / w - 0.5, gy / h - 0.5, np.ones_like(gx)]) @ coef.astype(np.float32))
    return flow - fitted


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow a -> b, (S, S, 2) float32 px. Farneback with a small window: on mer-synth
    micro-expressions it recovers ~95 % of the true 1-3 px displacement (per pixel, median),
    DIS (medium, variational refinement) ~83 %, which the gain would then understate."""
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 7, 5, 5, 1.1, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)


def _motion(reference: np.ndarray, crop: np.ndarray, config: ReplayConfig) -> np.ndarray:
    """Facial motion reference -> crop, (S, S, 2) float32 crop px: flow at `flow_scale`, minus
    the affine fit, smoothed, minus the noise floor, brought back to full resolution."""
    size = crop.shape[1], crop.shape[0]
    small = (round(size[0] * config.flow_scale), round(size[1] * config.flow_scale))
    a, b = (cv2.resize(x, small, interpolation=cv2.INTER_AREA) for x in (reference, crop))
    flow = cv2.GaussianBlur(_affine_residual(_flow(a, b), config), (0, 0), config.smooth_px * config.flow_scale)
    flow = cv2.resize(flow, size, interpolation=cv2.INTER_LINEAR) / config.flow_scale
    magnitude = np.linalg.norm(flow, axis=2)
    gate = np.clip((magnitude - 0.5 * config.noise_px) / config.noise_px, 0.0, 1.0)  # 0 below noise/2, 1 above 1.5 noise
    return flow * (gate * gate * (3 - 2 * gate))[:, :, None]  # smoothstep: real motion keeps its size, no seam


def magnify(clip: np.ndarray, fps: float, config: ReplayConfig = ReplayConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(T, S, S) grey uint8 crops -> ((T, S, S) magnified crops, (T, S, S) magnified motion in px).

    Frame t's content at x moved by f(x) from frame 0; the output shows it moved by gain*f:
    out_t(y) = crop_t(y - (gain - 1) f(y)). f is measured at `flow_hz` at most (a 200 fps clip
    costs what a 50 fps one does) and interpolated in time between.
    """
    clip = np.asarray(clip, np.uint8)
    t_count, h, w = clip.shape
    stride = max(1, int(round(fps / config.flow_hz)))
    keys = sorted({*range(0, t_count, stride), t_count - 1})
    motion = {k: _motion(clip[0], clip[k], config) if k else np.zeros((h, w, 2), np.float32) for k in keys}
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty_like(clip)
    moved = np.zeros(clip.shape, np.float32)
    for t in range(t_count):
        before = max(k for k in keys if k <= t)
        after = min(k for k in keys if k >= t)
        share = (t - before) / (after - before) if after > before else 0.0
        flow = (1 - share) * motion[before] + share * motion[after]
        extra = (config.gain - 1.0) * flow
        out[t] = cv2.remap(clip[t], gx - extra[:, :, 0], gy - extra[:, :, 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        moved[t] = config.gain * np.linalg.norm(flow, axis=2)
    return out, moved


def moved_regions(moved: np.ndarray, config: ReplayConfig = ReplayConfig()) -> dict[str, np.ndarray]:
    """The facial regions that moved (mean magnified motion above `outline_px` and near the
    largest region's), with their masks: the few an analyst should look at, not every one."""
    peak = moved.max(axis=0)
    means = {name: float(peak[mask].mean()) for name, mask in region_masks(moved.shape[1]).items()}
    floor = max(config.outline_px, config.outline_share * max(means.values(), default=0.0))
    return {name: mask for name, mask in region_masks(moved.shape[1]).items() if means[name] > floor}


def replay_frames(clip: np.ndarray, fps: float, config: ReplayConfig = ReplayConfig()) -> np.ndarray:
    """(T, S, S) grey crops -> (T, LABEL_BAND_PX + S, 2 S, 3) RGB frames: original | magnified."""
    magnified, moved = magnify(clip, fps, config)
    regions = moved_regions(moved, config)
    contours = [c for mask in regions.values()
                for c in cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]]
    t, s = clip.shape[:2]
    frames = np.zeros((t, LABEL_BAND_PX + s, 2 * s, 3), np.uint8)
    for i in range(t):
        for pane, image in enumerate((clip[i], magnified[i])):
            rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
            if pane == 0:  # the magnified pane stays clean: an outline there would hide the movement
                cv2.drawContours(rgb, contours, -1, OUTLINE_RGB, 1, cv2.LINE_AA)
            frames[i, LABEL_BAND_PX:, pane * s:(pane + 1) * s] = rgb
        for pane, text in enumerate(("as recorded", f"motion x{config.gain:g}")):
            cv2.putText(frames[i], text, (pane * s + 4, LABEL_BAND_PX - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (230, 230, 230), 1, cv2.LINE_AA)
    return frames


def write_replay(path: Path, clip: np.ndarray, fps: float, config: ReplayConfig = ReplayConfig()) -> Path:
    """Write the side-by-side replay of `clip` (grey crops at `fps`) as H.264 at `speed` x fps."""
    with VideoWriter(path, max(fps * config.speed, 1.0), crf=config.crf, preset="veryfast") as writer:
        for frame in replay_frames(clip, fps, config):
            writer.write(frame)
    return path


class ReplayWriter:
    """Writes replays on a thread of its own: an event's replay (0.4-0.9 s of CPU, bench/bench_replay.py)
    must not stall the frame thread. `close` waits for every replay asked for."""

    def __init__(self, config: ReplayConfig = ReplayConfig()) -> None:
        self.config = config
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replays")
        self._pending: list[tuple[Path, Future]] = []

    def submit(self, path: Path, clip: np.ndarray, fps: float) -> None:
        self._pending.append((path, self._pool.submit(write_replay, path, clip, fps, self.config)))

    def close(self) -> None:
        for path, future in self._pending:
            try:
                future.result()
            except (MerError, OSError, ValueError, cv2.error) as exc:  # a missing replay must not lose the results
                log.error("%s: replay not written (%s)", path, exc)
        self._pending.clear()
        self._pool.shutdown()
