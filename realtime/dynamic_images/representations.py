"""The method family's representations: one pure function each, and one way into the network.

Every representation maps an aligned grey clip (T, S, S) and its onset/apex/offset positions
(0-based, inclusive) to a raw image (S, S, C) float32 and a frame count, like the DIs:

    name          what                                               C  pooled  method (docs/methods.md)
    di_onset      DI-Onset, rank pooling over onset..apex            1  yes     DIANet
    di_offset     DI-Offset, reverse weights over apex..offset       1  yes     DIANet
    di_clip       whole-clip DI over onset..offset (= AFN's TR-DI)   1  yes     DIANet ablations, AFN
    di_mi         MI-DI: onset..offset ranked by motion intensity    1  yes     AFN
    mesti         DI-Onset + DI-Offset, each rate-normalised         1  no      MEGANet
    apex          the apex frame                                     1  no      baseline
    flow_onset    flow onset->apex (u, v, |f|) x flow_gain           3  no      baseline, FMANet
    flow_offset   flow apex->offset (u, v, |f|) x flow_gain          3  no      FMANet
    cof           theta_1 minmax|f_on| + theta_2 minmax|f_off|, x255 1  no      COF
    mm_cof        COF x magnitude modulation, x255                   1  no      MM-COF

"pooled" images are raw rank-pooled sums that `to_network_input` rate-normalises by their T;
the others are frame-rate independent as they are (a flow between two frames does not depend
on how many were filmed between them; a frame is a frame), so they skip that step. Every image
then takes the one path: resize, standardise with the noise floor (`network_input`).
The live pipeline builds di_onset, di_offset and di_clip in O(1) from the ring's running sums
(`BUILDER_NAMES`); it builds the others with these same functions from the event's frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import NamedTuple

import cv2
import numpy as np

from realtime.core.errors import InputError
from realtime.core.registry import Registry
from realtime.dynamic_images.rank_pooling import (DIInputConfig, clip_dynamic_image, dynamic_image,
                                                  phase_dynamic_images, rate_normalise, to_network_input)
from realtime.dynamic_images.representation_config import RepresentationConfig

Raw = tuple[np.ndarray, int]  # (S, S, C) float32 raw image, frames it covers
BuildFunction = Callable[[np.ndarray, int, int, int, RepresentationConfig], Raw]


class Representation(NamedTuple):
    build: BuildFunction  # (frames (T, S, S), onset, apex, offset, config) -> (raw (S, S, C), T)
    channels: int  # C of the raw image and of the network input
    pooled: bool  # a raw rank-pooled sum that to_network_input rate-normalises by its T
    vector: tuple[int, int] | None = None  # channels holding a displacement (u, v): a flip or rotation
    #                                        of the image must turn these too (training.augment)


REPRESENTATIONS: Registry[Representation] = Registry("representation")
list_representations = REPRESENTATIONS.names
BUILDER_NAMES = ("di_onset", "di_offset", "di_clip")  # what realtime.dynamic_images.builder gives in O(1)


def _grey_stack(frames: np.ndarray, onset: int, apex: int, offset: int) -> np.ndarray:
    """(T, S, S) or (T, S, S, 1) -> (T, S, S, 1), with the phases checked."""
    if frames.ndim == 3:
        frames = frames[..., None]
    if frames.ndim != 4 or frames.shape[-1] != 1:
        raise InputError(f"representations take (T, S, S) grey frames, got shape {tuple(frames.shape)}")
    if not 0 <= onset <= apex <= offset < frames.shape[0]:
        raise InputError(f"phases need 0 <= onset <= apex <= offset < T, got onset={onset}, apex={apex}, "
                         f"offset={offset}, T={frames.shape[0]}")
    return frames


def _register(name: str, channels: int, pooled: bool,
              vector: tuple[int, int] | None = None) -> Callable[[BuildFunction], BuildFunction]:
    def wrap(build: BuildFunction) -> BuildFunction:
        def checked(frames: np.ndarray, onset: int, apex: int, offset: int, config: RepresentationConfig) -> Raw:
            return build(_grey_stack(frames, onset, apex, offset), onset, apex, offset, config)

        REPRESENTATIONS.add(name, Representation(checked, channels, pooled, vector))
        return build
    return wrap


@_register("di_onset", 1, True)
def di_onset(frames: np.ndarray, onset: int, apex: int, offset: int, config: RepresentationConfig) -> Raw:
    return phase_dynamic_images(frames, onset, apex, offset)[0], apex - onset + 1


@_register("di_offset", 1, True)
def di_offset(frames: np.ndarray, onset: int, apex: int, offset: int, config: RepresentationConfig) -> Raw:
    return phase_dynamic_images(frames, onset, apex, offset)[1], offset - apex + 1


@_register("di_clip", 1, True)
def di_clip(frames: np.ndarray, onset: int, apex: int, offset: int, config: RepresentationConfig) -> Raw:
    """The whole-clip DI; AFN's TR-DI (frames in temporal order, onset..offset) is this image."""
    return clip_dynamic_image(frames, onset, offset), offset - onset + 1


def motion_intensity(frames: np.ndarray, config: RepresentationConfig) -> np.ndarray:
    """(T,) m_t = mean |G(I_t) - G(R_t)| over an event's frames onset..offset (T, S, S, 1), G a Gaussian blur.

    R_t (`mi_reference`): "line", (1 - s) I_onset + s I_offset with s = t / (T - 1), the face as it
    would be with no movement if pose and light drift linearly over the event (the movement is back
    to neutral at the offset); "onset", I_onset; "previous", I_{t-1}. Against the onset alone, a
    slow drift grows with t and, in continuous video, outranks a 1-3 px movement: the order then
    follows time, not intensity (docs/methods.md, AFN).
    """
    grey = frames[..., 0].astype(np.float32)
    if config.mi_blur_sigma > 0:
        grey = np.stack([cv2.GaussianBlur(f, (0, 0), config.mi_blur_sigma) for f in grey])
    if config.mi_reference == "line":
        s = np.linspace(0.0, 1.0, len(grey), dtype=np.float32)[:, None, None]
        reference = (1.0 - s) * grey[:1] + s * grey[-1:]
    elif config.mi_reference == "onset":
        reference = grey[:1]
    else:
        reference = np.concatenate((grey[:1], grey[:-1]))
    return np.abs(grey - reference).mean(axis=(1, 2))


@_register("di_mi", 1, True)
def di_mi(frames: np.ndarray, onset: int, apex: int, offset: int, config: RepresentationConfig) -> Raw:
    """AFN's MI-DI: the span's frames sorted by ascending motion intensity (ties by time), then
    rank-pooled, so the most intense frames (near the apex) get the largest weights. The intensity
    is measured over the whole event (its reference may need the offset) whatever the span; an
    event whose apex is its offset has no neutral offset for the line, so it is measured against
    its onset (the real CASME-II sheet has four such rows)."""
    last = offset if config.mi_span == "onset_offset" else apex
    event = frames[onset:offset + 1]
    span = event[:last - onset + 1]
    if apex == offset and config.mi_reference == "line":
        config = replace(config, mi_reference="onset")
    order = np.argsort(motion_intensity(event, config)[:len(span)], kind="stable")
    return dynamic_image(span[order]), len(span)


@_register("mesti", 1, False)
def mesti(frames: np.ndarray, onset: int, apex: int, offset: int, config: RepresentationConfig) -> Raw:
    """Apex-centred rank pooling: forward weights up to the apex, reversed after it, so the frames
    nearest the apex weigh most from both sides. Each phase is rate-normalised by its own T before
    the sum (the phases differ in length), which makes the sum frame-rate independent."""
    on, off = phase_dynamic_images(frames, onset, apex, offset)
    return rate_normalise(on, apex - onset + 1) + rate_normalise(off, offset - apex + 1), offset - onset + 1


@_register("apex", 1, False)
def apex_frame(frames: np.ndarray, onset: int, apex: int, offset: int, config: RepresentationConfig) -> Raw:
    return frames[apex].astype(np.float32), 1


def _uint8(frame: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8) if frame.dtype != np.uint8 else frame


def optical_flow(first: np.ndarray, second: np.ndarray, config: RepresentationConfig) -> np.ndarray:
    """(S, S, 2) float32 flow (u, v) in pixels from grey frame `first` to `second`."""
    a, b = _uint8(first[..., 0]), _uint8(second[..., 0])
    if config.flow_method == "tvl1":
        flow = cv2.optflow.DualTVL1OpticalFlow_create()
    else:
        flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return flow.calc(a, b, None)


def _phase_flow(frames: np.ndarray, first: int, last: int, config: RepresentationConfig) -> np.ndarray:
    """(S, S, 2) flow of one phase; a phase of one frame has no motion (all zero, no flow run)."""
    if first == last:
        return np.zeros((*frames.shape[1:3], 2), np.float32)
    return optical_flow(frames[first], frames[last], config)


def _flow_image(flow: np.ndarray, config: RepresentationConfig) -> np.ndarray:
    magnitude = np.linalg.norm(flow, axis=2, keepdims=True)
    return config.flow_gain * np.concatenate((flow, magnitude), axis=2).astype(np.float32)


@_register("flow_onset", 3, False, vector=(0, 1))
def flow_onset(frames: np.ndarray, onset: int, apex: int, offset: int, config: RepresentationConfig) -> Raw:
    return _flow_image(_phase_flow(frames, onset, apex, config), config), apex - onset + 1


@_register("flow_offset", 3, False, vector=(0, 1))
def flow_offset(frames: np.ndarray, onset: int, apex: int, offset: int, config: RepresentationConfig) -> Raw:
    return _flow_image(_phase_flow(frames, apex, offset, config), config), offset - apex + 1


def minmax(magnitude: np.ndarray, floor: float) -> np.ndarray:
    """(M - min M) / max(max M - min M, floor): in [0, 1]; a map spanning less than `floor` pixels
    stays proportionally small (no motion -> all zero) instead of being stretched to full scale."""
    low = float(magnitude.min())
    return (magnitude - low) / max(float(magnitude.max()) - low, floor)


def combined_magnitude(frames: np.ndarray, onset: int, apex: int, offset: int,
                       config: RepresentationConfig) -> np.ndarray:
    """COF's M_c = theta_1 minmax(|f onset->apex|) + theta_2 minmax(|f apex->offset|), (S, S)."""
    phases = ((onset, apex, config.cof_theta_onset), (apex, offset, config.cof_theta_offset))
    return sum(theta * minmax(np.linalg.norm(_phase_flow(frames, a, b, config), axis=2), config.minmax_floor)
               for a, b, theta in phases)


@_register("cof", 1, False)
def cof(frames: np.ndarray, onset: int, apex: int, offset: int, config: RepresentationConfig) -> Raw:
    combined = combined_magnitude(frames, onset, apex, offset, config)
    return (255.0 * combined)[..., None].astype(np.float32), offset - onset + 1


def modulate(combined: np.ndarray, config: RepresentationConfig) -> np.ndarray:
    """MM-COF: keep salient motion, suppress weak motion below the per-sample percentile tau."""
    tau = float(np.percentile(combined, config.mm_tau_percentile))
    if config.mm_modulation == "hard":
        return combined * (combined >= tau)
    return combined / (1.0 + np.exp(-config.mm_sharpness * (combined - tau)))


@_register("mm_cof", 1, False)
def mm_cof(frames: np.ndarray, onset: int, apex: int, offset: int, config: RepresentationConfig) -> Raw:
    combined = combined_magnitude(frames, onset, apex, offset, config)
    return (255.0 * modulate(combined, config))[..., None].astype(np.float32), offset - onset + 1


def build(name: str, frames: np.ndarray, onset: int, apex: int, offset: int,
          config: RepresentationConfig = RepresentationConfig()) -> Raw:
    """Raw representation `name` of a clip; InputError naming the problem for bad frames or phases."""
    return REPRESENTATIONS[name].build(frames, onset, apex, offset, config)


def build_all(names: Iterable[str], frames: np.ndarray, onset: int, apex: int, offset: int,
              config: RepresentationConfig = RepresentationConfig()) -> dict[str, Raw]:
    return {name: build(name, frames, onset, apex, offset, config) for name in names}


def channels(names: Iterable[str]) -> int:
    """The one channel count of inputs `names`; InputError when they differ (one engine input shape)."""
    found = {REPRESENTATIONS[name].channels for name in names}
    if len(found) != 1:
        raise InputError(f"inputs {list(names)} differ in channels {sorted(found)}; a model's inputs share one shape")
    return found.pop()


def network_input(name: str, raw: np.ndarray, num_frames: int, config: DIInputConfig) -> np.ndarray:
    """Raw representation -> (C, size, size) float32: the one mapping (to_network_input) for every name."""
    return to_network_input(raw, num_frames, config, pooled=REPRESENTATIONS[name].pooled)
