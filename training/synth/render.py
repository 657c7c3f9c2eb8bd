"""Rendering a synthetic subject's frames: smooth warps, head pose, light and sensor noise.

Every frame is one `cv2.remap` of the subject's neutral image (`Scene`). Facial movements are
forward displacement fields (`Warp`: content at p moves to p + field(p)) built from Gaussian
radial basis functions around landmarks; the sampling map is their exact inverse, found by
fixed-point iteration, so content moves by the requested sub-pixel amount (to 1/64 px, the
precision of OpenCV's maps here) and a movement is the same whatever the frame rate. Head pose
is a similarity transform composed into the same map, so a frame is interpolated once (see
`FaceRenderer` for how). Movements that are not warps (a blink's lid covering the eye) change
the same map through the `Deformation` protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import cv2
import numpy as np

from realtime.core.errors import InputError

FACE_WIDTH_POINTS = (234, 454)
"""MediaPipe mesh points at the two sides of the face (cheeks at ear level): the face width that
amplitudes are quoted against ("1-3 px at a 250 px face")."""

REFERENCE_FACE_WIDTH = 250.0
"""Face width, in px, at which amplitudes are quoted."""

_INVERSE_TOLERANCE_PX = 0.005  # fixed-point iteration stops when no point moves more than this
_INVERSE_MAX_STEPS = 10  # each step shrinks the error by max|grad field|: < 0.25 for micro-, < 0.5 for macro-
#                          expressions, so 3-4 steps for a 3 px movement, about 8 for 12 px
_NEGLIGIBLE_PX = 1e-3  # a warp moving nothing by more than this is skipped
_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
_TO_DOUBLED = np.array([[2.0, 0.0, 0.5], [0.0, 2.0, 0.5]])  # scene px -> px of its 2x up-sampling (pixel centres)


@dataclass(frozen=True)
class Scene:
    """One synthetic subject's neutral frame, which every rendered frame warps."""

    image: np.ndarray  # (H, W, 3) RGB uint8
    landmarks: np.ndarray  # (468, 2) float32 px, MediaPipe face mesh on `image`
    name: str  # source photo and identity, for logs and manifests

    @property
    def face_width(self) -> float:
        a, b = FACE_WIDTH_POINTS
        return float(np.linalg.norm(self.landmarks[a] - self.landmarks[b]))

    @property
    def face_center(self) -> np.ndarray:
        return self.landmarks.mean(axis=0)  # (2,) float32 px

    def px(self, amplitude: float) -> float:
        """An amplitude quoted at a 250 px face, in this scene's pixels."""
        return amplitude * self.face_width / REFERENCE_FACE_WIDTH


class Deformation(Protocol):
    """A movement of the face that the renderer applies at a strength (0 = neutral, 1 = apex)."""

    def resample(self, maps: np.ndarray, strength: float, pose: np.ndarray | None) -> None:
        """Change `maps` ((H, W, 2) float32: the scene point each frame pixel shows; `pose` (2, 3)
        maps scene to frame px) so that the frame shows the face deformed at `strength`."""


@dataclass(frozen=True)
class Warp:
    """A smooth forward displacement field on a window of an image (zero outside it)."""

    x0: int  # window's left column in image px
    y0: int  # window's top row in image px
    field: np.ndarray  # (h, w, 2) float32 px: content at (x0 + j, y0 + i) moves by field[i, j]

    def corners(self) -> np.ndarray:
        """(4, 2) float64 corners of the window, in image px."""
        h, w = self.field.shape[:2]
        return np.array([[self.x0, self.y0], [self.x0 + w, self.y0], [self.x0, self.y0 + h],
                         [self.x0 + w, self.y0 + h]], np.float64)

    @cached_property
    def reach(self) -> float:
        """The largest movement in px (how far content can leave the window)."""
        return float(np.sqrt((self.field ** 2).sum(axis=2)).max())

    def resample(self, maps: np.ndarray, strength: float, pose: np.ndarray | None) -> None:
        if abs(strength) * self.reach < _NEGLIGIBLE_PX:
            return
        h, w = maps.shape[:2]
        invert_into(maps, self, strength, box=frame_box(self.corners(), strength * self.reach, pose, (w, h)))

    def scaled(self, factor: float) -> Warp:
        return Warp(self.x0, self.y0, self.field * np.float32(factor))

    def __add__(self, other: Warp) -> Warp:
        x0, y0 = min(self.x0, other.x0), min(self.y0, other.y0)
        x1 = max(self.x0 + self.field.shape[1], other.x0 + other.field.shape[1])
        y1 = max(self.y0 + self.field.shape[0], other.y0 + other.field.shape[0])
        field = np.zeros((y1 - y0, x1 - x0, 2), np.float32)
        for w in (self, other):
            h, wd = w.field.shape[:2]
            field[w.y0 - y0:w.y0 - y0 + h, w.x0 - x0:w.x0 - x0 + wd] += w.field
        return Warp(x0, y0, field)


def rbf_displacement(points: np.ndarray, vectors: np.ndarray, sigma: float, query: np.ndarray) -> np.ndarray:
    """Displacement at `query` (m, 2) from control `points` (n, 2) moving by `vectors` (n, 2).

    sum_i v_i g_i / max(1, sum_i g_i) with Gaussian g_i of radius `sigma`: inside a group of
    points it is their weighted mean movement, away from them it fades like a Gaussian, so
    neighbouring points of one AU do not add up into a bigger movement.
    """
    d2 = ((query[:, None, :] - points[None, :, :]) ** 2).sum(-1)  # (m, n)
    g = np.exp(-d2 / (2.0 * sigma * sigma))
    return (g @ vectors) / np.maximum(1.0, g.sum(1, keepdims=True))  # (m, 2)


def rbf_warp(points: np.ndarray, vectors: np.ndarray, *, sigma: float, shape: tuple[int, int]) -> Warp:
    """`rbf_displacement` sampled on the window of an (H, W) image where it is non-negligible."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    vectors = np.asarray(vectors, np.float64).reshape(-1, 2)
    reach = 3.5 * sigma  # exp(-3.5^2 / 2) = 0.2 %: beyond this the field is below 0.01 px
    x0 = int(max(0, np.floor(points[:, 0].min() - reach)))
    y0 = int(max(0, np.floor(points[:, 1].min() - reach)))
    x1 = int(min(shape[1], np.ceil(points[:, 0].max() + reach) + 1))
    y1 = int(min(shape[0], np.ceil(points[:, 1].max() + reach) + 1))
    if x1 <= x0 or y1 <= y0:
        raise InputError(f"movement points lie outside the {shape[1]}x{shape[0]} image")
    ys, xs = np.mgrid[y0:y1, x0:x1]
    query = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    field = rbf_displacement(points, vectors, sigma, query).reshape(y1 - y0, x1 - x0, 2)
    return Warp(x0, y0, field.astype(np.float32))


def pinned(warp: Warp, points: np.ndarray, radius: float) -> Warp:
    """`warp` held still at `points` (n, 2): multiplied by prod_i (1 - exp(-|x - p_i|^2 / (2 r^2)))."""
    h, w = warp.field.shape[:2]
    ys, xs = np.mgrid[warp.y0:warp.y0 + h, warp.x0:warp.x0 + w].astype(np.float32)
    keep = np.ones((h, w), np.float32)
    for px, py in np.asarray(points, np.float32).reshape(-1, 2):
        keep *= 1.0 - np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2.0 * radius * radius))
    return Warp(warp.x0, warp.y0, warp.field * keep[:, :, None])


def invert_into(maps: np.ndarray, warp: Warp, weight: float, *, box: tuple[int, int, int, int]) -> None:
    """Make `maps` sample through the inverse of `weight * warp`, inside `box` (x0, y0, x1, y1) only.

    `maps` (H, W, 2) float32 holds, for every output pixel, the source point y in warp
    coordinates; the content that lands on y came from z with z + weight * field(z) = y, found
    by z <- y - weight * field(z) (a contraction, since the fields are smooth).
    """
    fx0, fy0, fx1, fy1 = box
    if fx1 <= fx0 or fy1 <= fy0:
        return
    target = maps[fy0:fy1, fx0:fx1]  # (h, w, 2) view
    origin = np.array([warp.x0, warp.y0], np.float32)
    y = target - origin
    z = y.copy()
    for _ in range(_INVERSE_MAX_STEPS):
        d = cv2.remap(warp.field, z, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        step = y - np.float32(weight) * d - z
        z += step
        if float(np.abs(step).max()) < _INVERSE_TOLERANCE_PX:
            break
    target[:] = z + origin


def pose_matrix(center: np.ndarray, *, tx: float = 0.0, ty: float = 0.0, roll_deg: float = 0.0,
                scale: float = 1.0) -> np.ndarray:
    """(2, 3) float64 similarity: rotate by `roll_deg` and scale about `center`, then translate."""
    m = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), float(roll_deg), float(scale))
    m[:, 2] += (tx, ty)
    return m


@dataclass(frozen=True)
class Light:
    """Illumination of one frame: a global gain and a linear left-right / top-bottom gradient."""

    gain: float = 1.0  # multiplies every pixel
    slope_x: float = 0.0  # relative brightness change across the frame width
    slope_y: float = 0.0  # relative brightness change down the frame height


class FaceRenderer:
    """Renders frames of one scene from a pose, the active warps, the light and sensor noise.

    Sampling is bilinear from a bilinear 2x up-sampling of the scene, made once. Bilinear
    interpolation reproduces linear ramps, so content moves by exactly the requested sub-pixel
    amount (OpenCV's bicubic, a = -0.75, does not: it misplaces content by up to 0.05 px
    depending on the sub-pixel phase, as much as a 200 fps micro-expression moves per frame).
    Its blur does depend on the phase, which head drift turns into fake motion; sampling the 2x
    image halves that (measured 0.2-0.45 grey levels rms on a textured face against 0.8-1.8 for
    plain bilinear), and OpenCV's 1/32 px map precision becomes 1/64 px of the frame.

    Sensor noise is luminance noise (the same on the three channels): what survives
    demosaicing and the 4:2:0 chroma subsampling of every video codec, and what the grey DIs
    see. It comes from OpenCV's generator (several times faster than numpy's), seeded from
    `rng` and the frame count, so frames are deterministic per seed.
    """

    def __init__(self, scene: Scene, *, noise_sigma: float, rng: np.random.Generator) -> None:
        if noise_sigma < 0:
            raise InputError(f"noise sigma must be >= 0, got {noise_sigma}")
        self.scene = scene
        self.noise_sigma = float(noise_sigma)
        self._seed = int(rng.integers(2**31))
        h, w = scene.image.shape[:2]
        self._source = cv2.resize(scene.image, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)  # (2H, 2W, 3)
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        self._grid = np.dstack([xs, ys])  # (H, W, 2) float32 pixel coordinates
        self._ramp_x = (xs - w / 2) / w  # (H, W) float32, -0.5..0.5
        self._ramp_y = (ys - h / 2) / h
        self._noise = np.empty((h, w), np.float32)
        self._frames = 0

    def __call__(self, *, pose: np.ndarray | None = None, warps: Sequence[tuple[float, Deformation]] = (),
                 light: Light = Light()) -> np.ndarray:
        """One (H, W, 3) RGB uint8 frame. `pose` (2, 3) maps scene px to frame px; `warps` are
        (strength, deformation) pairs."""
        h, w = self._grid.shape[:2]
        inverse = _IDENTITY if pose is None else cv2.invertAffineTransform(np.asarray(pose, np.float64))
        maps = cv2.transform(self._grid, inverse)  # (H, W, 2) scene coordinates of each pixel
        for strength, deformation in warps:
            deformation.resample(maps, strength, pose)
        maps = cv2.transform(maps, _TO_DOUBLED)
        frame = cv2.remap(self._source, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        gain = cv2.addWeighted(self._ramp_x, light.gain * light.slope_x, self._ramp_y, light.gain * light.slope_y,
                               light.gain)  # (H, W) float32
        lit = cv2.multiply(frame, cv2.merge([gain, gain, gain]), dtype=cv2.CV_32F)  # (H, W, 3) float32
        cv2.setRNGSeed(self._seed + self._frames)
        self._frames += 1
        cv2.randn(self._noise, 0.0, self.noise_sigma)
        return cv2.add(lit, cv2.merge([self._noise] * 3), dtype=cv2.CV_8U)  # rounds and saturates


def frame_box(corners: np.ndarray, margin: float, pose: np.ndarray | None,
              size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Frame pixels (x0, y0, x1, y1) covering scene `corners` (4, 2) through `pose`, widened by `margin`."""
    if pose is not None:
        corners = corners @ np.asarray(pose)[:, :2].T + np.asarray(pose)[:, 2]
    margin = abs(margin) + 2
    x0 = int(max(0, np.floor(corners[:, 0].min() - margin)))
    y0 = int(max(0, np.floor(corners[:, 1].min() - margin)))
    x1 = int(min(size[0], np.ceil(corners[:, 0].max() + margin)))
    y1 = int(min(size[1], np.ceil(corners[:, 1].max() + margin)))
    return x0, y0, max(x0, x1), max(y0, y1)
