"""What covers the face: a hand, a cup, a microphone, hair. Covered regions are not facial motion.

Two tests, both at a bounded rate (`OcclusionConfig.check_hz`):

- MediaPipe Hands finds hands in the frame; the hull of a hand's landmarks, taken into the
  aligned crop by the face's transform, covers the regions it overlaps. It runs on its own
  thread (about 30 ms a call on a busy 2-core CPU), so it never holds up a frame: its answer
  applies from the frame on which it arrives.
- An appearance test per region catches what the hand model does not (a fist seen edge-on, a
  sleeve, any object): each region of the aligned crop keeps a running reference of its own
  appearance, updated only while it is uncovered; a region whose structure no longer correlates
  with its reference (normalised cross-correlation below `min_correlation`) shows something the
  face model cannot explain. Expressions and speech deform a region but keep most of its
  structure; an occluder replaces it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from realtime.face.aligner import AlignedFace
from realtime.face.regions import region_masks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcclusionConfig:
    """How often and how strictly covered regions are looked for."""

    check_hz: float = 5.0  # both tests run at most this often (stream time); answers hold in between
    hands: bool = True  # MediaPipe Hands on its own thread
    hand_min_confidence: float = 0.5  # MediaPipe's detection score for a hand
    hand_margin: float = 0.03  # crop sides a hand's landmark hull is widened by (fingers are wider than their joints)
    min_region_share: float = 0.25  # share of a region under a hand that covers it
    patch: int = 16  # side a region is compared at (px): structure, not sensor noise
    shading_px: float = 2.5  # patch px: smooth shading (lighting, a palm's curve) removed before comparing
    min_correlation: float = 0.3  # NCC with the region's reference below this, and
    min_change: float = 15.0  # mean absolute grey-level change (of the structure) from the reference above this (a blink, a
    #                           shadow or a low-contrast cheek lose correlation with little change), or
    max_contrast_kept: float = 0.35  # the region's contrast (std) fallen below this share of its reference's
    #                                  (a smooth occluder: a palm, a skin-coloured object), and
    persist_checks: int = 3  # for this many checks in a row (0.6 s at 5 Hz: longer than a blink)
    reference_s: float = 2.0  # time constant of a region's running reference
    warmup_s: float = 1.0  # uncovered face seen before the appearance test decides anything


class _HandWorker:
    """MediaPipe Hands on one background thread; `submit` never blocks, `latest` is the last answer."""

    def __init__(self, config: OcclusionConfig) -> None:
        import mediapipe as mp

        self._hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=0,
                                               min_detection_confidence=config.hand_min_confidence)
        self._lock = threading.Lock()
        self._job: tuple[np.ndarray, np.ndarray] | None = None  # (image, transform) waiting
        self._wake = threading.Event()
        self._stop = False
        self.latest: list[np.ndarray] = []  # hands of the last answer, (21, 2) crop px each
        self._thread = threading.Thread(target=self._run, name="hands", daemon=True)
        self._thread.start()

    def submit(self, image: np.ndarray, transform: np.ndarray) -> None:
        with self._lock:
            self._job = (image, transform)
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                job, self._job = self._job, None
            if self._stop:
                return
            if job is None:
                continue
            image, transform = job
            found = self._hands.process(image).multi_hand_landmarks or []
            h, w = image.shape[:2]
            hands = []
            for hand in found:
                xy = np.array([[p.x * w, p.y * h] for p in hand.landmark], np.float64)  # (21, 2) image px
                hands.append((xy @ transform[:, :2].T + transform[:, 2]).astype(np.float32))  # crop px
            self.latest = hands

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=2.0)
        self._hands.close()


class OcclusionDetector:
    """Stage: a frame and its aligned face in, the set of covered facial regions out."""

    def __init__(self, crop_size: int, config: OcclusionConfig = OcclusionConfig()) -> None:
        self.config = config
        self.crop_size = crop_size
        self._masks = region_masks(crop_size)
        self._boxes = {}
        for name, mask in self._masks.items():
            ys, xs = np.nonzero(mask)
            self._boxes[name] = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
        self._small_masks = {name: cv2.resize(self._masks[name][y0:y1, x0:x1].astype(np.uint8),
                                              (config.patch, config.patch), interpolation=cv2.INTER_NEAREST) > 0
                             for name, (y0, y1, x0, x1) in self._boxes.items()}
        self._reference: dict[str, np.ndarray] = {}
        self._streak: dict[str, int] = {}  # checks in a row a region's appearance was unexplained
        self._seen_s = 0.0
        self._last_check: float | None = None
        self._covered: frozenset[str] = frozenset()
        self.by_hand: frozenset[str] = frozenset()  # of the covered regions, those a detected hand covers
        self._hands = _HandWorker(config) if config.hands else None

    def process(self, image: np.ndarray, face: AlignedFace, t_s: float) -> frozenset[str]:
        """Covered regions at this frame (empty without a face: nothing to cover)."""
        if not face.found or face.crop is None:
            self._last_check = None
            return frozenset()
        if self._last_check is not None and t_s - self._last_check < 1.0 / self.config.check_hz:
            return self._covered
        dt = 0.0 if self._last_check is None else t_s - self._last_check
        self._last_check = t_s
        if self._hands is not None and face.transform is not None:
            self._hands.submit(image, face.transform)
        crop = face.crop if face.crop.ndim == 2 else cv2.cvtColor(face.crop, cv2.COLOR_RGB2GRAY)
        by_hand = self._hand_regions(self._hands.latest if self._hands is not None else [])
        by_look = self._appearance(crop, dt, exclude=by_hand)
        self.by_hand = by_hand
        self._covered = by_hand | by_look
        return self._covered

    def _hand_regions(self, hands: list[np.ndarray]) -> frozenset[str]:
        if not hands:
            return frozenset()
        size = self.crop_size
        cover = np.zeros((size, size), np.uint8)
        for points in hands:
            cv2.fillConvexPoly(cover, cv2.convexHull(np.round(points).astype(np.int32)), 1)
        grow = max(1, int(round(self.config.hand_margin * size)))
        cover = cv2.dilate(cover, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)).astype(bool)
        return frozenset(name for name, mask in self._masks.items()
                         if (cover & mask).sum() >= self.config.min_region_share * mask.sum())

    def _patch(self, crop: np.ndarray, name: str) -> np.ndarray:
        y0, y1, x0, x1 = self._boxes[name]
        p = self.config.patch
        patch = cv2.resize(crop[y0:y1, x0:x1], (p, p), interpolation=cv2.INTER_AREA).astype(np.float32)
        return patch - cv2.GaussianBlur(patch, (0, 0), self.config.shading_px)  # structure, not shading

    def departure(self, crop: np.ndarray, name: str) -> tuple[float, float, float] | None:
        """(NCC, mean absolute change, contrast kept) of a region against its reference, over the
        region's own pixels; None before it has a reference."""
        reference = self._reference.get(name)
        if reference is None:
            return None
        inside = self._small_masks[name]
        a = self._patch(crop, name)[inside]
        b = reference[inside]
        change = float(np.abs(a - b).mean())
        a, b = a - a.mean(), b - b.mean()
        denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
        kept = float(a.std() / max(float(b.std()), 1e-6))
        return (float((a * b).sum() / denominator) if denominator > 1e-6 else 0.0), change, kept

    def _appearance(self, crop: np.ndarray, dt: float, *, exclude: frozenset[str]) -> frozenset[str]:
        covered = set()
        ready = self._seen_s >= self.config.warmup_s
        alpha = min(1.0, dt / self.config.reference_s) if dt > 0 else 1.0
        for name in self._masks:
            found = self.departure(crop, name)
            unexplained = ready and found is not None and found[0] < self.config.min_correlation and (
                found[1] > self.config.min_change or found[2] < self.config.max_contrast_kept)
            self._streak[name] = self._streak.get(name, 0) + 1 if unexplained else 0
            if self._streak[name] >= self.config.persist_checks:
                covered.add(name)
            elif not unexplained and name not in exclude:  # the reference learns only what is uncovered
                patch = self._patch(crop, name)
                reference = self._reference.get(name)
                self._reference[name] = patch if reference is None else reference + alpha * (patch - reference)
        if not covered and not exclude:
            self._seen_s += dt
        return frozenset(covered)

    def close(self) -> None:
        if self._hands is not None:
            self._hands.close()
            self._hands = None
