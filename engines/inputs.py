"""What an engine consumes: raw representations and their frame counts, turned into network inputs one way.

The pipeline holds raw images named as realtime.dynamic_images.representations names them
(dynamic images: sum a_t F_t over grey aligned crops, not yet rate-normalised; flows, COF,
MESTI, ...) and the number of frames T each covers. `prepare_inputs` applies
`representations.network_input` (to_network_input) with the engine's `DIInputConfig`, the one
preprocessing path shared by training and every backend, so no backend resizes or normalises on
its own. `synthetic_samples` makes real representations of a synthetic moving face-sized image,
for the build-time parity check, the tests and the benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import cv2
import numpy as np

from realtime.core.errors import InputError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from realtime.dynamic_images.representation_config import RepresentationConfig
from realtime.dynamic_images.representations import build_all, network_input


class RawDI(NamedTuple):
    """One raw representation and the number of frames it covers (to_network_input needs T)."""

    di: np.ndarray  # (H, W, C) or (H, W) raw float32 image (a DI, a flow, ...)
    num_frames: int  # T of the phase (onset..apex, apex..offset, or the whole clip)


Sample = Mapping[str, RawDI]  # input name (e.g. "di_onset") -> its raw DI; extra keys are ignored


def prepare_inputs(samples: Sequence[Sample], input_names: Sequence[str],
                   config: DIInputConfig) -> dict[str, np.ndarray]:
    """Samples -> {input name: (B, C, size, size) float32}, through to_network_input.

    Keys beyond `input_names` are ignored, so a pipeline that builds phase and clip DIs can feed
    a model of any input kind. Raises InputError naming the sample and input that is wrong.
    """
    if not samples:
        raise InputError("classify needs at least one sample, got none")
    batch: dict[str, list[np.ndarray]] = {name: [] for name in input_names}
    for index, sample in enumerate(samples):
        for name in input_names:
            if name not in sample:
                raise InputError(f"sample {index} has no {name!r} (has {sorted(sample)}; the engine takes "
                                 f"{list(input_names)})")
            try:
                di, num_frames = sample[name]
            except (TypeError, ValueError) as exc:
                raise InputError(f"sample {index} {name!r}: expected RawDI(di, num_frames), got "
                                 f"{type(sample[name]).__name__}") from exc
            if not isinstance(di, np.ndarray) or di.ndim not in (2, 3):
                shape = getattr(di, "shape", type(di).__name__)
                raise InputError(f"sample {index} {name!r}: expected a (H, W, C) image array, got {shape}")
            batch[name].append(network_input(name, di, int(num_frames), config))
    return {name: np.stack(arrays) for name, arrays in batch.items()}  # (B, C, S, S) float32


def check_network_inputs(inputs: Mapping[str, np.ndarray], input_names: Sequence[str],
                         input_shape: Sequence[int]) -> int:
    """Check ready network inputs against the engine and return the batch size B."""
    if set(inputs) != set(input_names):
        raise InputError(f"network inputs {sorted(inputs)} do not match the engine's {list(input_names)}")
    batch = {int(inputs[name].shape[0]) if inputs[name].ndim else 0 for name in input_names}
    for name in input_names:
        x = inputs[name]
        if x.dtype != np.float32 or x.ndim != 1 + len(input_shape) or tuple(x.shape[1:]) != tuple(input_shape):
            raise InputError(f"network input {name!r} is {x.dtype} {tuple(x.shape)}; the engine takes float32 "
                             f"(B, {', '.join(str(d) for d in input_shape)})")
    if len(batch) != 1 or min(batch) < 1:
        raise InputError(f"network inputs need one batch size >= 1, got {sorted(batch)}")
    return batch.pop()


def synthetic_samples(input_names: Sequence[str], *, batch: int, raw_size: int = 224, seed: int = 0,
                      representation: RepresentationConfig = RepresentationConfig()) -> list[dict[str, RawDI]]:
    """`batch` samples of real representations: a grey photo in which a blob brightens up to an apex and fades.

    Each sample differs in clip length, apex, blob place, size and strength, so batch elements are
    not copies of each other; the images are made by realtime.dynamic_images.representations
    exactly as in training.
    """
    from skimage.data import camera  # bundled with scikit-image, no download

    base = cv2.resize(camera().astype(np.float32), (raw_size, raw_size), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:raw_size, 0:raw_size].astype(np.float32)
    samples = []
    for i in range(batch):
        rng = np.random.default_rng(seed + i)
        num_frames = int(rng.integers(6, 16))
        apex = int(rng.integers(2, num_frames - 2))
        cy, cx = rng.uniform(0.25, 0.75, size=2) * raw_size
        sigma = rng.uniform(0.05, 0.15) * raw_size
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))  # (S, S)
        peak = rng.uniform(8.0, 30.0)  # grey levels at the apex
        ramp = np.array([t / apex if t <= apex else (num_frames - 1 - t) / (num_frames - 1 - apex)
                         for t in range(num_frames)], dtype=np.float32)
        noise = rng.normal(0.0, 1.0, size=(num_frames, raw_size, raw_size)).astype(np.float32)
        frames = base + peak * ramp[:, None, None] * blob + noise  # (T, S, S) grey float32
        raws = build_all(input_names, frames, 0, apex, num_frames - 1, representation)
        samples.append({name: RawDI(*raws[name]) for name in input_names})
    return samples
