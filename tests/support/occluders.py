"""Occluders pasted over the mouth of a video the tests make.

- "skin": a flat skin-coloured patch; "texture": a patch of random coloured blocks;
- "hand": a drawn hand (palm and fingers, skin-coloured, shaded); MediaPipe Hands does not take
  the drawing for a hand, which is why the appearance test has to catch it;
- "cup": a real object, the cup and saucer of `skimage.data.coffee()` (real texture, highlights,
  edges), slid in from beside the face;
- "own hand": the drawn hand filled with the person's own skin, cut from their cheek in the
  frame itself (colour, texture and lighting of the face), slid in from beside the face: what a
  colour or skin test cannot tell from the face;
- "open hand": an open hand drawn with four fingers, a thumb and a shaded outline, one face
  width tall, its palm over the lips and chin, slid in: MediaPipe Hands finds this one while the
  face mesh keeps the face (it is what exercises the hand test).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data

from realtime.capture.video_io import VideoWriter, read_video
from realtime.face.aligner import AlignConfig, FaceAligner

OCCLUDERS = ("skin", "texture", "hand", "cup", "own hand", "open hand")
SLID = ("cup", "own hand", "open hand")
SLIDE_S = 0.4  # how long the slid occluders take to come in from beside the face
CHEEK = (50, 101, 118, 117, 123, 187, 205, 36)  # mesh points around the right cheek (image left)


def _hand_mask(h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cx, cy = w // 2, int(h * 0.6)
    cv2.ellipse(mask, (cx, cy), (int(w * 0.3), int(h * 0.28)), 0, 0, 360, 255, -1)
    for i in range(4):
        x = int(w * (0.25 + 0.17 * i))
        cv2.line(mask, (x, cy), (int(x + (i - 1.5) * 4), int(h * 0.08)), 255, max(3, w // 9))
    return mask


def _open_hand(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A (size, size) open hand, palm centre at (0.5, 0.675) of the side, and its mask."""
    s = size / 400

    def at(x: float, y: float) -> tuple[int, int]:
        return int(x * s), int(y * s)

    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, at(200, 270), (int(75 * s), int(90 * s)), 0, 0, 360, 255, -1)  # palm
    for base, tip, width in (((140, 210), (120, 90), 26), ((185, 195), (180, 55), 28), ((228, 200), (240, 65), 27),
                             ((265, 220), (295, 110), 24), ((260, 320), (330, 250), 34)):  # four fingers, the thumb
        cv2.line(mask, at(*base), at(*tip), 255, max(1, int(width * s)))
        cv2.circle(mask, at(*tip), max(1, int(width * s / 2)), 255, -1)
    depth = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), max(0.5, 6 * s))  # rounded: darker at the edges
    image = (np.array([225, 180, 150], np.float32) * np.clip(0.55 + 0.45 * depth, 0, 1)[..., None]).astype(np.uint8)
    outline = cv2.Canny(mask, 50, 150) > 0
    image[outline] = (image[outline] * 0.6).astype(np.uint8)
    return image, mask


def _shade(w: int) -> np.ndarray:
    """A palm's curve: lit from one side."""
    return (0.8 + 0.25 * np.linspace(0, 1, w))[None, :, None]


def _own_skin(image: np.ndarray, points: np.ndarray, w: int) -> np.ndarray:
    """A (w, w, 3) patch of the person's cheek in this frame, scaled up to the hand's size."""
    cheek = points[list(CHEEK)]
    x0, y0 = np.floor(cheek.min(axis=0)).astype(int)
    x1, y1 = np.ceil(cheek.max(axis=0)).astype(int)
    side = max(4, min(x1 - x0, y1 - y0) // 2)  # the middle of the cheek, away from the nose and jaw
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    patch = image[cy - side // 2:cy + side // 2, cx - side // 2:cx + side // 2]
    return cv2.resize(patch, (w, w), interpolation=cv2.INTER_CUBIC)


def _patch(kind: str, w: int, rng: np.random.Generator, image: np.ndarray,
           points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(w, w, 3) RGB occluder and its (w, w) mask."""
    full = np.full((w, w), 255, np.uint8)
    if kind == "hand":
        colour = np.array([224, 172, 140], np.float32) * _shade(w) + rng.normal(0, 6, (w, w, 3))
        return np.clip(colour, 0, 255).astype(np.uint8), _hand_mask(w, w)
    if kind == "own hand":
        skin = _own_skin(image, points, w).astype(np.float32) * _shade(w)
        return np.clip(skin, 0, 255).astype(np.uint8), _hand_mask(w, w)
    if kind == "open hand":
        return _open_hand(w)
    if kind == "skin":
        return np.full((w, w, 3), (210, 160, 130), np.uint8), full
    if kind == "cup":
        cup = cv2.resize(skimage.data.coffee()[30:330, 150:450], (w, w), interpolation=cv2.INTER_AREA)
        mask = np.zeros((w, w), np.uint8)
        cv2.ellipse(mask, (w // 2, w // 2), (w // 2, int(w * 0.45)), 0, 0, 360, 255, -1)
        return cup, mask
    coarse = rng.integers(0, 255, (w // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    return cv2.resize(coarse, (w, w), interpolation=cv2.INTER_NEAREST), full


def occlude_mouth(video: Path, out: Path, kind: str, *, start_s: float, end_s: float, seed: int = 0) -> Path:
    """`video` with a `kind` occluder over the mouth from start_s to end_s, found by the face mesh
    (the slid kinds come in from the image's right over SLIDE_S and cover the mouth after it).

    Encoded losslessly: x264 at CRF 18, even on one thread, now and then encoded the same frames
    into other pixels (differences up to 40 levels on every frame, in 3 of 8 encodes within one
    process on a loaded machine), and the spotter's results on the clip followed."""
    rng = np.random.default_rng(seed)
    frames = list(read_video(video))
    fps = (len(frames) - 1) / frames[-1].t_s
    with FaceAligner(AlignConfig()) as aligner, \
            VideoWriter(out, fps, crf=0, preset="ultrafast", threads=1) as writer:
        for frame in frames:
            face = aligner.process(frame.image, frame.t_s)
            image = frame.image
            if start_s <= frame.t_s < end_s and face.found:
                inverse = cv2.invertAffineTransform(face.transform)
                points = face.landmarks @ inverse[:, :2].T + inverse[:, 2]  # (468, 2) image px
                left, right, lip = points[61], points[291], points[13]
                w = int((right[0] - left[0]) * 1.5)
                top, x0 = int(lip[1] - 0.45 * w), int((left[0] + right[0]) / 2) - w // 2
                if kind == "open hand":  # one face width, the palm over the lips and chin
                    w = int(np.ptp(points[:, 0]))
                    top, x0 = int(lip[1] + 0.2 * w - 0.675 * w), int(lip[0] - 0.5 * w)
                if kind in SLID:
                    x0 += int(round(1.5 * w * max(0.0, 1 - (frame.t_s - start_s) / SLIDE_S)))
                patch, mask = _patch(kind, w, rng, image, points)
                image = image.copy()
                y_a, x_a = max(top, 0), max(x0, 0)
                y_b, x_b = min(top + w, image.shape[0]), min(x0 + w, image.shape[1])
                if y_b > y_a and x_b > x_a:
                    inside = mask[y_a - top:y_b - top, x_a - x0:x_b - x0, None] > 0
                    image[y_a:y_b, x_a:x_b] = np.where(inside, patch[y_a - top:y_b - top, x_a - x0:x_b - x0],
                                                       image[y_a:y_b, x_a:x_b])
            writer.write(image)
    return out
