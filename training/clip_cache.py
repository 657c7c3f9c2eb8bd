"""Each clip's aligned frames and dynamic images, computed once and kept on disk.

Decoding a clip's JPEGs and running MediaPipe on every frame costs far more than an epoch of
training on the DIs, so training never does it twice. For every clip the cache keeps

- the aligned grey stack (T, S, S) uint8 of all the clip's frames, as an .npy file that is
  memory-mapped on load (phase jitter recomputes DIs from it: a DI is one weighted sum), and
- the raw DI-Onset, DI-Offset and whole-clip DI at the coded phases (realtime.dynamic_images.rank_pooling),
  so a run without jitter never touches the stack, and
- any other representation a method needs (realtime.dynamic_images.representations: MI-DI,
  flows, COF, ...), computed from the stack the first time a run asks for it at given phases
  (TV-L1 flow costs far more than a DI) and kept beside the stack, keyed by the phases, the
  RepresentationConfig and a digest of the representations' code.

Keys are SHA-256 digests of everything that changes the result: the stack's key covers the
dataset, subject, clip, every frame file (name, size, modification time), the frame rate handed
to the aligner, the whole AlignConfig and a digest of the aligner's source code; the DIs' key
adds the three phase positions and a digest of realtime.dynamic_images.rank_pooling. A cache folder can
therefore be shared by any number of runs, presets and ablations: a run that changes the crop
size or the alignment makes new entries, one that changes the network does not.
Files are written to a temporary name and renamed, so a killed run never leaves a torn entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

import realtime.face.aligner
import realtime.face.mesh
import realtime.face.stabiliser
from realtime.core.errors import InputError
from realtime.core.interval import Interval
from realtime.face.aligner import AlignConfig, align_frames
import realtime.dynamic_images.rank_pooling
import realtime.dynamic_images.representation_config
import realtime.dynamic_images.representations
from realtime.dynamic_images.rank_pooling import DIInputConfig
from realtime.dynamic_images.representation_config import RepresentationConfig
from realtime.dynamic_images.representations import BUILDER_NAMES, Raw, build_all, network_input
from training.datasets import Clip

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when what is stored, or how it is computed, changes

# Recording rates of the releases; the aligner's temporal smoothing and jitter_ms need them.
DATASET_FPS: dict[str, float] = {"casme2": 200.0, "samm": 200.0, "mmew": 90.0}


def _code_digest(*modules: object) -> str:
    """Source code is a parameter of the cached results too: a change to it makes new entries."""
    return hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in modules)).hexdigest()[:16]


_ALIGNER_CODE = _code_digest(realtime.face.aligner, realtime.face.mesh, realtime.face.stabiliser)
_DI_CODE = _code_digest(realtime.dynamic_images.rank_pooling)
_REPRESENTATION_CODE = _code_digest(realtime.dynamic_images.rank_pooling, realtime.dynamic_images.representations,
                                    realtime.dynamic_images.representation_config)
MIN_FACE_FOUND = 0.9  # below this fraction of frames with a face, a clip is used but reported


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/dianet-mer/clips (~/.cache/... when unset): outside datasets, which may be read-only."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dianet-mer" / "clips"


def read_frames(paths: Iterable[Path]) -> Iterable[np.ndarray]:
    """Decode frame files one by one -> (H, W, 3) RGB uint8 (grey releases such as SAMM: 3 equal channels)."""
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"{path}: cannot be read as an image")
        yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def clip_fps(clip: Clip, fps: float | None = None) -> float | None:
    """The clip's recording rate: `fps` when given, else its release's (None when unknown)."""
    return fps if fps is not None else DATASET_FPS.get(clip.dataset)


def align_clip(clip: Clip, align: AlignConfig, *, fps: float | None = None) -> tuple[np.ndarray, float]:
    """Decode and align all frames of a clip in stream mode -> ((T, S, S) grey uint8, fraction of frames with a face).

    The aligner smooths over time, so it gets each frame's time at the clip's recording rate.
    """
    if not align.grey or align.static_image_mode:
        raise InputError(f"clip DIs need grey crops aligned in stream mode, got grey={align.grey}, "
                         f"static_image_mode={align.static_image_mode}")
    fps = clip_fps(clip, fps)
    times = [i / fps for i in range(len(clip.frames))] if fps else None
    try:
        stack, faces = align_frames(read_frames(clip.frames), align, times)
    except InputError as exc:
        raise InputError(f"{clip.dataset} clip {clip.clip_id} (subject {clip.subject}): {exc}") from exc
    if stack.shape != (len(clip.frames), align.size, align.size):
        raise InputError(f"{clip.clip_id}: aligner returned {stack.shape}, expected "
                         f"({len(clip.frames)}, {align.size}, {align.size})")
    return stack, float(np.mean([face.found for face in faces]))


def raw_representations(stack: np.ndarray, phases: Interval, names: Sequence[str],
                        config: RepresentationConfig = RepresentationConfig()) -> dict[str, Raw]:
    """Raw representations of an aligned stack (T, S, S) at the given phases -> {name: ((S, S, C) float32, frames)}."""
    onset, apex, offset = phases.onset, phases.apex, phases.offset
    if apex is None or offset >= stack.shape[0]:
        raise InputError(f"phases need 0 <= onset <= apex <= offset < T, got {onset}, {apex}, {offset}, "
                         f"T={stack.shape[0]}")
    # Copy only onset..offset out of a (possibly memory-mapped, read-only) stack: (T', S, S) grey.
    frames = np.array(stack[onset:offset + 1])
    return build_all(names, frames, 0, apex - onset, offset - onset, config)


def raw_dynamic_images(stack: np.ndarray, phases: Interval) -> dict[str, Raw]:
    """The DIs every cache entry holds (BUILDER_NAMES; the rest are made on demand) at the given phases."""
    return raw_representations(stack, phases, BUILDER_NAMES)


def network_inputs(raws: dict[str, Raw], names: Sequence[str], config: DIInputConfig) -> tuple[np.ndarray, ...]:
    """The model's inputs, in `names` order, each (C, size, size) float32 (the one shared mapping)."""
    unknown = [name for name in names if name not in raws]
    if unknown:
        raise InputError(f"no raw representation for inputs {unknown}; have {sorted(raws)}")
    return tuple(network_input(name, raws[name][0], raws[name][1], config) for name in names)


@dataclass(frozen=True)
class CachedClip:
    """One clip after alignment: its coded phases, raw DIs, and where its aligned stack lies."""

    dataset: str
    subject: str
    clip_id: str
    emotion: str
    label: str
    positions: Interval  # coded phases as 0-based positions in the stack
    num_frames: int  # T of the stack
    fps: float | None  # recording rate, None when unknown
    face_found: float  # fraction of frames in which MediaPipe found the face
    source: str  # digest of the clip's identity and frame files (names, sizes): the data fingerprint's unit
    dis: dict[str, tuple[np.ndarray, int]]  # name -> ((S, S, 1) float32 raw DI, frames pooled)
    stack_path: Path  # (T, S, S) grey uint8 .npy

    def stack(self) -> np.ndarray:
        """The aligned stack, memory-mapped: (T, S, S) grey uint8."""
        return np.load(self.stack_path, mmap_mode="r")

    def dynamic_images(self, phases: Interval) -> dict[str, tuple[np.ndarray, int]]:
        """Raw DIs at the given phases: the cached ones at the coded phases, else recomputed from the stack."""
        if phases == self.positions:
            return self.dis
        return raw_dynamic_images(self.stack(), phases)

    def representations(self, names: Sequence[str], phases: Interval, config: RepresentationConfig) -> dict[str, Raw]:
        """Raw `names` at `phases`: the DIs as `dynamic_images`, the others from their file beside the stack
        (computed and written the first time)."""
        out = {name: raw for name, raw in self.dynamic_images(phases).items() if name in names}
        digest = _digest({"config": asdict(config), "code": _REPRESENTATION_CODE})[:16]
        for name in names:
            if name in out:
                continue
            at = f"{phases.onset}-{phases.apex}-{phases.offset}"
            path = self.stack_path.with_name(f"{self.stack_path.stem}-{at}-{name}-{digest}.npz")
            if path.is_file():
                with np.load(path) as stored:
                    out[name] = (stored["raw"], int(stored["frames"]))
                continue
            raw, frames = raw_representations(self.stack(), phases, (name,), config)[name]
            _save_atomic(path, lambda f, raw=raw, frames=frames: np.savez(f, raw=raw, frames=np.int64(frames)))
            out[name] = (raw, frames)
        return out


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _save_atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        write(handle)
    os.replace(tmp, path)


class ClipCache:
    """Clip -> CachedClip, aligning and pooling only what is not on disk yet."""

    def __init__(self, root: Path, align: AlignConfig, *, fps: float | None = None) -> None:
        self.root = Path(root)
        self.align = align
        self.fps = fps  # recording rate of every clip; None: the release's (DATASET_FPS)

    def keys(self, clip: Clip) -> tuple[str, str]:
        """(cache key of the aligned stack, source digest without modification times)."""
        files = []
        for path in clip.frames:
            try:
                stat = path.stat()
            except OSError as exc:
                raise InputError(f"{path}: frame file of clip {clip.clip_id} cannot be read ({exc})") from exc
            files.append((path.name, stat.st_size, stat.st_mtime_ns))
        identity = {"dataset": clip.dataset, "subject": clip.subject, "clip": clip.clip_id}
        source = _digest({**identity, "frames": [f[:2] for f in files]})
        key = _digest({**identity, "version": CACHE_VERSION, "frames": files, "fps": clip_fps(clip, self.fps),
                       "align": asdict(self.align), "aligner_code": _ALIGNER_CODE})
        return key, source

    def __call__(self, clip: Clip) -> CachedClip:
        if clip.label is None:
            raise InputError(f"clip {clip.clip_id} has no class (dropped by the class map)")
        key, source = self.keys(clip)
        stack_path = self.root / key[:2] / f"{key}.npy"
        at = clip.positions
        di_path = self.root / key[:2] / f"{key}-{at.onset}-{at.apex}-{at.offset}-{_DI_CODE}.npz"
        stack: np.ndarray | None = None
        if stack_path.is_file():
            face_found = float(json.loads(stack_path.with_suffix(".json").read_text())["face_found"])
        else:
            stack, face_found = align_clip(clip, self.align, fps=self.fps)
            if face_found < MIN_FACE_FOUND:
                log.warning("%s clip %s (subject %s): face found in only %.0f%% of %d frames; the others reuse "
                            "the last transform", clip.dataset, clip.clip_id, clip.subject, 100 * face_found,
                            len(clip.frames))
            _save_atomic(stack_path.with_suffix(".json"),
                         lambda f: f.write(json.dumps({"face_found": face_found, "clip": clip.clip_id}).encode()))
            _save_atomic(stack_path, lambda f: np.save(f, stack))
        if di_path.is_file():
            with np.load(di_path) as stored:
                dis = {name: (stored[name], int(stored[f"{name}_frames"])) for name in BUILDER_NAMES}
        else:
            if stack is None:
                stack = np.load(stack_path, mmap_mode="r")
            dis = raw_dynamic_images(stack, clip.positions)
            arrays = {name: di for name, (di, _) in dis.items()}
            arrays |= {f"{name}_frames": np.int64(t) for name, (_, t) in dis.items()}
            _save_atomic(di_path, lambda f: np.savez(f, **arrays))
        return CachedClip(dataset=clip.dataset, subject=clip.subject, clip_id=clip.clip_id, emotion=clip.emotion,
                          label=clip.label, positions=clip.positions,
                          num_frames=len(clip.frames), fps=clip_fps(clip, self.fps), face_found=face_found,
                          source=source, dis=dis, stack_path=stack_path)
