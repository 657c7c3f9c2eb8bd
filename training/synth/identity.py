"""Synthetic subjects: real face photos turned into different-looking people.

Leave-one-subject-out evaluation is only meaningful if synthetic subjects differ the way people
do, even when they all come from one photo. Each identity therefore gets its own face shape
(eye spacing, nose length, mouth width and height, jaw width, chin length, face aspect ratio;
a smooth warp), skin tone (lightness and hue in the skin only), directional lighting, head
roll, size and position in the frame, mirror image, and its own static skin texture (an
up-scaled photo has none, and texture is what small movements are seen through).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from realtime.core.errors import InputError
from realtime.face.mesh import FaceMesh
from training.synth.actions import face_frame
from training.synth.render import FACE_WIDTH_POINTS, Scene, invert_into, rbf_warp

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".gif")

# Face-shape variation: point groups and the directions they move (lateral, up); see IdentityConfig.shape.
_SHAPE_GROUPS: tuple[tuple[tuple[int, ...], float, float], ...] = (
    ((33, 133, 159, 145, 263, 362, 386, 374), 1.0, 0.0),  # eye spacing
    ((70, 105, 107, 300, 334, 336), 0.0, 1.0),  # brow height
    ((1, 4, 5, 98, 327, 48, 278), 0.0, 1.0),  # nose length
    ((61, 291), 1.0, 0.0),  # mouth width
    ((0, 13, 14, 17, 61, 291), 0.0, 1.0),  # mouth height in the face
    ((172, 136, 150, 397, 365, 379), 1.0, 0.0),  # jaw width
    ((152, 175, 148, 377, 176, 400), 0.0, 1.0),  # chin length
)
_EDGE_TRIM = 2  # px cut from each side of a photo file: scans (Yale) carry dark lines at the edges
_JAW_LINE = (172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397)


@dataclass(frozen=True)
class Photo:
    """A real face photo and its MediaPipe landmarks."""

    image: np.ndarray  # (H, W, 3) RGB uint8
    landmarks: np.ndarray  # (468, 2) float32 px
    name: str


@dataclass(frozen=True)
class IdentityConfig:
    """How much synthetic identities made from one photo differ."""

    shape: float = 0.04  # face-shape changes, +- fraction of face width per feature (7 features)
    aspect: float = 0.08  # face width / height ratio varies by +- this
    roll_deg: float = 6.0  # head roll +- this, degrees
    tone: float = 1.0  # strength of the skin lightness and hue change (0 keeps the photo's)
    light: float = 0.35  # directional light: up to this relative brightness change across the face
    mirror: bool = True  # half of the identities are mirror images
    texture: float = 1.5  # std of the static fine skin texture, grey levels


def load_photos(faces: Path | None, mesh: FaceMesh) -> list[Photo]:
    """The photos of `faces` (a folder) with a detectable face, or the astronaut when None.

    `mesh` is a static-mode `FaceMesh` (unrelated stills).
    Photos where MediaPipe finds no face are skipped with a warning; a folder with none left
    raises InputError.
    """
    if faces is None:
        sources = [("astronaut", skimage.data.astronaut())]
    else:
        faces = Path(faces)
        if not faces.is_dir():
            raise InputError(f"{faces}: no such folder of face photos")
        files = sorted(p for p in faces.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        sources = []
        for path in files:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                log.warning("%s: not a readable image, skipped", path)
                continue
            edge = _EDGE_TRIM if min(bgr.shape[:2]) > 8 * _EDGE_TRIM else 0
            sources.append((path.stem, cv2.cvtColor(bgr[edge:bgr.shape[0] - edge, edge:bgr.shape[1] - edge],
                                                    cv2.COLOR_BGR2RGB)))
    photos = []
    for name, image in sources:
        landmarks = mesh.process(image)
        if landmarks is None:
            log.warning("%s: MediaPipe finds no face, skipped", name)
            continue
        photos.append(Photo(image=image, landmarks=landmarks, name=name))
    if not photos:
        raise InputError(f"{faces}: no photo with a face MediaPipe can find (tried {len(sources)})")
    return photos


def make_scene(photo: Photo, *, size: tuple[int, int], face_width: float, rng: np.random.Generator,
               mesh: FaceMesh, config: IdentityConfig = IdentityConfig()) -> Scene:
    """A new identity from `photo`, placed in a (width, height) `size` frame with this face width.

    Raises InputError when MediaPipe cannot find the face of the result (e.g. a frame too
    small for the face), since every later check relies on the landmarks.
    """
    width, height = size
    image, lm = photo.image, photo.landmarks.astype(np.float64)
    mirror = config.mirror and bool(rng.random() < 0.5)
    if mirror:
        image = np.ascontiguousarray(image[:, ::-1])
        lm = lm.copy()
        lm[:, 0] = image.shape[1] - 1 - lm[:, 0]

    # Face shape: forward warp on the photo, then similarity + aspect change into the frame.
    mid, lateral, up = face_frame(lm)
    photo_width = float(np.linalg.norm(lm[FACE_WIDTH_POINTS[0]] - lm[FACE_WIDTH_POINTS[1]]))
    points, vectors = [], []
    for group, lat, upw in _SHAPE_GROUPS:
        amount = rng.uniform(-config.shape, config.shape) * photo_width
        for index in group:
            side = float(np.sign((lm[index] - mid) @ lateral)) if lat else 0.0
            points.append(lm[index])
            vectors.append(amount * (lat * side * lateral + upw * up))
    shape_warp = rbf_warp(np.array(points), np.array(vectors), sigma=0.1 * photo_width, shape=image.shape[:2])

    aspect = 1.0 + rng.uniform(-config.aspect, config.aspect)
    scale = face_width / photo_width
    roll = rng.uniform(-config.roll_deg, config.roll_deg)
    target = np.array([width * (0.5 + rng.uniform(-0.04, 0.04)), height * (0.5 + rng.uniform(-0.03, 0.03))])
    center = lm.mean(axis=0)
    angle = np.deg2rad(roll)
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    linear = rotation @ np.diag([scale * np.sqrt(aspect), scale / np.sqrt(aspect)])  # photo -> frame
    placement = np.hstack([linear, (target - linear @ center)[:, None]])  # (2, 3)

    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    maps = cv2.transform(np.dstack([xs, ys]), cv2.invertAffineTransform(placement))  # photo coordinates
    invert_into(maps, shape_warp, 1.0, box=(0, 0, width, height))
    # Beyond the photo's edges, repeat them (a mirrored chin or shoulder looks like a second face to MediaPipe).
    frame = cv2.remap(image, maps, None, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    placed = lm @ linear.T + placement[:, 2]  # approximate landmarks (shape change ignored) for the masks

    skin = _skin_mask(placed, (height, width), face_width)  # (H, W) float32 0..1
    frame = _skin_tone(frame, skin, rng, config.tone)
    frame = _directional_light(frame, placed, face_width, rng, config.light)
    texture = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 0.7)
    texture *= config.texture / max(float(texture.std()), 1e-6)
    frame += (texture * skin)[:, :, None]
    scene_image = np.clip(frame, 0, 255).astype(np.uint8)

    landmarks = mesh.process(scene_image)
    if landmarks is None:
        raise InputError(f"{photo.name}: MediaPipe loses the face after the identity change "
                         f"(frame {width}x{height}, face width {face_width:.0f} px)")
    return Scene(image=scene_image, landmarks=landmarks, name=f"{photo.name}{'-mirror' if mirror else ''}")


def _skin_mask(landmarks: np.ndarray, shape: tuple[int, int], face_width: float) -> np.ndarray:
    """Soft (H, W) float32 mask of face and neck: the landmark hull plus the neck below the jaw."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(landmarks).astype(np.int32)), 1)
    jaw = landmarks[list(_JAW_LINE)]
    left, right = jaw[:, 0].min() + 0.12 * face_width, jaw[:, 0].max() - 0.12 * face_width
    neck = np.array([[left, jaw[:, 1].mean()], [right, jaw[:, 1].mean()], [right, shape[0]], [left, shape[0]]])
    cv2.fillConvexPoly(mask, np.round(neck).astype(np.int32), 1)
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.05 * face_width)


def _skin_tone(frame: np.ndarray, skin: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Change lightness and hue inside the skin (CIELAB), grey photos included, and give the rest
    (hair, clothes, background) a colour cast of its own."""
    lab = cv2.cvtColor(np.clip(frame, 0, 255) / 255.0, cv2.COLOR_RGB2LAB)  # L 0..100, a/b around 0
    lightness = 1.0 + strength * rng.uniform(-0.3, 0.12)
    target_a, target_b = rng.uniform(6, 18), rng.uniform(8, 26)  # skin hues: red-yellow quadrant
    mix = strength * rng.uniform(0.4, 0.9)
    tone = lab.copy()
    tone[:, :, 0] *= lightness
    tone[:, :, 1] += mix * (target_a - tone[:, :, 1])
    tone[:, :, 2] += mix * (target_b - tone[:, :, 2])
    rest = lab.copy()
    rest[:, :, 0] *= 1.0 + strength * rng.uniform(-0.15, 0.15)
    rest[:, :, 1:] += strength * rng.uniform(-8, 8, size=2)
    weight = skin[:, :, None]
    lab = tone * weight + rest * (1 - weight)
    return cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB) * 255.0


def _directional_light(frame: np.ndarray, landmarks: np.ndarray, face_width: float, rng: np.random.Generator,
                       strength: float) -> np.ndarray:
    """Light from one side: brightness changing linearly across the face, plus overall exposure."""
    angle = rng.uniform(0, 2 * np.pi)
    amount = rng.uniform(0.3, 1.0) * strength
    h, w = frame.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    center = landmarks.mean(axis=0)
    along = ((xs - center[0]) * np.cos(angle) + (ys - center[1]) * np.sin(angle)) / face_width
    gain = np.clip(1.0 + amount * along, 0.55, 1.45) * rng.uniform(0.85, 1.15)
    return frame * gain[:, :, None]
