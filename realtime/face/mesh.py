"""MediaPipe's face mesh and face detector as small stages that speak numpy pixels.

We use MediaPipe 0.10.21's legacy solutions (`mp.solutions.face_mesh`,
`mp.solutions.face_detection`) because their models ship inside the wheel; the newer Tasks API
needs model files downloaded at run time. Both return protobuf messages in coordinates
normalised to the image; here they become pixel arrays once, with no per-landmark Python loop.

The legacy mesh gives no per-face score, so confidence comes from the detector (BlazeFace
short range, the same model the mesh runs internally to acquire a face). The mesh also picks
its face by itself (the best detection); `isolate_face` lets a caller hand it one chosen face.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import mediapipe as mp
import numpy as np
from mediapipe.framework.formats import landmark_pb2
from mediapipe.python import packet_creator
from mediapipe.python._framework_bindings import _packet_getter, image_frame

from realtime.core.errors import InputError

log = logging.getLogger(__name__)

NUM_LANDMARKS = 468  # the legacy mesh without iris refinement

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in image px

# One NormalizedLandmark as protobuf serialises it (proto2, x y z set, no visibility/presence):
# field tag 0x0a, length 15, then 0x0d x, 0x15 y, 0x1d z as little-endian floats: 17 bytes.
_LANDMARK_RECORD = np.dtype([("tag", "u1"), ("length", "u1"), ("tag_x", "u1"), ("x", "<f4"),
                             ("tag_y", "u1"), ("y", "<f4"), ("tag_z", "u1"), ("z", "<f4")])
_HIDE_GROW = 1.25  # a hidden face's box is grown by this factor so its outline goes too
_HIDE_GREY = 128  # mid-grey: looks like no face to BlazeFace


@dataclass(frozen=True)
class FaceDetection:
    """One face found by the detector."""

    box: Box  # x0, y0, x1, y1 in image px (may reach past the image border)
    score: float  # BlazeFace score, 0..1

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


def check_rgb(image: np.ndarray) -> np.ndarray:
    """Return `image` if it is an (H, W, 3) uint8 array, else raise InputError naming its shape."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise InputError(f"expected an (H, W, 3) RGB uint8 image, got shape {shape} of {dtype}")
    return image


class FaceDetector:
    """BlazeFace short-range detector: every face in an image with its score, left to right."""

    def __init__(self, *, min_score: float = 0.5) -> None:
        self._detector = mp.solutions.face_detection.FaceDetection(
            min_detection_confidence=min_score, model_selection=0)

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces in an (H, W, 3) RGB uint8 image, sorted by box centre from left to right."""
        height, width = check_rgb(image).shape[:2]
        found = []
        for detection in self._detector.process(image).detections or ():
            rel = detection.location_data.relative_bounding_box
            x0, y0 = rel.xmin * width, rel.ymin * height
            box = (x0, y0, x0 + rel.width * width, y0 + rel.height * height)
            found.append(FaceDetection(box=box, score=float(detection.score[0])))
        return sorted(found, key=lambda d: d.centre[0])

    def close(self) -> None:
        """Release the graph; closing twice is harmless."""
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class FaceMesh:
    """The 468-point face mesh of one face, in image pixels.

    In stream mode (`static_image_mode=False`) MediaPipe tracks the face from the previous
    frame's landmarks and runs its own detector only when it has no face; `reset()` forgets the
    face so that the next frame starts afresh. Acquiring among several faces, it takes the one
    its detector scores best: pass `isolate_face(...)` of the frame to make it take another.
    """

    def __init__(self, *, static_image_mode: bool, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static_image_mode, max_num_faces=1, refine_landmarks=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence)

    def process(self, image: np.ndarray) -> np.ndarray | None:
        """(468, 2) float32 x, y in image px of the face in an (H, W, 3) RGB uint8 image, or None."""
        height, width = check_rgb(image).shape[:2]
        raw = _first_face(self._mesh, image)
        return None if raw is None else landmarks_to_pixels(raw, width, height)

    def reset(self) -> None:
        """Forget the tracked face (restarts the graph, ~2 ms)."""
        self._mesh.reset()

    def close(self) -> None:
        """Release the graph; closing twice is harmless."""
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def __enter__(self) -> FaceMesh:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _first_face(solution: mp.solutions.face_mesh.FaceMesh, image: np.ndarray) -> bytes | None:
    """The serialised NormalizedLandmarkList of the first face in `image`, or None.

    What `SolutionBase.process` does for one image in and one list of faces out (MediaPipe
    0.10.21), less what it adds on every call under the GIL: a new namedtuple class (`eval` of
    its source) and every face parsed into Python protobuf objects, ~0.3 ms a frame that the
    frame thread waits for while the align-ahead thread holds the GIL.
    """
    solution._graph_outputs.clear()
    solution._simulated_timestamp += 33333  # as SolutionBase: a 30 fps clock, the mesh's tracking needs it to advance
    packet = packet_creator.create_image(image, image_format=image_frame.ImageFormat.SRGB)
    solution._graph.add_packet_to_input_stream(stream="image", packet=packet.at(solution._simulated_timestamp))
    solution._graph.wait_until_idle()
    faces = solution._graph_outputs.get("multi_face_landmarks")
    if faces is None or faces.is_empty():
        return None
    serialised = _packet_getter._get_serialized_proto_list(faces)
    return serialised[0] if serialised else None


def landmarks_to_pixels(raw: bytes, width: int, height: int) -> np.ndarray:
    """A serialised NormalizedLandmarkList -> (N, 2) float32 image px.

    Reads the bytes as a numpy record array (~15 us for 468 points, against ~160 us for a
    Python loop over the protobuf objects); falls back to parsing them if the wire layout is
    not the expected one.
    """
    count = len(raw) // _LANDMARK_RECORD.itemsize
    out = np.empty((count, 2), np.float32)
    records = np.frombuffer(raw, _LANDMARK_RECORD) if len(raw) % _LANDMARK_RECORD.itemsize == 0 else None
    if (records is not None and (records["tag"] == 0x0A).all() and (records["length"] == 15).all()
            and (records["tag_x"] == 0x0D).all() and (records["tag_y"] == 0x15).all()):
        np.multiply(records["x"], width, out=out[:, 0])
        np.multiply(records["y"], height, out=out[:, 1])
        return out
    points = landmark_pb2.NormalizedLandmarkList.FromString(raw).landmark
    return np.array([(p.x * width, p.y * height) for p in points], np.float32).reshape(-1, 2)


def choose_face(detections: Sequence[FaceDetection], face: str | int) -> FaceDetection | None:
    """The face a user asked for among detections sorted left to right, or None.

    `face`: "largest" (box area), "left" / "right" (as seen in the image), or an int index
    counted from the left; an index past the faces present gives None.
    """
    if isinstance(face, int) and not isinstance(face, bool):  # bool is an int, but no face index
        return detections[face] if 0 <= face < len(detections) else None
    if face not in ("largest", "left", "right"):
        raise InputError(f"face choice must be 'largest', 'left', 'right' or an index, got {face!r}")
    if not detections:
        return None
    if face == "largest":
        return max(detections, key=lambda d: d.area)
    elif face == "left":
        return detections[0]
    else:  # "right"
        return detections[-1]


def isolate_face(image: np.ndarray, detections: Sequence[FaceDetection],
                 chosen: FaceDetection) -> np.ndarray:
    """`image` with every face but `chosen` painted grey, so the mesh can only find that one.

    Returns `image` itself (no copy) when there is no other face. The chosen face's own box is
    never painted, even where a neighbour's grown box overlaps it.
    """
    others = [d for d in detections if d is not chosen]
    if not others:
        return image
    height, width = image.shape[:2]
    out = image.copy()
    for other in others:
        x0, y0, x1, y1 = _grown(other.box, _HIDE_GROW, width, height)
        out[y0:y1, x0:x1] = _HIDE_GREY
    x0, y0, x1, y1 = _grown(chosen.box, 1.0, width, height)
    out[y0:y1, x0:x1] = image[y0:y1, x0:x1]
    return out


def _grown(box: Box, factor: float, width: int, height: int) -> tuple[int, int, int, int]:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * factor / 2, (box[3] - box[1]) * factor / 2
    return (max(0, int(cx - hw)), max(0, int(cy - hh)),
            min(width, int(np.ceil(cx + hw))), min(height, int(np.ceil(cy + hh))))


def inside(point: np.ndarray, box: Box) -> bool:
    """Whether an (x, y) point lies in a box."""
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


def find_landmarks(image: np.ndarray, *, face: str | int = "largest",
                   min_score: float = 0.5) -> np.ndarray | None:
    """(468, 2) float32 image-px landmarks of the chosen face in one still photo, or None.

    For a few photos (e.g. synthetic-data sources); it builds and closes the MediaPipe graphs
    on each call. Use `FaceAligner` for streams.
    """
    image = check_rgb(image)
    with FaceDetector(min_score=min_score) as detector, \
            FaceMesh(static_image_mode=True, min_detection_confidence=min_score) as mesh:
        detections = detector.detect(image)
        chosen = choose_face(detections, face)
        if chosen is None:
            return None
        landmarks = mesh.process(isolate_face(image, detections, chosen))
    if landmarks is None or not inside(landmarks.mean(axis=0), chosen.box):
        log.debug("face mesh found no face inside the chosen detection %s", chosen.box)
        return None
    return landmarks
