"""Fine rigid alignment: the face's rigid patches registered onto the previous frame's.

The landmark similarity of `realtime.alignment` follows head motion at once but carries
MediaPipe's errors: ~0.1-0.3 crop px of jitter from frame to frame, and a lag of ~2 crop px
for the first 2-3 frames of a head movement. Both show as motion of the whole crop, which a
dynamic image takes for facial motion. `RigidStabiliser` removes them from the pixels.

Each frame it registers the aligned grey face, at a reduced size, onto the previous frame's
aligned face with a similarity (shift, scale, roll) plus a brightness gain and offset
(Lucas-Kanade, inverse compositional, Huber-weighted), using only skin that expressions barely
move: the nose bridge and the inner eye corners (held by bone and the medial canthal
tendons), and the forehead at a low weight (it follows AU1/AU2, but steadies roll and scale,
which a patch between the eyes alone measures poorly). The registration yields a small
correction on top of the landmark transform. Because the reference is the previous frame,
the correction is measured frame to frame; to keep it from wandering it is pulled back
towards the landmark pose with a time constant of `pull_s` seconds, and it is bounded (never
more than `max_shift` of the crop side), so that the landmarks keep the face in place in the
long run while the pixels decide from frame to frame.

What it cannot take: motion of the patches themselves. Their robust weights, the bound and
the pull keep an expression from dragging the crop: the synthetic brow raise, nose wrinkle
and smile keep their dynamic-image energy within a few per cent (tests/realtime/test_alignment.py).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from realtime.errors import InputError
from realtime.face_regions import CANONICAL_LANDMARKS

RIGID_PATCHES: tuple[tuple[tuple[int, ...], float, float], ...] = (
    ((8, 168, 6), 0.02, 1.0),  # nose bridge between the eyes, widened by 0.02 crop sides
    ((10, 338, 297, 332, 337, 151, 108, 103, 67, 109), 0.0, 0.5),  # upper forehead, away from the brows
)
"""(mesh points, widening in crop sides, weight) of the skin registered: the convex hull of the points."""
BLUR_PX = 1.0  # Gaussian sigma at the registration size: keeps the linearisation valid over ~1 px
HUBER = 2.0  # residuals beyond this many robust spreads get proportionally less weight (speech, blinks)
MAX_SCALE = 0.02  # bound of the scale correction (relative): landmark scale errors are well under 1 %
MAX_ROLL_DEG = 1.5  # bound of the roll correction
CONVERGED_PX = 0.005  # stop iterating when an update moves the patch by less than this (registration px)
FAILED_FACTOR = 2.0  # a registration wanting more than this many times a bound is a failure (occlusion)


class RigidStabiliser:
    """Refines a stream of landmark transforms by registering rigid facial skin frame to frame.

    `crop_size`: side of the aligned crop the transforms map to; `size`: side the registration
    runs at; `pull_s`: time constant (s) of the pull back to the landmark pose; `max_shift`:
    bound of the correction at the patches, in crop sides; `iterations`: most Gauss-Newton steps.
    """

    def __init__(self, *, crop_size: int, size: int = 112, pull_s: float = 1.0, reference_s: float = 0.3,
                 max_shift: float = 0.015, iterations: int = 4) -> None:
        if not 16 <= size <= crop_size:
            raise InputError(f"stabiliser size must lie in [16, crop size {crop_size}] px, got {size}")
        if not pull_s > 0 or not max_shift > 0 or iterations < 1:
            raise InputError(f"stabiliser needs pull_s > 0, max_shift > 0, iterations >= 1; got "
                             f"{pull_s}, {max_shift}, {iterations}")
        self._scale = size / crop_size  # registration px per crop px
        self._pull_s = pull_s
        self._reference_s = reference_s
        self._max_shift = max_shift * size  # registration px
        self._iterations = iterations
        weights = _patch_weights(size)  # (size, size) float32
        ys, xs = np.nonzero(weights)
        margin = 2  # px around the weighted pixels: their gradients need neighbours
        x0, y0 = max(int(xs.min()) - margin, 0), max(int(ys.min()) - margin, 0)
        x1, y1 = min(int(xs.max()) + margin + 1, size), min(int(ys.max()) + margin + 1, size)
        self._box = (x0, y0, x1 - x0, y1 - y0)  # x, y, width, height in registration px
        box_weights = weights[y0:y1, x0:x1]
        self._pixels = np.flatnonzero(box_weights)  # (N,) flat indices of the weighted pixels in the box
        self._weights = box_weights.ravel()[self._pixels]  # (N,) float32
        self._centre = np.array([(x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2])  # registration px
        by, bx = np.divmod(self._pixels, x1 - x0)
        self._dx = (bx + x0 - self._centre[0]).astype(np.float32)  # (N,) registration px from the centre
        self._dy = (by + y0 - self._centre[1]).astype(np.float32)
        self._reach = float(np.hypot(self._dx, self._dy).max())  # a unit scale or roll step moves pixels this far
        self.reset()

    def reset(self) -> None:
        """Forget the reference (a new face, or the same one re-acquired)."""
        self._reference: np.ndarray | None = None  # (h, w) float32 previous frame's box
        self._correction = np.eye(3)  # registration px -> registration px, on top of the landmark pose

    def __call__(self, image: np.ndarray, transform: np.ndarray, dt: float) -> np.ndarray:
        """The (2, 3) image -> crop `transform` of an (H, W) grey or (H, W, 3) RGB uint8 frame, refined.

        `dt`: seconds since the previous frame (paces the pull back to the landmark pose).
        """
        coarse = np.vstack([transform * self._scale, (0.0, 0.0, 1.0)])  # image -> registration px
        pose = self._correction @ coarse
        box = self._sample(image, pose)
        if self._reference is not None:
            registered = self._register(image, pose, box)
            correction = self._correction
            if registered is not None:
                measured = registered @ np.linalg.inv(coarse)
                if self._excess(measured) <= FAILED_FACTOR:
                    correction = measured
            keep = math.exp(-max(dt, 0.0) / self._pull_s)
            correction = keep * correction + (1.0 - keep) * np.eye(3)  # similarities stay similarities
            excess = self._excess(correction)
            if excess > 1.0:
                correction = np.eye(3) + (correction - np.eye(3)) / excess
            self._correction = correction
            pose = correction @ coarse
            box = self._sample(image, pose)
            self._reference += (1.0 - math.exp(-max(dt, 0.0) / self._reference_s)) * (box - self._reference)
        else:
            self._reference = box
        return pose[:2] / self._scale

    def _sample(self, image: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """The patches' box (h, w) float32 grey, blurred, of `image` under an image -> registration px pose."""
        x, y, width, height = self._box
        shifted = pose[:2] - ((0.0, 0.0, x), (0.0, 0.0, y))
        box = cv2.warpAffine(image, shifted, (width, height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)  # (h, w) grey or (h, w, 3) RGB uint8
        if box.ndim == 3:
            box = cv2.cvtColor(box, cv2.COLOR_RGB2GRAY)
        return cv2.GaussianBlur(box.astype(np.float32), (0, 0), BLUR_PX)

    def _register(self, image: np.ndarray, pose: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """The pose (3, 3) under which `image` matches the reference, or None if it cannot be solved."""
        reference = self._reference.ravel()[self._pixels]  # (N,)
        gx = cv2.Sobel(self._reference, cv2.CV_32F, 1, 0, ksize=1, scale=0.5).ravel()[self._pixels]
        gy = cv2.Sobel(self._reference, cv2.CV_32F, 0, 1, ksize=1, scale=0.5).ravel()[self._pixels]
        jacobian = np.stack([gx, gy, gx * self._dx + gy * self._dy, gy * self._dx - gx * self._dy,
                             reference, np.ones_like(reference)], axis=1)  # (N, 6): shift, scale, roll, gain, offset
        for iteration in range(self._iterations):
            if iteration:
                box = self._sample(image, pose)
            error = box.ravel()[self._pixels] - reference  # (N,)
            spread = 1.4826 * float(np.median(np.abs(error))) + 0.5  # grey levels; the floor: quantisation
            weights = self._weights * np.minimum(1.0, HUBER * spread / np.maximum(np.abs(error), 1e-6))
            weighted = jacobian * weights[:, None]
            try:
                step = np.linalg.solve(weighted.T @ jacobian, weighted.T @ error)
            except np.linalg.LinAlgError:
                return None  # a blank patch: nothing to register
            tx, ty, s, r = (float(v) for v in step[:4])
            linear = np.array([[1.0 + s, -r], [r, 1.0 + s]])
            update = np.eye(3)
            update[:2, :2] = linear
            update[:2, 2] = (tx, ty) + self._centre - linear @ self._centre
            pose = update @ pose
            if math.hypot(tx, ty) + math.hypot(s, r) * self._reach < CONVERGED_PX:
                break
        return pose

    def _excess(self, correction: np.ndarray) -> float:
        """How far a (3, 3) correction goes, as a multiple of its bounds (<= 1: within them)."""
        a, b = correction[0, 0] - 1.0, correction[1, 0]
        shift = correction[:2, :2] @ self._centre + correction[:2, 2] - self._centre
        return max(math.hypot(*shift) / self._max_shift, abs(a) / MAX_SCALE,
                   abs(math.atan2(b, 1.0 + a)) / math.radians(MAX_ROLL_DEG))


def _patch_weights(size: int) -> np.ndarray:
    """(size, size) float32 weight of each pixel of the canonical crop in the registration."""
    weights = np.zeros((size, size), np.float32)
    for points, margin, weight in RIGID_PATCHES:
        mask = np.zeros((size, size), np.uint8)
        hull = cv2.convexHull(np.round(CANONICAL_LANDMARKS[list(points)] * size * 16).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=4)
        radius = round(margin * size)
        if radius > 0:
            mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
        np.maximum(weights, weight * mask, out=weights)
    return weights
