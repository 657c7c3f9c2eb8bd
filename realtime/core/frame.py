"""The unit every stage passes on (a Frame: image, index, time) and the one rule for the frame rate.

Time comes from the source in seconds; frame counts are derived from it at the source's rate.
`DEFAULT_FPS` is assumed only where a source says nothing about its rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_FPS = 30.0  # assumed for sources without a rate: the common rate of webcams and interview recordings


@dataclass(frozen=True)
class Frame:
    """One frame of a stream: the image and where it sits in time."""

    image: np.ndarray  # (H, W, 3) RGB uint8
    index: int  # 0-based position in the source
    t_s: float  # seconds from the start of the source


def frames_to_seconds(frames: float, fps: float) -> float:
    """Seconds spanned by `frames` frames (or the time of frame number `frames`) at `fps`."""
    return frames / fps


def seconds_to_frames(seconds: float, fps: float) -> int:
    """Frames needed to cover `seconds` at `fps` (rounded up: a part frame counts)."""
    return math.ceil(seconds * fps)
