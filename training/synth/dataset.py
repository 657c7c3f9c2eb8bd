"""`make_dataset`: a synthetic micro-expression dataset in the CASME-II release layout.

The output goes through the same reader as the real release (`load_dataset("casme2", DIR)`):
`DIR/subXX/<clip>/imgN.jpg` frames (N not starting at 1, as in the real release), from a few
neutral frames before the onset to a few after the offset (50-150 ms and 30-100 ms, at least 5
frames each: a clip cut with a margin, so that a tracker has settled before the onset), and
`DIR/CASME2-coding-synth.xlsx` with the real sheet's columns. Each subject is one synthetic
identity (`make_scene`); each clip is one micro-expression (1-3 px at a 250 px face, 200-500 ms)
under slow head drift, a slow light change and sensor noise, each drawn per clip.
`DIR/synth_config.json` records the settings and every clip's drawn parameters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from openpyxl import Workbook

from realtime.core.errors import InputError
from realtime.core.interval import Interval, flat_row
from realtime.face.mesh import FaceMesh
from training.synth.actions import EMOTIONS, OBJECTIVE_CLASSES, Timing, draw_timing, expression_warp
from training.synth.identity import Photo, load_photos, make_scene
from training.synth.render import Deformation, FaceRenderer, Light, Scene, pose_matrix

log = logging.getLogger(__name__)

CLASSES = ("happiness", "disgust", "surprise", "repression", "others")
"""The five CASME-II classes the paper keeps, in the order clips are made."""

SHEET_NAME = "CASME2-coding-synth.xlsx"
SHEET_COLUMNS = ("Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None,
                 "Action Units", "Estimated Emotion", "Objective Classes")
"""The real CASME-II sheet's header row, unnamed columns included."""

JPEG_QUALITY = 95  # the release's frames are high-quality JPEG; low quality would blur 1 px movements
FACE_FRACTION = 0.5  # face width / frame side: room around the face for head drift and the aligner
MIN_LEAD_FRAMES = 5  # neutral frames before the onset and after the offset, at least: MediaPipe's
#                      tracker settles over its first 3-4 frames, which must not fall into the onset


@dataclass(frozen=True)
class HeadDrift:
    """Head pose and light over a short clip: an offset at its start and a constant rate."""

    tx: float = 0.0  # px, pose at the clip's first frame
    ty: float = 0.0
    roll_deg: float = 0.0
    scale: float = 1.0
    vx: float = 0.0  # px/s
    vy: float = 0.0
    roll_rate: float = 0.0  # deg/s
    gain: float = 1.0  # light at the first frame
    gain_rate: float = 0.0  # relative light change per second

    def pose(self, center: np.ndarray, t: float) -> np.ndarray:
        return pose_matrix(center, tx=self.tx + self.vx * t, ty=self.ty + self.vy * t,
                           roll_deg=self.roll_deg + self.roll_rate * t, scale=self.scale)

    def light(self, t: float) -> Light:
        return Light(gain=self.gain * (1.0 + self.gain_rate * t))


@dataclass(frozen=True)
class SynthClip:
    """One written clip, with what was drawn for it."""

    subject: str  # "01", as in the sheet
    clip_id: str  # sheet Filename, e.g. "EP03_02"
    folder: Path
    frame_numbers: tuple[int, ...]  # N of imgN.jpg
    sheet_frames: Interval  # the sheet's numbers, N of imgN.jpg
    emotion: str
    action_units: str  # "6+12"
    amplitude: float  # px at a 250 px face
    amplitude_px: float  # px in the written frames
    identity: str  # source photo of the subject's identity

    @property
    def positions(self) -> Interval:
        """The phases as 0-based positions in the folder's frames."""
        return self.sheet_frames.shifted(-self.frame_numbers[0])


@dataclass(frozen=True)
class SynthDataset:
    """What `make_dataset` wrote."""

    root: Path
    sheet: Path
    clips: tuple[SynthClip, ...]
    fps: float


def render_clip(scene: Scene, warp: Deformation, timing: Timing, *, fps: float, drift: HeadDrift = HeadDrift(),
                noise_sigma: float = 1.5, rng: np.random.Generator, lead: int = 0,
                tail: int = 0) -> tuple[np.ndarray, int, int, int]:
    """One movement's frames: (T, H, W, 3) RGB uint8 and the onset, apex and offset positions in them.

    `lead` neutral frames come before the onset and `tail` after the offset. The onset is at
    t = 0 (the movement starts there), frame k at t = (k - lead) / fps, the apex is the frame
    nearest `timing.apex_s`; head drift and light run from the first frame.
    """
    if fps <= 0 or lead < 0 or tail < 0:
        raise InputError(f"need fps > 0 and lead, tail >= 0; got fps={fps}, lead={lead}, tail={tail}")
    timing = timing.shifted(-timing.onset_s)
    offset = int(round(timing.offset_s * fps))
    apex = min(max(int(round(timing.apex_s * fps)), 0), offset)
    renderer = FaceRenderer(scene, noise_sigma=noise_sigma, rng=rng)
    center = scene.face_center
    frames = []
    for k in range(lead + offset + 1 + tail):
        t = (k - lead) / fps
        strength = float(timing.profile(t))
        frames.append(renderer(pose=drift.pose(center, k / fps), warps=[(strength, warp)],
                               light=drift.light(k / fps)))
    return np.stack(frames), lead, lead + apex, lead + offset


def draw_drift(rng: np.random.Generator, face_width: float) -> HeadDrift:
    """A participant told to keep still in a lab: a small offset, slow postural sway (up to 1.5 px/s
    and 0.15 deg/s at a 250 px face, about 1 mm/s) and lab lighting that barely changes (0.3 %/s)."""
    px = face_width / 250.0
    return HeadDrift(tx=rng.uniform(-4, 4) * px, ty=rng.uniform(-4, 4) * px, roll_deg=rng.uniform(-1.5, 1.5),
                     scale=rng.uniform(0.97, 1.03), vx=rng.uniform(-1.5, 1.5) * px, vy=rng.uniform(-1.5, 1.5) * px,
                     roll_rate=rng.uniform(-0.15, 0.15), gain=rng.uniform(0.95, 1.05),
                     gain_rate=rng.uniform(-0.003, 0.003))


def people(photos: Sequence[Photo]) -> list[Photo]:
    """Photos ordered so that consecutive subjects come from different people.

    Photos whose names share the part before the last underscore are one person (Yale:
    subject01_happy, subject01_normal); subjects cycle through the people first.
    """
    groups: dict[str, list[Photo]] = {}
    for photo in photos:
        groups.setdefault(photo.name.rsplit("_", 1)[0], []).append(photo)
    ordered = []
    for round_ in range(max(len(g) for g in groups.values())):
        ordered += [g[round_] for g in groups.values() if round_ < len(g)]
    return ordered


def check_amplitude(amplitude: float) -> None:
    """The scale of the synthetic movements: 1 is 1-3 px at a 250 px face, as real micro-expressions."""
    if not 0 < amplitude <= 5:
        raise InputError(f"--amplitude {amplitude}: must be in (0, 5]")


def make_dataset(out: Path, *, subjects: int = 5, clips_per_class: int = 2, fps: float = 200.0, size: int = 320,
                 faces: Path | None = None, seed: int = 0, amplitude: float = 1.0) -> SynthDataset:
    """Write a synthetic CASME-II-layout dataset into the empty or new folder `out`.

    Defaults give 10 clips per class, the reader's minimum for keeping a class, at CASME-II's
    200 fps. Deterministic per `seed`; subject k's identity and clips do not depend on how
    many subjects are made. `amplitude` scales every clip's movement (1: 1-3 px at a 250 px face,
    as real micro-expressions) and changes no random draw: 3 gives the same clips three times as large.
    """
    out = Path(out)
    if not 1 <= subjects <= 99 or clips_per_class < 1:
        raise InputError(f"need 1..99 subjects and at least one clip per class, "
                         f"got {subjects} and {clips_per_class}")
    if not 24 <= fps <= 1000:
        raise InputError(f"fps {fps} is outside 24..1000")
    check_amplitude(amplitude)
    if size < 128:
        raise InputError(f"frame size {size} px is too small for MediaPipe to find the face (>= 128)")
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out}: folder is not empty; give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)

    clips: list[SynthClip] = []
    rows: list[tuple[object, ...]] = []
    with FaceMesh(static_image_mode=True) as mesh:
        photos = people(load_photos(faces, mesh))
        for s in range(subjects):
            subject = f"{s + 1:02d}"
            rng = np.random.default_rng((seed, s))
            scene = make_scene(photos[s % len(photos)], size=(size, size), face_width=FACE_FRACTION * size,
                               rng=rng, mesh=mesh)
            log.info("subject %s: %s, face width %.0f px", subject, scene.name, scene.face_width)
            for c, emotion in enumerate(CLASSES):
                for j in range(clips_per_class):
                    clip = _write_clip(out, scene, subject=subject, clip_id=f"EP{c + 1:02d}_{j + 1:02d}",
                                       emotion=emotion, fps=fps, rng=np.random.default_rng((seed, s, c, j)),
                                       scale=amplitude)
                    clips.append(clip)
                    coded = clip.sheet_frames
                    rows.append((subject, clip.clip_id, None, coded.onset, coded.apex, coded.offset, None,
                                 _sheet_aus(clip.action_units), emotion, OBJECTIVE_CLASSES[emotion]))
    sheet = out / SHEET_NAME
    _write_sheet(sheet, rows)
    settings = {"subjects": subjects, "clips_per_class": clips_per_class, "fps": fps, "size": size,
                "faces": str(faces) if faces else None, "seed": seed, "amplitude": amplitude}
    manifest = {"settings": settings, "clips": [_manifest_entry(clip) for clip in clips]}
    (out / "synth_config.json").write_text(json.dumps(manifest, indent=1))
    log.info("wrote %d clips of %d subjects to %s", len(clips), subjects, out)
    return SynthDataset(root=out, sheet=sheet, clips=tuple(clips), fps=fps)


def _write_clip(out: Path, scene: Scene, *, subject: str, clip_id: str, emotion: str, fps: float,
                rng: np.random.Generator, scale: float) -> SynthClip:
    action_units = str(rng.choice(EMOTIONS[emotion]))
    amplitude = float(rng.uniform(1.0, 3.0)) * scale
    warp = expression_warp(scene, action_units, scene.px(amplitude), rng)
    timing = draw_timing(rng, "micro")
    drift = draw_drift(rng, scene.face_width)
    noise = float(rng.uniform(0.5, 1.5))
    lead = max(MIN_LEAD_FRAMES, round(rng.uniform(0.05, 0.15) * fps))
    tail = max(MIN_LEAD_FRAMES, round(rng.uniform(0.03, 0.1) * fps))
    frames, onset, apex, offset = render_clip(scene, warp, timing, fps=fps, drift=drift, noise_sigma=noise,
                                              rng=rng, lead=lead, tail=tail)
    first = int(rng.integers(10, 300))  # the release numbers frames from where the clip was cut
    folder = out / f"sub{subject}" / clip_id
    folder.mkdir(parents=True)
    numbers = tuple(range(first, first + len(frames)))
    for number, frame in zip(numbers, frames):
        cv2.imwrite(str(folder / f"img{number}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return SynthClip(subject=subject, clip_id=clip_id, folder=folder, frame_numbers=numbers,
                     sheet_frames=Interval(first + onset, first + apex, first + offset),
                     emotion=emotion, action_units=action_units, amplitude=amplitude,
                     amplitude_px=scene.px(amplitude), identity=scene.name)


def _manifest_entry(clip: SynthClip) -> dict[str, object]:
    entry = {k: v for k, v in flat_row(clip).items() if k not in ("folder", "frame_numbers")}
    return entry | {"folder": str(clip.folder), "first_frame": clip.frame_numbers[0],
                    "frames": len(clip.frame_numbers)}


def _sheet_aus(action_units: str) -> int | str:
    """A single AU is a number in the real sheet's cells ('12' -> 12); combinations are text."""
    return int(action_units) if action_units.isdigit() else action_units


def _write_sheet(path: Path, rows: list[tuple[object, ...]]) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(list(SHEET_COLUMNS))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
