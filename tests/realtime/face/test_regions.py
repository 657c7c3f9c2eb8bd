"""Canonical layout and region masks, checked against a real face aligned by MediaPipe."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from realtime.core.errors import InputError
from realtime.face.aligner import AlignConfig, AlignedFace, FaceAligner
from realtime.face.regions import CANONICAL_LANDMARKS, FACE_OVAL, REGIONS, face_mask, face_region_masks, region_masks

REQUIRED = ("brow_left", "brow_right", "eye_left", "eye_right", "nose", "mouth", "cheek_left",
            "cheek_right", "chin", "forehead")


@pytest.fixture(scope="module")
def aligned_astronaut() -> AlignedFace:
    with FaceAligner(AlignConfig(static_image_mode=True)) as aligner:
        face = aligner.process(skimage.data.astronaut())
    assert face.found
    return face


def test_regions_name_valid_mesh_points() -> None:
    assert set(REQUIRED) <= set(REGIONS)
    for name, points in REGIONS.items():
        assert len(points) >= 3, name
        assert all(0 <= i < 468 for i in points), name


def test_canonical_layout_holds_the_whole_face_level_and_symmetric() -> None:
    assert CANONICAL_LANDMARKS.shape == (468, 2)
    assert CANONICAL_LANDMARKS.min() > 0.05 and CANONICAL_LANDMARKS.max() < 0.95
    top, chin = CANONICAL_LANDMARKS[10], CANONICAL_LANDMARKS[152]
    assert top[1] < 0.1 and chin[1] > 0.85  # forehead to chin fills the height
    assert CANONICAL_LANDMARKS[133, 1] == pytest.approx(CANONICAL_LANDMARKS[362, 1], abs=1e-4)  # eyes level
    assert 1 - CANONICAL_LANDMARKS[133, 0] == pytest.approx(CANONICAL_LANDMARKS[362, 0], abs=1e-4)
    with pytest.raises(ValueError):
        CANONICAL_LANDMARKS[0, 0] = 0.5  # shared by everyone: read-only


def test_masks_are_mirror_pairs_on_the_subjects_own_side() -> None:
    size = 224
    masks = region_masks(size)
    assert set(masks) == set(REGIONS)
    for name in ("brow", "eye", "cheek"):
        left, right = masks[f"{name}_left"], masks[f"{name}_right"]
        mirrored = left[:, ::-1]
        iou = (mirrored & right).sum() / (mirrored | right).sum()
        assert iou > 0.9, name
        # the subject's left appears on the right of an unmirrored image
        assert np.nonzero(left)[1].mean() > size / 2 > np.nonzero(right)[1].mean()
    for name, mask in masks.items():
        assert mask.dtype == bool and mask.shape == (size, size)
        assert 0.005 < mask.mean() < 0.1, name
    assert not masks["mouth"].flags.writeable


def test_regions_fall_inside_the_face_and_scale_with_size() -> None:
    face = face_mask(224)
    assert 0.35 < face.mean() < 0.6
    for name, mask in region_masks(224).items():
        assert (mask & face).sum() / mask.sum() > 0.8, name  # the forehead's margin pokes over the top
    small = region_masks(112)["mouth"]
    assert small.shape == (112, 112)
    assert small.sum() == pytest.approx(region_masks(224)["mouth"].sum() / 4, rel=0.1)
    with pytest.raises(InputError, match="crop size"):
        region_masks(8)


def test_canonical_regions_sit_on_a_real_aligned_face(aligned_astronaut: AlignedFace) -> None:
    size = 224
    masks = region_masks(size)
    landmarks = aligned_astronaut.landmarks  # (468, 2) crop px
    assert (landmarks >= 0).all() and (landmarks < size).all()  # whole face inside the crop
    for name, points in REGIONS.items():
        x, y = np.round(landmarks[list(points)].mean(axis=0)).astype(int)
        assert masks[name][y, x], name  # the centre of her region lies in the canonical one
    x, y = np.round(landmarks[list(FACE_OVAL)]).astype(int).T
    assert face_mask(size)[np.clip(y, 0, size - 1), np.clip(x, 0, size - 1)].mean() >= 0.5


def test_face_region_masks_follow_the_face_given(aligned_astronaut: AlignedFace) -> None:
    size = 224
    canonical = face_region_masks(CANONICAL_LANDMARKS * size, size)
    for name, mask in region_masks(size).items():
        assert np.array_equal(canonical[name], mask), name
    own = face_region_masks(aligned_astronaut.landmarks, size)
    x, y = np.round(aligned_astronaut.landmarks[[61, 291]]).astype(int).T  # her broad smile's corners
    assert own["mouth"][y, x].all()
    with pytest.raises(InputError, match="468, 2"):
        face_region_masks(np.zeros((10, 2)), size)
