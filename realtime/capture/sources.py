"""Frame sources: a video file, an image folder, a camera. The pipeline sees only `Frame`s.

Time always comes from the source: container timestamps for files, capture time for cameras,
a stated rate for image folders (which carry no time). Live and offline runs differ only here
and in their sinks.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from realtime.capture.video_io import VideoInfo, read_video
from realtime.core.errors import InputError, VideoError
from realtime.core.frame import DEFAULT_FPS, Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
CASME2_LONG_FPS = 30.0  # CAS(ME)^2 long videos were recorded at 30 fps
SAMM_LONG_FPS = 200.0  # SAMM long videos were recorded at 200 fps
# Frame folders that carry their release's rate: the folder two levels up (CAS(ME)^2:
# rawpic/s15/15_0101disgustingteeth) or one level up (SAMM: SAMM_longvideos/006_1), and the rate.
RELEASE_RATES = ((2, "rawpic", CASME2_LONG_FPS), (2, "cropped_rawpic", CASME2_LONG_FPS),
                 (1, "samm_longvideos", SAMM_LONG_FPS), (1, "cropped_samm_longvideos", SAMM_LONG_FPS))


@dataclass(frozen=True)
class SourceInfo:
    """What the pipeline needs to know about a source before the first frame."""

    name: str  # file stem or "camera0"; names the output folder
    fps: float | None  # nominal rate; None when unknown (times still come with each frame)
    width: int
    height: int
    num_frames: int | None  # None for cameras and files that do not say
    live: bool  # True for cameras: frames may be dropped, time is wall-clock


class Source:
    """Base: iterate for frames, close when done (context manager)."""

    info: SourceInfo
    dropped_frames: int = 0

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file; safe to call twice."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class VideoFileSource(Source):
    """A recorded video, decoded as fast as the pipeline consumes it."""

    def __init__(self, path: str | Path) -> None:
        video = VideoInfo.from_video_path(path)
        self.path = video.path
        self.info = SourceInfo(name=video.path.stem, fps=video.fps, width=video.width, height=video.height,
                               num_frames=video.num_frames, live=False)

    def __iter__(self) -> Iterator[Frame]:
        return read_video(self.path)


def natural_key(name: str) -> tuple[object, ...]:
    """'img2' before 'img10': digit runs compare as numbers (the release readers' natural sort)."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def release_fps(folder: Path) -> float | None:
    """The frame rate a long-video release's frame folder carries by where it sits; None elsewhere."""
    parents = [parent.name.lower() for parent in Path(folder).absolute().parents]
    for depth, name, fps in RELEASE_RATES:
        if len(parents) >= depth and parents[depth - 1] == name:
            return fps
    return None


class ImageFolderSource(Source):
    """A folder of frames (e.g. a dataset clip), in numeric order, at a stated frame rate."""

    def __init__(self, folder: str | Path, *, fps: float) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError(f"{self.folder}: no such image folder")
        self.files = sorted((p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                            key=lambda p: natural_key(p.name))
        if not self.files:
            raise InputError(f"{self.folder}: contains no images ({', '.join(IMAGE_SUFFIXES)})")
        if fps <= 0:
            raise InputError(f"{self.folder}: frame rate must be positive, got {fps}")
        first = self._read(self.files[0])
        self.fps = fps
        self.info = SourceInfo(name=self.folder.name, fps=fps, width=first.shape[1], height=first.shape[0],
                               num_frames=len(self.files), live=False)

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise VideoError(f"{path}: cannot be read as an image")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.files):
            yield Frame(image=self._read(path), index=index, t_s=index / self.fps)


@dataclass(frozen=True)
class CameraConfig:
    """Capture settings; the camera may not grant them, so the granted values are logged."""

    width: int = 640
    height: int = 480
    fps: float = DEFAULT_FPS  # high-frame-rate cameras: ask for 100-200
    queue_frames: int = 8  # frames held for a slow consumer before the oldest is dropped


class CameraSource(Source):
    """A camera (or a video file played at its own rate) read on its own capture thread.

    Timestamps are taken at capture. The consumer never blocks capture: when it falls behind,
    the oldest queued frame is dropped and counted in `dropped_frames`. A camera that fails to
    open raises `VideoError` at once; one that disappears mid-run ends the stream with
    `VideoError` after the frames already captured, so sinks still close complete files.
    """

    _END = object()

    def __init__(self, camera: int | str | Path, config: CameraConfig = CameraConfig()) -> None:
        self.config = config
        self._queue: queue.Queue = queue.Queue(maxsize=config.queue_frames)
        self._stop = threading.Event()
        self._error: VideoError | None = None
        self.dropped_frames = 0
        is_file = not isinstance(camera, int)
        self._file = Path(camera) if is_file else None
        if self._file is not None:
            video = VideoInfo.from_video_path(self._file)
            self.info = SourceInfo(name=self._file.stem, fps=video.fps, width=video.width, height=video.height,
                                   num_frames=None, live=True)
            self._capture = None
        else:
            capture = cv2.VideoCapture(int(camera))
            if not capture.isOpened():
                raise VideoError(f"camera {camera}: cannot be opened (no such device, or in use)")
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
            capture.set(cv2.CAP_PROP_FPS, config.fps)
            granted = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                       capture.get(cv2.CAP_PROP_FPS) or None)
            log.info("camera %s: %dx%d at %s fps", camera, granted[0], granted[1], granted[2])
            self.info = SourceInfo(name=f"camera{camera}", fps=granted[2], width=granted[0], height=granted[1],
                                   num_frames=None, live=True)
            self._capture = capture
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def _put(self, frame: Frame) -> None:
        while True:
            try:
                self._queue.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped_frames += 1
                except queue.Empty:
                    pass

    def _frames(self) -> Iterator[tuple[np.ndarray, float]]:
        """(RGB image, capture time in s since the first frame) from the device or file."""
        if self._file is not None:
            start = time.monotonic()
            for frame in read_video(self._file):
                delay = start + frame.t_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                yield frame.image, frame.t_s
            return
        assert self._capture is not None
        start = None
        while not self._stop.is_set():
            ok, bgr = self._capture.read()
            now = time.monotonic()
            if not ok:
                raise VideoError(f"{self.info.name}: stopped delivering frames (disconnected?)")
            start = now if start is None else start
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), now - start

    def _run(self) -> None:
        index = 0
        try:
            for image, t_s in self._frames():
                if self._stop.is_set():
                    break
                self._put(Frame(image=image, index=index, t_s=t_s))
                index += 1
        except VideoError as exc:
            self._error = exc
        finally:
            self._put(self._END)  # type: ignore[arg-type]

    def ready(self) -> bool:
        """Whether a frame (or the end) is waiting, so that taking the next one would not block."""
        return not self._queue.empty()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            item = self._queue.get()
            if item is self._END:
                break
            yield item
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            try:  # unblock a capture thread waiting on a full queue
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=2.0)
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def open_source(spec: str | Path, *, fps: float | None = None) -> Source:
    """A video file or an image folder, by what the path is.

    A folder's rate: `fps` when given, else its release's (`release_fps`), else DEFAULT_FPS.
    """
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, fps=fps or release_fps(path) or DEFAULT_FPS)
    return VideoFileSource(path)
