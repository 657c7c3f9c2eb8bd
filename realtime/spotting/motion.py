"""Facial motion from the aligned grey face, the spotter's only input.

Dense optical flow between aligned crops, computed at about 50 Hz whatever the camera rate: a
200 fps stream costs no more than a 50 fps one, and 20 ms steps still resolve the shortest
micro-expression (40 ms). The flow is pooled in small cells inside the face outline; what the
alignment left of head motion (and its jitter) is close to an affine map of the crop, so a
robust affine fit over the cells is removed and the residual is the facial movement. Residuals
are in aligned-crop pixels, i.e. in units of the canonical face, so that amplitudes mean the
same for every camera, distance and flow resolution.

The flow is a dense Lucas-Kanade estimate (one linearised step over a 9 px window at 96 px),
not OpenCV's DIS. At 50 Hz a micro-expression moves the skin by a few hundredths of a pixel per
step, which DIS's patch search (fast preset) mostly loses: on `mer-synth video` interviews the
micro-expressions' peak spotting score was 18-20 noise units (median) with this flow, 7 with DIS
fast and 14-16 with DIS medium, for spotting F1 0.90-0.95, 0.60-0.63 and 0.93-0.95, with this
flow the cheapest per step (bench/bench_spotter.py). One linear step underestimates steps above ~1 px (blinks,
speech, a hand): only movements that are rejected anyway, by their amplitude or shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from realtime.core.errors import InputError
from realtime.face.regions import face_mask, region_masks

EYE_REGIONS = ("eye_left", "eye_right")


@dataclass(frozen=True)
class MotionConfig:
    """How facial motion is measured; every default is measured in bench/bench_spotter.py."""

    sample_hz: float = 50.0  # flow rate: 20 ms steps resolve a 40 ms movement; faster cameras are subsampled
    flow_size: int = 96  # crop side the flow runs on (area-averaged: sensor noise drops, AU-scale motion stays)
    blur_px: float = 1.0  # Gaussian sigma before the gradients, at flow_size: keeps the linearisation valid to ~1 px
    window_px: int = 9  # Lucas-Kanade window side, at flow_size (~21 px of the 224 crop)
    ridge: float = 0.5  # added to the window's gradient energy: textureless windows report ~0, not noise
    cells: int = 12  # cells per side (8 px at 96): small enough for one action unit, big enough to average
    min_face_fraction: float = 0.7  # a cell counts when this share of it lies inside the face outline
    eye_fraction: float = 0.25  # a cell is an eye cell when this share of it lies on an eye (blinks)
    fit_iterations: int = 4  # IRLS passes of the robust affine fit (converges in 3-4)
    fit_tukey: float = 4.0  # residuals beyond this many robust spreads get no weight in the fit

    def __post_init__(self) -> None:
        if self.flow_size % self.cells:
            raise InputError(f"MotionConfig: flow_size={self.flow_size} is not a multiple of cells={self.cells}")
        if self.sample_hz <= 0:
            raise InputError(f"MotionConfig.sample_hz={self.sample_hz}: must be positive")


@dataclass(frozen=True)
class CellGrid:
    """The cells motion is pooled in, in the canonical aligned crop."""

    crop_size: int  # side of the aligned crop, px
    centres: np.ndarray  # (C, 2) float32 x, y in crop px
    regions: tuple[str, ...]  # facial region of each cell ("" when it belongs to none)
    eye: np.ndarray  # (C,) bool: cells on (or largely on) the eyes, where blinks move
    blocks: np.ndarray  # (C,) int: flat index of each cell in the cells x cells grid

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(sorted({r for r in self.regions if r}))

    @classmethod
    def build(cls, crop_size: int, config: MotionConfig) -> CellGrid:
        n = config.cells

        def coverage(mask: np.ndarray) -> np.ndarray:  # (n, n) share of each cell inside mask
            return cv2.resize(mask.astype(np.float32), (n, n), interpolation=cv2.INTER_AREA)

        inside = coverage(face_mask(crop_size)).ravel() >= config.min_face_fraction
        names = sorted(region_masks(crop_size))
        shares = np.stack([coverage(region_masks(crop_size)[name]).ravel() for name in names])  # (R, n*n)
        blocks = np.flatnonzero(inside)
        if blocks.size < 8:
            raise InputError(f"face_mask({crop_size}) covers only {blocks.size} motion cells; need >= 8")
        best = shares[:, blocks].argmax(axis=0)
        regions = tuple(names[b] if shares[b, c] > 0 else "" for b, c in zip(best, blocks))
        step = crop_size / n
        centres = np.stack([(blocks % n + 0.5) * step, (blocks // n + 0.5) * step], axis=1).astype(np.float32)
        on_eyes = sum(shares[names.index(name)] for name in EYE_REGIONS)[blocks]
        eye = on_eyes >= config.eye_fraction
        return cls(crop_size=crop_size, centres=centres, regions=regions, eye=eye, blocks=blocks)


def affine_design(centres: np.ndarray, crop_size: int) -> np.ndarray:
    """(C, 3) float64 [x, y, 1] of cell centres (C, 2) crop px, scaled to [-1, 1] for conditioning."""
    xy = (centres - crop_size / 2) / (crop_size / 2)
    return np.column_stack([xy, np.ones(len(xy))]).astype(np.float64)


def robust_affine_fit(u: np.ndarray, design: np.ndarray, iterations: int, tukey: float) -> np.ndarray:
    """(C, 2) the affine motion that most cells share, fitted to their motion `u` (C, 2) by iteratively
    reweighted least squares: cells beyond `tukey` robust spreads (an expression's) get no weight."""
    weights = np.ones(len(u))
    for _ in range(iterations):
        aw = design.T * weights  # (3, C)
        _, coef = cv2.solve(aw @ design, aw @ u, flags=cv2.DECOMP_CHOLESKY)  # (3, 2) weighted least squares;
        #                     OpenCV's, not LAPACK's: OpenBLAS threads cost 100x its time on a busy machine
        r = row_norms(u - design @ coef)
        spread = 1.4826 * median(r) + 1e-6
        z = np.minimum(r / (tukey * spread), 1.0)
        weights = (1 - z**2) ** 2 + 1e-6  # Tukey bisquare: local expression cells drop out
    return design @ coef


def row_norms(v: np.ndarray) -> np.ndarray:
    """(N,) Euclidean norms of the rows of (N, 2) `v`: np.linalg.norm(v, axis=1) to the bit (the same
    squares, summed in the same order), without its generic path (a third of the fit's time)."""
    squares = v * v
    return np.sqrt(squares[:, 0] + squares[:, 1])


def median(values: np.ndarray) -> float:
    """np.median of a 1-D array, to the bit (NaN if any value is, as numpy's), without its generic path."""
    n = len(values)
    middle = (n // 2,) if n % 2 else (n // 2 - 1, n // 2)
    part = np.partition(values, (*middle, n - 1))  # the last place holds the largest value, or a NaN
    if np.isnan(part[-1]):
        return float("nan")
    return float(part[middle[0]]) if n % 2 else float((part[middle[0]] + part[middle[1]]) / 2)


@dataclass(frozen=True)
class FrameMotion:
    """Motion at one frame. Flow runs only on sampled frames; the others carry `cells=None`."""

    index: int  # frame index in the source
    t_s: float  # frame time, seconds
    found: bool  # a face was tracked on this frame
    confidence: float  # the aligner's confidence, 0..1
    sampled: bool  # flow was computed at this frame (from the previous sampled frame)
    cells: np.ndarray | None  # (C, 2) float32 residual displacement since the last sample, crop px
    head: float  # mean displacement of the removed affine (head, alignment) motion, crop px
    regions: Mapping[str, float]  # residual speed per facial region, crop px/s (held between samples)


class FacialMotion:
    """Stage: aligned grey crops in, per-frame residual facial motion out."""

    def __init__(self, config: MotionConfig = MotionConfig(), *, crop_size: int = 224) -> None:
        self.config = config
        self.grid = CellGrid.build(crop_size, config)
        scale = crop_size / config.flow_size
        self._design = affine_design(self.grid.centres, crop_size)
        self._scale = scale
        members = np.array([[r == name for r in self.grid.regions] for name in self.grid.region_names], np.float64)
        self._region_mean = members / members.sum(axis=1, keepdims=True)  # (R, C): cell values -> region means
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (a new stream, or after a cut)."""
        self._prev: np.ndarray | None = None  # (f, f) float32, blurred, at the last sample
        self._prev_t = 0.0
        self._last_t: float | None = None
        self._regions: Mapping[str, float] = {name: 0.0 for name in self.grid.region_names}

    def process(self, crop: np.ndarray | None, *, t_s: float, index: int, found: bool = True,
                confidence: float = 1.0) -> FrameMotion:
        """Motion at one frame; `crop` is the (S, S) grey uint8 aligned face, None when lost.

        A frame without a face breaks the flow chain: the next face starts a fresh reference,
        so that no flow is ever computed across a gap.
        """
        frame_dt = 0.0 if self._last_t is None else t_s - self._last_t
        self._last_t = t_s
        if crop is None or not found:
            self._prev = None
            return self._frame(index, t_s, found=False, confidence=confidence)
        if crop.shape != (self.grid.crop_size, self.grid.crop_size) or crop.dtype != np.uint8:
            raise InputError(f"frame {index}: motion needs a ({self.grid.crop_size}, {self.grid.crop_size}) "
                             f"grey uint8 crop, got {crop.shape} {crop.dtype}")
        # Sample when the next frame would be further from the 1/sample_hz step than this one.
        if self._prev is not None and t_s - self._prev_t + frame_dt / 2 < 1.0 / self.config.sample_hz:
            return self._frame(index, t_s, found=True, confidence=confidence)
        small = cv2.resize(crop, (self.config.flow_size,) * 2, interpolation=cv2.INTER_AREA).astype(np.float32)
        small = cv2.GaussianBlur(small, (0, 0), self.config.blur_px)  # (f, f) float32
        if self._prev is None:
            self._prev, self._prev_t = small, t_s
            return self._frame(index, t_s, found=True, confidence=confidence)
        flow = self._flow(self._prev, small)  # (f, f, 2) float32, flow px
        dt = t_s - self._prev_t
        self._prev, self._prev_t = small, t_s
        cells, head = self._residual(flow)
        speed = self._region_mean @ row_norms(cells) / max(dt, 1e-6)  # (R,) crop px/s
        self._regions = dict(zip(self.grid.region_names, speed.tolist()))
        return FrameMotion(index=index, t_s=t_s, found=True, confidence=confidence, sampled=True,
                           cells=cells, head=head, regions=self._regions)

    def _frame(self, index: int, t_s: float, *, found: bool, confidence: float) -> FrameMotion:
        return FrameMotion(index=index, t_s=t_s, found=found, confidence=confidence, sampled=False,
                           cells=None, head=0.0, regions=self._regions)

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Dense one-step Lucas-Kanade flow a -> b, (f, f, 2) float32 in flow px.

        Gradients of the mean image (symmetric in a and b, so no bias towards either frame),
        then the 2x2 normal equations summed over a square window at every pixel.
        """
        mean = a + b
        mean *= 0.5
        gx = cv2.Sobel(mean, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
        gy = cv2.Sobel(mean, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
        gt = b - a
        win = (self.config.window_px, self.config.window_px)
        sxx, sxy, syy, sxt, syt = (cv2.boxFilter(v, -1, win, normalize=True)
                                   for v in (gx * gx, gx * gy, gy * gy, gx * gt, gy * gt))
        sxx += self.config.ridge
        syy += self.config.ridge
        det = sxx * syy - sxy * sxy
        flow = np.empty(a.shape + (2,), np.float32)
        np.divide(sxy * syt - syy * sxt, det, out=flow[..., 0])
        np.divide(sxy * sxt - sxx * syt, det, out=flow[..., 1])
        return flow

    def _residual(self, flow: np.ndarray) -> tuple[np.ndarray, float]:
        """Cell means of the flow minus a robust affine fit -> ((C, 2) crop px, head motion px)."""
        n = self.config.cells
        pooled = cv2.resize(flow, (n, n), interpolation=cv2.INTER_AREA).reshape(n * n, 2)  # (n*n, 2) cell means
        u = pooled[self.grid.blocks].astype(np.float64) * self._scale  # (C, 2) crop px
        fitted = robust_affine_fit(u, self._design, self.config.fit_iterations, self.config.fit_tukey)
        return (u - fitted).astype(np.float32), float(row_norms(fitted).mean())
