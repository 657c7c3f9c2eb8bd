"""Synthetic micro-expression data: FACS-like movements warped onto real face photos.

`make_dataset` writes the CASME-II release layout and coding sheet; `make_video` writes a long
H.264 interview with micro- and macro-expressions, blinks and head motion, and its ground truth.
"""

from __future__ import annotations

from training.synth.actions import (ACTION_UNITS, EMOTIONS, EyeClosure, Timing, action_unit_regions, blink,
                                    expression_warp)
from training.synth.dataset import CLASSES, HeadDrift, SynthClip, SynthDataset, make_dataset, render_clip
from training.synth.identity import IdentityConfig, Photo, load_photos, make_scene
from training.synth.render import Deformation, FaceRenderer, Light, Scene, Warp
from training.synth.video import GROUNDTRUTH_COLUMNS, SynthEvent, SynthVideo, make_video

__all__ = [
    "ACTION_UNITS", "CLASSES", "EMOTIONS", "GROUNDTRUTH_COLUMNS", "Deformation", "EyeClosure",
    "FaceRenderer", "HeadDrift", "IdentityConfig", "Light", "Photo", "Scene", "SynthClip", "SynthDataset",
    "SynthEvent", "SynthVideo", "Timing", "Warp", "action_unit_regions", "blink", "expression_warp",
    "load_photos", "make_dataset", "make_scene", "make_video", "render_clip",
]
