"""Sources: files, image folders and cameras all yield Frames with the source's own time."""

from __future__ import annotations

import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from realtime.capture.sources import (CameraConfig, CameraSource, ImageFolderSource, VideoFileSource, open_source,
                                     release_fps)
from realtime.capture.video_io import BackgroundVideoWriter, VideoWriter, read_video
from realtime.core.errors import InputError, VideoError


def _video(path: Path, num: int, fps: float) -> Path:
    with VideoWriter(path, fps) as writer:
        for i in range(num):
            writer.write(np.full((48, 64, 3), (i * 7) % 255, np.uint8))
    return path


def test_video_file_source_reports_rate_and_timestamps(tmp_path: Path) -> None:
    source = open_source(_video(tmp_path / "clip.mp4", 20, 100.0))
    assert isinstance(source, VideoFileSource)
    assert source.info.fps == pytest.approx(100.0) and source.info.name == "clip"
    frames = list(source)
    assert [f.index for f in frames] == list(range(20))
    assert frames[-1].t_s == pytest.approx(0.19, abs=1e-6)


def test_frames_are_pyavs_own_rgb_conversion_to_the_byte(tmp_path: Path) -> None:
    """read_video converts on one thread: the same pixels as PyAV's default (threaded) conversion."""
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.mp4"
    with VideoWriter(path, 30.0) as writer:
        for _ in range(6):
            writer.write(cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (0, 0), 2))
    with av.open(str(path)) as container:
        expected = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    got = [frame.image for frame in read_video(path)]
    assert len(got) == len(expected) == 6
    assert all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True))


def test_opencv_colour_conversion_keeps_the_colours_of_swscale(tmp_path: Path) -> None:
    """The annotated video's writer converts RGB to YUV with OpenCV: decoded, its frames are as close to
    what went in as those of PyAV's own conversion, with no colour cast."""
    from skimage import data

    photo = cv2.resize(data.astronaut(), (640, 480))
    frames = [np.roll(photo, 3 * i, axis=1) for i in range(8)]
    error, bias = {}, {}
    for opencv in (False, True):
        path = tmp_path / f"opencv_{opencv}.mp4"
        with VideoWriter(path, 30.0, preset="veryfast", opencv_yuv=opencv) as writer:
            for frame in frames:
                writer.write(frame)
        diffs = [got.image.astype(int) - sent.astype(int) for got, sent in zip(read_video(path), frames, strict=True)]
        error[opencv] = np.mean([np.abs(d).mean() for d in diffs])
        bias[opencv] = np.mean([d.mean(axis=(0, 1)) for d in diffs], axis=0)  # per channel: a cast shows here
    assert error[True] <= error[False] + 0.2, error
    np.testing.assert_allclose(bias[True], bias[False], atol=0.5)


def test_background_writer_writes_the_same_file_and_hands_errors_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(12)]
    with VideoWriter(tmp_path / "plain.mp4", 50.0, reproducible=True) as writer:
        for frame in frames:
            writer.write(frame)
    with BackgroundVideoWriter(VideoWriter(tmp_path / "threaded.mp4", 50.0, reproducible=True),
                               queued_frames=2) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.frames_written == 12
    assert (tmp_path / "threaded.mp4").read_bytes() == (tmp_path / "plain.mp4").read_bytes()

    writer = BackgroundVideoWriter(VideoWriter(tmp_path / "bad.mp4", 50.0))
    writer.write(frames[0])
    writer.write(np.zeros((96, 128, 4), np.uint8))  # not RGB: the encoder thread fails on it
    with pytest.raises(ValueError):
        for frame in frames:  # the error comes back on a later write, or at close
            writer.write(frame)
        writer.close()
    with pytest.raises(ValueError):
        writer.close()  # the file is finished all the same, and the error stays reported
    assert sum(1 for _ in read_video(tmp_path / "bad.mp4")) >= 1


def test_image_folder_is_read_in_numeric_order(tmp_path: Path) -> None:
    for n in (9, 10, 100, 11):
        cv2.imwrite(str(tmp_path / f"img{n}.jpg"), np.full((8, 8, 3), n, np.uint8))
    source = ImageFolderSource(tmp_path, fps=200)
    assert [p.name for p in source.files] == ["img9.jpg", "img10.jpg", "img11.jpg", "img100.jpg"]
    assert [f.t_s for f in source] == pytest.approx([0, 0.005, 0.01, 0.015])


def test_empty_folder_and_missing_file_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=str(tmp_path)):
        ImageFolderSource(tmp_path, fps=30)
    with pytest.raises(VideoError, match="nope.mp4: no such video file"):
        open_source(tmp_path / "nope.mp4")
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    with pytest.raises(VideoError, match="bad.mp4"):
        open_source(tmp_path / "bad.mp4")


def test_camera_file_plays_at_its_own_rate(tmp_path: Path) -> None:
    path = _video(tmp_path / "cam.mp4", 15, 30.0)
    start = time.monotonic()
    with CameraSource(path) as camera:
        frames = list(camera)
    assert len(frames) == 15 and camera.dropped_frames == 0
    assert time.monotonic() - start >= 14 / 30 * 0.9  # paced like a camera, not decoded flat out


def test_a_slow_consumer_drops_the_oldest_frames_and_counts_them(tmp_path: Path) -> None:
    path = _video(tmp_path / "fast.mp4", 60, 200.0)
    with CameraSource(path, CameraConfig(queue_frames=4)) as camera:
        frames = []
        for frame in camera:
            frames.append(frame)
            time.sleep(0.02)
    assert camera.dropped_frames > 0
    assert len(frames) + camera.dropped_frames == 60
    assert all(a.index < b.index for a, b in zip(frames, frames[1:]))


def test_a_camera_that_cannot_be_opened_says_so() -> None:
    with pytest.raises(VideoError, match="camera 97: cannot be opened"):
        CameraSource(97)


def test_release_folders_carry_their_rate(tmp_path: Path) -> None:
    casme = tmp_path / "rawpic" / "s15" / "15_0101disgustingteeth"
    samm = tmp_path / "SAMM_longvideos" / "006_1"
    plain = tmp_path / "clip"
    for folder in (casme, samm, plain):
        folder.mkdir(parents=True)
        for name in ("img10.jpg", "img2.jpg", "img1.jpg"):
            cv2.imwrite(str(folder / name), np.full((8, 8, 3), 128, np.uint8))
    assert (release_fps(casme), release_fps(samm), release_fps(plain)) == (30.0, 200.0, None)
    with open_source(samm) as source:
        assert source.info.fps == 200.0 and [f.name for f in source.files] == ["img1.jpg", "img2.jpg", "img10.jpg"]
        assert [frame.t_s for frame in source] == [0.0, 0.005, 0.01]
    with open_source(plain, fps=100) as source, open_source(casme, fps=50) as given:
        assert source.info.fps == 100.0 and given.info.fps == 50.0  # --fps wins
