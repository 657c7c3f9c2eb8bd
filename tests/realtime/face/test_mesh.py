"""MediaPipe wrappers: real graphs on the scikit-image astronaut and on images made with numpy."""

from __future__ import annotations

import mediapipe as mp
import numpy as np
import pytest
import skimage.data
from mediapipe.framework.formats import landmark_pb2

from realtime.core.errors import InputError
from realtime.face.mesh import (NUM_LANDMARKS, FaceDetection, FaceDetector, FaceMesh, choose_face, find_landmarks,
                                isolate_face, landmarks_to_pixels)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()  # (512, 512, 3) RGB uint8, one face near (225, 125)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    with FaceDetector(min_score=0.5) as det:
        yield det


def test_detector_finds_the_one_face_and_nothing_in_blank_images(detector: FaceDetector,
                                                                 astronaut: np.ndarray) -> None:
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert 150 < (x0 + x1) / 2 < 300 and 60 < (y0 + y1) / 2 < 200
    assert faces[0].score > 0.8
    assert detector.detect(np.zeros((240, 320, 3), np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert detector.detect(noise) == []


def test_mesh_landmarks_are_pixels_on_the_face(astronaut: np.ndarray) -> None:
    with FaceMesh(static_image_mode=True) as mesh:
        landmarks = mesh.process(astronaut)
        assert mesh.process(np.full((200, 200, 3), 90, np.uint8)) is None
    assert landmarks is not None and landmarks.shape == (NUM_LANDMARKS, 2) and landmarks.dtype == np.float32
    # the astronaut's nose tip (1) lies between her inner eye corners (133, 362) and below them
    assert landmarks[133, 0] < landmarks[1, 0] < landmarks[362, 0]
    assert landmarks[1, 1] > landmarks[133, 1] + 10


def test_mesh_gives_mediapipes_own_landmarks_in_stream_mode(astronaut: np.ndarray) -> None:
    """The mesh drives MediaPipe's graph itself (no per-call namedtuple, no protobuf objects): on a
    moving face, frame after frame in tracking mode, its landmarks are MediaPipe's, bit for bit."""
    frames = [np.roll(astronaut, (dy, dx), axis=(0, 1)) for dx, dy in ((0, 0), (3, 1), (6, 2), (9, 3), (9, 3))]
    with FaceMesh(static_image_mode=False) as mesh, mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=False) as reference:
        found = 0
        for image in frames + [np.full((200, 200, 3), 90, np.uint8)]:
            ours = mesh.process(image)
            theirs = reference.process(image).multi_face_landmarks
            if theirs is None:
                assert ours is None
                continue
            h, w = image.shape[:2]
            expected = np.array([(p.x * w, p.y * h) for p in theirs[0].landmark], np.float32)
            assert ours is not None
            np.testing.assert_array_equal(ours, expected)
            found += 1
    assert found == len(frames)  # the face on every frame, none on the grey one


def test_fast_landmark_decoding_equals_the_protobuf_fields() -> None:
    rng = np.random.default_rng(1)
    values = rng.random((NUM_LANDMARKS, 3)).astype(np.float32)
    values[0] = 0.0  # proto2 still writes zeros
    message = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in values:
        message.landmark.add(x=x, y=y, z=z)
    fast = landmarks_to_pixels(message.SerializeToString(), 640, 480)
    np.testing.assert_allclose(fast, values[:, :2] * [640, 480], rtol=1e-6)
    message.landmark[5].visibility = 0.5  # another wire layout: the slow path must take over
    slow = landmarks_to_pixels(message.SerializeToString(), 640, 480)
    np.testing.assert_allclose(slow, fast, rtol=1e-6)


def _detection(x0: float, width: float, score: float = 0.9) -> FaceDetection:
    return FaceDetection(box=(x0, 10.0, x0 + width, 10.0 + width), score=score)


def test_choose_face_rules() -> None:
    faces = [_detection(0, 50), _detection(100, 80), _detection(300, 60)]  # left to right
    assert choose_face(faces, "largest") is faces[1]
    assert choose_face(faces, "left") is faces[0]
    assert choose_face(faces, "right") is faces[2]
    assert choose_face(faces, 2) is faces[2]
    assert choose_face(faces, 3) is None
    assert choose_face([], "largest") is None
    with pytest.raises(InputError, match="middle"):
        choose_face(faces, "middle")
    with pytest.raises(InputError):
        choose_face(faces, True)


def test_isolate_face_greys_out_only_the_others() -> None:
    image = np.full((100, 300, 3), 200, np.uint8)
    keep, other = _detection(20, 60), _detection(200, 60)
    out = isolate_face(image, [keep, other], keep)
    assert out is not image and (image == 200).all()  # the input is untouched
    assert (out[10:70, 20:80] == 200).all()
    assert (out[10:70, 200:260] == 128).all()
    assert isolate_face(image, [keep], keep) is image  # nothing to hide: no copy


def test_find_landmarks_picks_the_requested_face(astronaut: np.ndarray) -> None:
    head = astronaut[20:300, 90:370]  # (280, 280, 3)
    canvas = np.full((280, 560, 3), 128, np.uint8)
    canvas[:, :280] = head
    canvas[:, 280:] = head[:, ::-1]  # a mirrored twin on the right, same size and score
    left = find_landmarks(canvas, face="left")
    right = find_landmarks(canvas, face="right")
    assert left is not None and right is not None
    assert left[:, 0].max() < 280 < right[:, 0].min()
    assert find_landmarks(canvas, face=2) is None
    with pytest.raises(InputError, match="RGB uint8"):
        find_landmarks(canvas.astype(np.float32))
