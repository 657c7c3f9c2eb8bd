"""The DI cache: computed once, keyed by everything that changes the result, on real frames and MediaPipe."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.data import astronaut

import training.clip_cache as clip_cache
from realtime.core.errors import InputError
from realtime.core.interval import Interval
from realtime.dynamic_images.rank_pooling import DIInputConfig, clip_dynamic_image, phase_dynamic_images
from realtime.face.aligner import AlignConfig
from training.clip_cache import ClipCache, network_inputs, raw_dynamic_images
from training.datasets import Clip

SIZE = 48


def _clip(folder: Path, *, blank: bool = False) -> Clip:
    """Eight frames of the astronaut photo whose mouth corners rise and fall (a crude AU12)."""
    folder.mkdir(parents=True, exist_ok=True)
    face = cv2.resize(astronaut()[0:300, 100:400], (240, 240))  # (240, 240, 3) RGB
    frames = []
    for i, lift in enumerate([0, 0, 1, 2, 3, 2, 1, 0]):
        image = np.zeros_like(face) if blank else face.copy()
        if lift and not blank:
            band = image[150:175, 80:160]
            image[150 - lift:175 - lift, 80:160] = band  # upper lip region moves up by `lift` px
        path = folder / f"img{i + 10}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        frames.append(path)
    return Clip(dataset="casme2", subject="01", clip_id=folder.name, frames=tuple(frames),
                frame_numbers=tuple(range(10, 18)), sheet_frames=Interval(10, 14, 17),
                positions=Interval(0, 4, 7), emotion="happiness", label="happiness", action_units="12")


@pytest.fixture()
def counted_alignments(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = clip_cache.align_frames

    def counting(images, config, times):
        calls.append(config.size)
        return real(images, config, times)

    monkeypatch.setattr(clip_cache, "align_frames", counting)
    return calls


def test_a_clip_is_aligned_once_and_its_dis_come_back_from_disk(tmp_path, counted_alignments) -> None:
    clip = _clip(tmp_path / "data" / "EP01_01")
    cache = ClipCache(tmp_path / "cache", AlignConfig(size=SIZE))
    first = cache(clip)
    assert counted_alignments == [SIZE]
    assert first.face_found == 1.0 and first.num_frames == 8 and first.fps == 200.0
    stack = first.stack()
    assert stack.shape == (8, SIZE, SIZE) and stack.dtype == np.uint8
    frames = stack[:, :, :, None].astype(np.float32)
    di_onset, di_offset = phase_dynamic_images(frames, 0, 4, 7)
    np.testing.assert_allclose(first.dis["di_onset"][0], di_onset, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(first.dis["di_offset"][0], di_offset, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(first.dis["di_clip"][0], clip_dynamic_image(frames, 0, 7), rtol=1e-5, atol=1e-3)
    assert [first.dis[name][1] for name in ("di_onset", "di_offset", "di_clip")] == [5, 4, 8]

    again = ClipCache(tmp_path / "cache", AlignConfig(size=SIZE))(clip)  # a new run, same cache folder
    assert counted_alignments == [SIZE]  # nothing decoded or aligned again
    for name in first.dis:
        np.testing.assert_array_equal(again.dis[name][0], first.dis[name][0])
    assert again.source == first.source


def test_keys_change_with_what_changes_the_result(tmp_path, counted_alignments) -> None:
    clip = _clip(tmp_path / "data" / "EP01_01")
    root = tmp_path / "cache"
    ClipCache(root, AlignConfig(size=SIZE))(clip)
    ClipCache(root, AlignConfig(size=SIZE + 16))(clip)  # another crop size: another stack
    ClipCache(root, AlignConfig(size=SIZE), fps=100.0)(clip)  # another frame rate for the smoother
    assert counted_alignments == [SIZE, SIZE + 16, SIZE]
    moved = ClipCache(root, AlignConfig(size=SIZE))(replace(clip, positions=Interval(0, 3, 7),
                                                            sheet_frames=Interval(10, 13, 17)))
    assert counted_alignments == [SIZE, SIZE + 16, SIZE]  # new phases: new DIs from the cached stack
    assert moved.dis["di_onset"][1] == 4
    np.testing.assert_allclose(moved.dis["di_onset"][0],
                               raw_dynamic_images(moved.stack(), Interval(0, 3, 7))["di_onset"][0])
    image = cv2.imread(str(clip.frames[3]))
    cv2.imwrite(str(clip.frames[3]), cv2.GaussianBlur(image, (5, 5), 0))  # a frame file changed on disk
    ClipCache(root, AlignConfig(size=SIZE))(clip)
    assert counted_alignments == [SIZE, SIZE + 16, SIZE, SIZE]


def test_jittered_phases_recompute_from_the_stack(tmp_path) -> None:
    cached = ClipCache(tmp_path / "cache", AlignConfig(size=SIZE))(_clip(tmp_path / "data" / "EP01_01"))
    assert cached.dynamic_images(Interval(0, 4, 7)) is cached.dis
    shifted = cached.dynamic_images(Interval(1, 3, 6))
    assert [shifted[name][1] for name in ("di_onset", "di_offset", "di_clip")] == [3, 4, 6]
    inputs = network_inputs(shifted, ("di_onset", "di_offset"), DIInputConfig(size=32))
    assert [x.shape for x in inputs] == [(1, 32, 32), (1, 32, 32)]
    with pytest.raises(InputError, match="unknown DI input names"):
        network_inputs(shifted, ("di_apex",), DIInputConfig(size=32))


def test_a_clip_without_a_face_is_refused_by_name(tmp_path) -> None:
    with pytest.raises(InputError, match="EP09_09"):
        ClipCache(tmp_path / "cache", AlignConfig(size=SIZE))(_clip(tmp_path / "data" / "EP09_09", blank=True))
