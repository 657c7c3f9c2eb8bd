"""Fine alignment from the pixels: the face's rigid skin registered onto the previous frames.

The landmark similarity of `realtime.face.aligner` follows head motion at once but carries
MediaPipe's errors, and a dynamic image takes any motion of the whole crop for facial motion:

- jitter of ~0.1-0.3 crop px from frame to frame;
- a lag of ~2 crop px over the first 2-3 frames of a head movement (its tracker looks for the
  face where it was);
- the whole mesh shifting with expressions: during a synthetic smile (AU6+12, 2.5 px at a 250 px
  face) MediaPipe moves its inner eye corners and nose by 0.6-1.1 px upwards although the
  skin there stays put.

`RigidStabiliser` corrects the translation of the crop from the pixels. Each frame it registers
the face, at a reduced size, onto a reference (the previous frames' registered faces, averaged
over `reference_s`) using only skin that expressions barely move (`RIGID_PATCHES`): the nose
bridge between the eyes and the upper forehead, away from the brows. The model is a shift plus
a brightness gain and offset (Lucas-Kanade, inverse compositional, Huber-weighted residuals).
Scale and roll are left to the landmarks: measured from these patches they wander by 1-2 %
on a talking face (the patches are narrow, and nodding changes their vertical spacing), where
the landmarks' dead band holds them to a fraction of that.

The correction is bounded (`max_shift`, a few crop px: jitter and lag, never a lost face), and
what of it goes beyond `pull_zone` is pulled back to the landmark pose with a time constant of
`pull_s` seconds, so that errors of the frame-to-frame registration cannot accumulate: the
landmarks keep the face in place in the long run, the pixels decide from frame to frame. The
zone is about the lag MediaPipe keeps while a head moves steadily; pulling inside it slid the
face across the crop during the movement (+12 % dynamic-image energy for a synthetic nose
wrinkle under 2 px/frame of drift, against +1-3 % with the zone).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from realtime.core.errors import InputError
from realtime.face.regions import CANONICAL_LANDMARKS

RIGID_PATCHES: tuple[tuple[tuple[int, ...], float, float], ...] = (
    ((168, 6, 197), 0.05, 1.0),  # nose bridge, between the eyes to mid-nose, widened by 0.05 crop sides
    ((10, 338, 297, 332, 337, 151, 108, 103, 67, 109), 0.0, 0.5),  # upper forehead, away from the brows
)
"""(MediaPipe mesh points, widening in crop sides, weight) of each registered patch: the convex
hull of the points in the canonical crop. Left out: the inner eye corners (lids, AU6/AU7,
blinks), the glabella and lower forehead (AU1/AU2/AU4), the nose below mid-nose (AU9/AU10).
The widened bridge takes in the inner edge of the skin AU9 wrinkles (in the synthetic data
~10 % of its amplitude reaches the patch): the Huber weights and the aligner's small dead band
keep that out (tests/realtime/face/test_aligner.py). The forehead counts half: it has little
texture, and the frontalis moves it in real faces."""

BLUR_PX = 0.7  # Gaussian sigma at the registration size: keeps the linearisation valid past ~1 px
HUBER = 2.0  # residuals beyond this many robust spreads get proportionally less weight (speech, blinks)
STEPS = 2  # Gauss-Newton steps a frame: one left ~5-15 % of a 2 px/frame drift's lag behind


class RigidStabiliser:
    """Refines a stream of landmark transforms by registering rigid facial skin frame to frame.

    `crop_size`: side of the aligned crop the transforms map to; `size`: side the registration
    runs at; `reference_s`: time constant (s) of the reference's running average (shorter
    follows slow changes of light and pose better; longer averages out sensor noise);
    `pull_s`: time constant (s) of the pull back to the landmark pose, of the correction beyond
    `pull_zone` (crop sides; the default is 1 px at 224, about the lag MediaPipe keeps while a
    head moves steadily); `max_shift`: bound of the correction, in crop sides.

    `STEPS` Gauss-Newton steps per frame, from where the previous frame left the correction:
    the landmark pose already follows the head, so what is left to find is a fraction of a
    pixel (a larger lag, when a head starts to move, is taken up over 2-3 frames). Something
    that is not skin over the patches (a hand) can drag the crop, by `max_shift` at most, and
    the pull returns it to the landmarks over `pull_s` once the patches are clear.
    """

    def __init__(self, *, crop_size: int, size: int = 112, reference_s: float = 0.02, pull_s: float = 3.0,
                 pull_zone: float = 0.0045, max_shift: float = 0.015) -> None:
        if not 16 <= size <= crop_size:
            raise InputError(f"stabiliser size must lie in [16, crop size {crop_size}] px, got {size}")
        if not (reference_s > 0 and pull_s > 0 and pull_zone >= 0 and max_shift > 0):
            raise InputError(f"stabiliser needs reference_s, pull_s, max_shift > 0 and pull_zone >= 0; got "
                             f"{reference_s}, {pull_s}, {max_shift}, {pull_zone}")
        self._scale = size / crop_size  # registration px per crop px
        self._reference_s = reference_s
        self._pull_s = pull_s
        self._pull_zone = pull_zone * size  # registration px
        self._max_shift = max_shift * size  # registration px
        weights = _patch_weights(size)  # (size, size) float32
        ys, xs = np.nonzero(weights)
        margin = 2  # px around the weighted pixels: their gradients need neighbours
        x0, y0 = max(int(xs.min()) - margin, 0), max(int(ys.min()) - margin, 0)
        x1, y1 = min(int(xs.max()) + margin + 1, size), min(int(ys.max()) + margin + 1, size)
        self._box_size = (x1 - x0, y1 - y0)  # width, height in registration px
        self._box_origin = np.array([[0.0, 0.0, x0], [0.0, 0.0, y0]])  # registration px -> box px: subtract
        box_weights = weights[y0:y1, x0:x1].copy()
        box_weights[[0, -1], :] = 0  # a box cut by the crop's edge (tiny crops): every pixel used has 4 neighbours
        box_weights[:, [0, -1]] = 0
        self._pixels = np.flatnonzero(box_weights)  # (N,) flat indices of the weighted pixels in the box
        self._weights = box_weights.ravel()[self._pixels]  # (N,) float32
        self._left, self._right = self._pixels - 1, self._pixels + 1  # neighbours, for the gradients
        self._above, self._below = self._pixels - (x1 - x0), self._pixels + (x1 - x0)
        self.reset()

    def reset(self) -> None:
        """Forget the reference (a new face, or the same one re-acquired)."""
        self._reference: np.ndarray | None = None  # (h, w) float32 running average of registered boxes
        self._jacobian = np.empty((4, self._pixels.size), np.float32)  # the reference's: shift x, y, gain, offset
        self._shift = np.zeros(2)  # registration px added to the landmark pose

    def __call__(self, image: np.ndarray, transform: np.ndarray, dt: float) -> np.ndarray:
        """The (2, 3) image -> crop `transform` of an (H, W) grey or (H, W, 3) RGB uint8 frame, refined.

        `dt`: seconds since the previous frame (paces the reference and the pull).
        """
        pose = transform * self._scale  # (2, 3) image -> registration px, the landmarks' pose
        origin = pose[:, 2].copy()
        if self._reference is None:
            self._set_reference(self._sample(image, pose))
            return transform
        shift = self._shift.copy()  # start where the previous frames put the face
        for _ in range(STEPS):
            pose[:, 2] = origin + shift
            shift += self._step(self._sample(image, pose))
        dt = max(dt, 0.0)
        length = math.hypot(shift[0], shift[1])
        excess = max(length - self._pull_zone, 0.0)
        kept = length - excess * (1.0 - math.exp(-dt / self._pull_s))
        shift *= min(kept, self._max_shift) / max(length, 1e-12)
        self._shift = shift
        pose[:, 2] = origin + shift
        reference = self._reference
        reference += (1.0 - math.exp(-dt / self._reference_s)) * (self._sample(image, pose) - reference)
        self._set_reference(reference)
        pose /= self._scale
        return pose

    def _sample(self, image: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """The patches' box (h, w) float32 grey, blurred, of `image` under an image -> registration px pose."""
        box = cv2.warpAffine(image, pose - self._box_origin, self._box_size, flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)  # (h, w) grey or (h, w, 3) RGB uint8
        if box.ndim == 3:
            box = cv2.cvtColor(box, cv2.COLOR_RGB2GRAY)
        return cv2.GaussianBlur(box.astype(np.float32), (0, 0), BLUR_PX)

    def _set_reference(self, reference: np.ndarray) -> None:
        """Keep the (h, w) reference and its Jacobian: central differences (halved), itself, one."""
        self._reference = reference
        flat = reference.ravel()
        jacobian = self._jacobian
        np.subtract(flat[self._right], flat[self._left], out=jacobian[0])
        np.subtract(flat[self._below], flat[self._above], out=jacobian[1])
        jacobian[:2] *= 0.5
        jacobian[2] = flat[self._pixels]
        jacobian[3] = 1.0

    def _step(self, box: np.ndarray) -> np.ndarray:
        """Shift (2,) in registration px that moves `box` onto the reference (zero on blank patches).

        Inverse compositional Lucas-Kanade: the residual is linearised on the reference's
        gradients, with a brightness gain and offset beside the shift, residuals Huber-weighted.
        """
        error = box.ravel()[self._pixels]
        error -= self._jacobian[2]  # (N,) grey levels
        size = np.abs(error)
        threshold = HUBER * (1.2533 * float(size.mean()) + 0.5)  # spread of Gaussian residuals; floor: quantisation
        np.maximum(size, threshold, out=size)
        weights = np.divide(threshold, size, out=size)
        weights *= self._weights  # Huber: full weight up to the threshold, falling as 1 / |error| beyond
        weighted = self._jacobian * weights
        solved, step = cv2.solve((weighted @ self._jacobian.T).astype(np.float64),
                                 (weighted @ error).astype(np.float64), flags=cv2.DECOMP_CHOLESKY)
        if not solved:
            return np.zeros(2)  # blank patches: nothing to register
        return step[:2, 0]  # the reference would move by -step, so the image moves by +step


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
