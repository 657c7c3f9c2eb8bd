"""Where the apex of a movement is: the peak of facial motion relative to the onset frame.

Used to repair coding-sheet rows whose apex is missing or impossible ('/', -1, outside
onset..offset), and by the live spotter, which measures its own motion and calls the same core
`apex_from_motion`, so that training and live inference place the apex by one rule.

A micro-expression is small (1-3 px) and local, while what else changes a face over a clip is
slow and global: head drift, light, sensor noise. So motion is measured per block of the face
(`motion_from_onset`), each block's slow trend between onset and offset is removed (the face is
neutral again at the offset, so what remains there is drift), and the blocks that move most
are pooled. On synthetic 0.5 px expressions under head drift this finds the apex within about
two frames where the whole-image mean change points at the offset.
"""

from __future__ import annotations

import cv2
import numpy as np

from realtime.core.errors import InputError

MOTION_SIDE = 64  # px: frames are area-averaged to at most this side; removes sensor noise, keeps AU-scale motion
BLOCK = 8  # px at MOTION_SIDE: a block is about one facial region (a brow, a mouth corner)
TOP_FRACTION = 0.1  # pool the 10% most moving blocks: an AU moves a few regions, not the whole face
_SMOOTHING = np.array([1.0, 2.0, 1.0]) / 4.0  # binomial: noise on a broad peak must not move the argmax


def apex_from_motion(motion: np.ndarray, *, detrend: bool = True) -> int:
    """Index of the motion peak of a clip: motion (T,) or per region (T, R), t = onset..offset.

    With `detrend`, each column's straight line from its first to its last value is removed:
    the curve must then span onset..offset, where the face is neutral, so that line is drift
    (head, light). Columns are pooled by the mean of the top `TOP_FRACTION` at each t. The pooled
    curve is filtered before the argmax (first index on ties): a 3-tap median removes one-frame
    glitches (a dropped or misaligned frame), then a 3-tap binomial filter evens out noise on a
    broad peak. A flat curve (no motion at all) has no peak: the middle index is returned, which
    keeps both phases of the split non-empty.
    """
    curves = np.asarray(motion, dtype=np.float64)
    if curves.ndim == 1:
        curves = curves[:, None]
    if curves.ndim != 2 or curves.shape[0] == 0 or curves.shape[1] == 0:
        raise InputError(f"apex_from_motion expects a non-empty (T,) or (T, R) motion, got shape {np.shape(motion)}")
    if not np.all(np.isfinite(curves)):
        raise InputError("apex_from_motion: the motion curve contains NaN or infinity")
    if detrend and len(curves) >= 3:
        curves = curves - np.linspace(curves[0], curves[-1], len(curves))  # (T, R)
    top = max(1, round(TOP_FRACTION * curves.shape[1]))
    curve = np.sort(curves, axis=1)[:, -top:].mean(axis=1)  # (T,)
    if curve.size >= 3:
        padded = np.pad(curve, 1, mode="edge")
        curve = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
        curve = np.convolve(np.pad(curve, 1, mode="edge"), _SMOOTHING, mode="valid")
    if curve.max() - curve.min() <= 1e-9 * max(1.0, float(np.abs(curve).max())):
        return (curve.size - 1) // 2
    return int(np.argmax(curve))


def motion_from_onset(frames: np.ndarray) -> np.ndarray:
    """(T, B) mean absolute grey-level change of each block of each frame against frames[0].

    Frames (T, H, W[, C]) are made grey and area-averaged to at most MOTION_SIDE px, and cut
    into BLOCK x BLOCK blocks (one block if smaller). Light is compensated first: each frame is
    mapped back by the gain and offset that best fit it to the onset frame (least squares over
    the whole image, which a local movement hardly affects).
    Row 0, the onset against itself, would be exactly zero while every other row carries sensor
    noise; it is given row 1's values so that this noise floor is not mistaken for a trend.
    """
    if frames.ndim not in (3, 4) or frames.shape[0] == 0:
        raise InputError(f"motion_from_onset expects (T, H, W[, C]) frames, got shape {frames.shape}")
    grey = frames.astype(np.float32, copy=False)
    if grey.ndim == 4:
        grey = grey.mean(axis=3)  # (T, H, W) grey float32
    height, width = grey.shape[1:]
    scale = MOTION_SIDE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame in grey])
    flat = grey.reshape(len(grey), -1).astype(np.float64)  # (T, h*w); float64: still frames give exactly flat motion
    centred = flat - flat.mean(axis=1, keepdims=True)
    gain = centred @ centred[0] / max(float(centred[0] @ centred[0]), 1e-6)  # (T,) least-squares F_t ~ gain F_0 + c
    change = (centred / np.where(np.abs(gain) > 1e-3, gain, 1.0)[:, None] - centred[0]).reshape(grey.shape)
    num, h, w = change.shape
    rows, cols = max(1, h // BLOCK), max(1, w // BLOCK)
    bh, bw = h // rows, w // cols
    blocks = np.abs(change[:, :rows * bh, :cols * bw]).reshape(num, rows, bh, cols, bw).mean(axis=(2, 4))
    blocks = blocks.reshape(num, rows * cols)  # (T, B)
    if num > 1:
        blocks[0] = blocks[1]
    return blocks


def locate_apex(frames: np.ndarray, onset: int, offset: int) -> int:
    """0-based position in `frames` (T, H, W[, C]) of the motion peak within onset..offset (inclusive)."""
    if not 0 <= onset <= offset < frames.shape[0]:
        raise InputError(f"locate_apex needs 0 <= onset <= offset < T, got onset={onset}, "
                         f"offset={offset}, T={frames.shape[0]}")
    return onset + apex_from_motion(motion_from_onset(frames[onset:offset + 1]))
