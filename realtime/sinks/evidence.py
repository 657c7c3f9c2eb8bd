"""Per-event evidence images: the onset, apex and offset crops and the DI pair a label was based on."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import matplotlib
import numpy as np

_DIVERGING = (np.asarray(matplotlib.colormaps["RdBu_r"](np.linspace(0, 1, 256))[:, :3]) * 255).astype(np.uint8)


def di_to_image(di: np.ndarray, *, scale_px: int = 2) -> np.ndarray:
    """A raw (H, W, 1) DI as an RGB picture: white = no change, red/blue = brighter/darker over
    the phase, scaled to the DI's own 99.5th percentile so that a subtle movement stays visible."""
    x = np.asarray(di, np.float32).reshape(di.shape[0], di.shape[1], -1).mean(axis=2)
    limit = max(float(np.percentile(np.abs(x), 99.5)), 1e-6)
    index = np.clip(np.round(127.5 + 127.5 * x / limit), 0, 255).astype(np.uint8)
    rgb = _DIVERGING[index]
    return cv2.resize(rgb, None, fx=scale_px, fy=scale_px, interpolation=cv2.INTER_NEAREST) if scale_px > 1 else rgb


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB or grey uint8 image as PNG (OpenCV wants BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    if not cv2.imwrite(str(path), bgr):
        raise OSError(f"{path}: could not be written")


def write_evidence(event_dir: Path, crops: Mapping[str, np.ndarray], dis: Mapping[str, np.ndarray]) -> None:
    """events/<event>/: onset/apex/offset crops (grey) and the DI pair, the evidence to check."""
    for name, crop in crops.items():
        write_png(event_dir / f"{name}.png", crop)
    for name, di in dis.items():
        write_png(event_dir / f"{name}.png", di_to_image(di))
