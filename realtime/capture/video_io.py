"""Reading and writing video files with PyAV.

Time comes from the container's timestamps, never from an assumed rate: a variable-rate or
unlabelled file still yields the true time of every frame. Writing uses H.264 (libx264,
yuv420p) because OpenCV's wheels have no H.264 encoder, and mp4v neither plays in browsers
nor keeps the fine sensor noise that micro-expression motion sits in.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np

from realtime.core.errors import VideoError
from realtime.core.frame import DEFAULT_FPS, Frame


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself; `fps` is None when the file does not say."""

    path: Path
    width: int
    height: int
    fps: float | None
    num_frames: int | None  # container's count; may be missing or approximate

    @classmethod
    def from_video_path(cls, path: str | Path) -> VideoInfo:
        path = Path(path)
        container = _open(path)
        try:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            return cls(path=path, width=stream.codec_context.width, height=stream.codec_context.height,
                       fps=float(rate) if rate else None, num_frames=stream.frames or None)
        finally:
            container.close()


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(f"{path}: cannot be read as a video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: contains no video stream")
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):  # FFmpeg's image demuxers
        kind = container.format.name.removesuffix("_pipe")
        container.close()
        raise VideoError(f"{path}: a still image ({kind}), not a video: micro-expressions need motion "
                         f"(give a video file, or a folder of frames)")
    return container


def read_video(path: str | Path) -> Iterator[Frame]:
    """Yield every decodable frame of a video file as RGB with its timestamp.

    A file that breaks off mid-stream (truncated download, killed recorder) ends the iteration
    with a `VideoError` naming the frame it stopped at; the frames before it were yielded.
    """
    path = Path(path)
    container = _open(path)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    index = 0
    first_pts: float | None = None
    try:
        for frame in container.decode(stream):
            t = frame.time
            if t is None:  # no timestamps at all: fall back to the nominal rate, else DEFAULT_FPS
                rate = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
                t = index / float(rate)
            first_pts = t if first_pts is None else first_pts
            # swscale on this thread alone: its default, a slice thread per core, costs ~20 % more CPU for the
            # same pixels, on cores the face mesh and the frame thread already share
            yield Frame(image=frame.to_ndarray(format="rgb24", threads=1), index=index, t_s=float(t - first_pts))
            index += 1
    except av.error.FFmpegError as exc:
        raise VideoError(f"{path}: decoding stopped after frame {index} ({exc})") from exc
    finally:
        container.close()
    if index == 0:
        raise VideoError(f"{path}: no frame could be decoded")


class VideoWriter:
    """H.264 writer; a context manager so that a crash or Ctrl-C still leaves a playable file."""

    def __init__(self, path: str | Path, fps: float, *, crf: int = 18, preset: str = "medium",
                 threads: int | None = None, reproducible: bool = False, opencv_yuv: bool = False) -> None:
        """`reproducible`: the same frames give the same file on every run, whatever the machine's core
        count. x264's MB-tree rate control gave other bytes on every encode of the same frames here (5 of
        5 distinct, even on one thread), and its output depends on its thread count (by default, the
        machine's cores); so MB-tree off and one thread (files 2-4x as large at the same crf here).

        `opencv_yuv`: RGB to YUV 4:2:0 by OpenCV, 0.4 ms a 640x690 frame, instead of PyAV's copy into
        an RGB frame and swscale, 3.3 ms (more than half of x264 veryfast's own 5.3 ms). The same luma
        within one level and chroma averaged over 2x2 pixels, so other bytes: what was made with
        swscale (mer-synth's videos, whose bytes the held-out sets are) stays with it."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._rate = Fraction(fps).limit_denominator(1001)
        self._options = {"crf": str(crf), "preset": preset}  # preset: "veryfast" where encoding is on a hot path
        self._opencv_yuv = opencv_yuv
        if reproducible:
            threads = 1
            self._options["x264-params"] = "mbtree=0"
        if threads is not None:
            self._options["threads"] = str(threads)
        self._container: av.container.OutputContainer | None = av.open(str(self.path), "w")
        self._stream: av.video.stream.VideoStream | None = None
        self.frames_written = 0

    def write(self, image: np.ndarray) -> None:
        """Append one (H, W, 3) RGB or (H, W) grey uint8 image; sizes must stay the same."""
        if self._container is None:
            raise VideoError(f"{self.path}: writer is closed")
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        if self._stream is None:
            stream = self._container.add_stream("libx264", rate=self._rate)
            stream.height, stream.width = image.shape[0] & ~1, image.shape[1] & ~1  # yuv420p needs even sides
            stream.pix_fmt = "yuv420p"
            stream.options = self._options
            self._stream = stream
        image = np.ascontiguousarray(image[: self._stream.height, : self._stream.width])
        if self._opencv_yuv:
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        if self._container is None:
            return
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class BackgroundVideoWriter:
    """A VideoWriter that encodes on its own thread, so that the caller (mer-synth's renderer, the
    pipeline's frame thread) goes on while x264, which releases the GIL, encodes the frames before:
    the same frames in the same order, so the same file. An encoding error is raised by the next
    `write` or by `close`."""

    def __init__(self, writer: VideoWriter, *, queued_frames: int = 4) -> None:
        self._writer = writer
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=queued_frames)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode, name="video-encoder", daemon=True)
        self._thread.start()

    def _encode(self) -> None:
        while (image := self._queue.get()) is not None:
            if self._error is None:  # after an error, only drain: `write` must never block for good
                try:
                    self._writer.write(image)
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc

    def write(self, image: np.ndarray) -> None:
        """Queue `image`; it must not change afterwards (the encoder reads it later)."""
        if self._error is not None:
            raise self._error
        self._queue.put(image)

    def close(self) -> None:
        """Encode what is queued, finish the file, and raise the encoder's error if it had one."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._writer.close()
        if self._error is not None:
            raise self._error

    @property
    def frames_written(self) -> int:
        return self._writer.frames_written

    def __enter__(self) -> BackgroundVideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def annotated_video_writer(path: str | Path, fps: float) -> BackgroundVideoWriter:
    """The writer of video drawn while the pipeline runs (mer-process's annotated.mp4, mer-live's
    recording): x264's veryfast preset, colours converted by OpenCV, encoded off the frame thread
    (overlays are new arrays)."""
    return BackgroundVideoWriter(VideoWriter(path, fps, preset="veryfast", opencv_yuv=True))
