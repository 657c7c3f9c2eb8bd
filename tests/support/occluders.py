"""Occluders pasted over the mouth of a video the tests make: a skin-coloured patch, a textured
patch, and a drawn hand (palm and fingers, skin-coloured, shaded). MediaPipe Hands does not take
the drawing for a hand, which is why the appearance test has to catch it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from realtime.capture.video_io import VideoWriter, read_video
from realtime.face.aligner import AlignConfig, FaceAligner

OCCLUDERS = ("skin", "texture", "hand")


def _hand(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((h, w), np.uint8)
    cx, cy = w // 2, int(h * 0.6)
    cv2.ellipse(mask, (cx, cy), (int(w * 0.3), int(h * 0.28)), 0, 0, 360, 255, -1)
    for i in range(4):
        x = int(w * (0.25 + 0.17 * i))
        cv2.line(mask, (x, cy), (int(x + (i - 1.5) * 4), int(h * 0.08)), 255, max(3, w // 9))
    shade = (0.8 + 0.25 * np.linspace(0, 1, w))[None, :, None]
    image = np.clip(np.array([224, 172, 140], np.float32) * shade + rng.normal(0, 6, (h, w, 3)), 0, 255)
    return image.astype(np.uint8), mask


def _patch(kind: str, h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if kind == "hand":
        return _hand(h, w, rng)
    if kind == "skin":
        return np.full((h, w, 3), (210, 160, 130), np.uint8), np.full((h, w), 255, np.uint8)
    coarse = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_NEAREST), np.full((h, w), 255, np.uint8)


def occlude_mouth(video: Path, out: Path, kind: str, *, start_s: float, end_s: float, seed: int = 0) -> Path:
    """`video` with a `kind` occluder over the mouth from start_s to end_s, found by the face mesh."""
    rng = np.random.default_rng(seed)
    frames = list(read_video(video))
    fps = (len(frames) - 1) / frames[-1].t_s
    with FaceAligner(AlignConfig()) as aligner, VideoWriter(out, fps) as writer:
        for frame in frames:
            face = aligner.process(frame.image, frame.t_s)
            image = frame.image
            if start_s <= frame.t_s < end_s and face.found:
                inverse = cv2.invertAffineTransform(face.transform)
                points = face.landmarks @ inverse[:, :2].T + inverse[:, 2]  # (468, 2) image px
                left, right, lip = points[61], points[291], points[13]
                w = int((right[0] - left[0]) * 1.5)
                top, x0 = int(lip[1] - 0.45 * w), int((left[0] + right[0]) / 2) - w // 2
                patch, mask = _patch(kind, w, w, rng)
                image = image.copy()
                y_a, x_a = max(top, 0), max(x0, 0)
                y_b, x_b = min(top + w, image.shape[0]), min(x0 + w, image.shape[1])
                inside = mask[y_a - top:y_b - top, x_a - x0:x_b - x0, None] > 0
                image[y_a:y_b, x_a:x_b] = np.where(inside, patch[y_a - top:y_b - top, x_a - x0:x_b - x0],
                                                   image[y_a:y_b, x_a:x_b])
            writer.write(image)
    return out
