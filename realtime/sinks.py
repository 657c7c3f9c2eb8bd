"""Where results go: streamed CSV tables, per-event evidence images, summaries.

Every sink writes as results arrive and flushes, so an interrupted run keeps what it found;
each is a context manager, so Ctrl-C or an error still closes complete, readable files.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import matplotlib
import numpy as np



class CsvStream:
    """A CSV table written row by row with a fixed header, flushed at most every `flush_s`."""

    def __init__(self, path: str | Path, columns: Sequence[str], *, flush_s: float = 0.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns = list(columns)
        self._handle = self.path.open("w", newline="")
        self._writer = csv.DictWriter(self._handle, fieldnames=self.columns, extrasaction="raise")
        self._writer.writeheader()
        self._handle.flush()
        self._flush_s = flush_s
        self._last_flush = time.monotonic()
        self.rows = 0

    def write(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow({k: _cell(v) for k, v in row.items()})
        self.rows += 1
        now = time.monotonic()
        if now - self._last_flush >= self._flush_s:
            self._handle.flush()
            self._last_flush = now

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> CsvStream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _cell(value: Any) -> Any:
    """Floats rounded to what the data supports, so tables stay readable and diffable."""
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else f"{float(value):.6g}"
    return value


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


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write atomically (temp file + rename): a reader never sees half a summary."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)

