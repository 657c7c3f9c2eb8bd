"""DI-Onset and DI-Offset of an event in O(1), from running sums kept beside the frame ring.

A raw DI over frames s..e (T = e - s + 1) is sum_j (2 (j - s + 1) - T - 1) F_j, which two
running prefix sums give for any window:

    S0[k] = sum_{j<k} F_j,   S1[k] = sum_{j<k} j F_j
    DI(s, e) = 2 (S1[e+1] - S1[s]) - (2 s + T - 1) (S0[e+1] - S0[s])

so closing an event reads four (S, S) planes per phase, whatever its length and however long
the stream has run; folding in a frame costs one pass over one crop.

Numerical scheme: exact integers modulo 2^32. Frames are uint8, so every sum is an integer.
The per-slot sums are int32 planes holding the sums modulo 2^32: the low 32 bits of int64
running totals, read through a dtype view (two's complement; no reliance on integer overflow
anywhere), with j the absolute frame index taken modulo 2^32 too. Reduction modulo 2^32
commutes with + and *, so the formula above evaluated on these residues gives the DI modulo
2^32. The weights sum to zero, so the true DI lies within +-255 T^2 / 4, inside the int32
range for T <= 4096 (the ring's largest capacity); the residue read as int32 is therefore the
DI itself, exactly, after one frame or after days of stream (the sums may start anywhere: a
constant offset cancels in every difference). Only the final int32 -> float32 conversion
rounds (relative 6e-8).

Why not simpler: float32 prefix sums of j F_j reach ~6.6e13 after an hour at 200 fps
(720,000 frames), far past float32's 2^24 exact integers, and the DI, a small difference of
two such numbers, is lost (relative error ~85 in a simulation). int64 or float64 sums would be exact
for hours but take twice the memory per slot (two planes at 224x224: 0.4 MB as int32 against
0.8 MB), and any scheme on a rebased origin needs a full pass over the ring now and then.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch

from realtime.core.interval import Interval
from realtime.dynamic_images.ring import FrameRing

_MASK = (1 << 32) - 1
_LOW = 0 if sys.byteorder == "little" else 1  # which int32 half of an int64 holds its low 32 bits
_RENORMALISE_EVERY = 1 << 16  # frames; the int64 totals grow < 2^40 per frame, so stay < 2^57


def _low_words(x: torch.Tensor) -> torch.Tensor:
    """(..., W) int64 -> (..., W) int32 view of x modulo 2^32 (the two's complement low half)."""
    return x.view(torch.int32)[..., _LOW::2]


@dataclass(frozen=True)
class EventDIs:
    """The raw DI pair of one event, as `realtime.dynamic_images.rank_pooling.phase_dynamic_images` gives it."""

    frames: Interval  # absolute frame indices
    di_onset: torch.Tensor  # (S, S, 1) float32 raw DI over onset..apex, on the ring's device
    di_offset: torch.Tensor  # (S, S, 1) float32 raw DI over apex..offset (reverse weights)

    @property
    def onset_frames(self) -> int:
        """T of DI-Onset (what `rate_normalise` and `to_network_input` need)."""
        return self.frames.phases()[0].length

    @property
    def offset_frames(self) -> int:
        """T of DI-Offset."""
        return self.frames.phases()[1].length


class DynamicImageBuilder:
    """Per-slot running sums over a `FrameRing`; `process(interval)` closes an event.

    It has nothing to configure: size, capacity and device are the ring's. Call `update()`
    after every push (one pass over the new crop) so that `process` stays O(1); a builder that
    falls behind catches up on the next call, and one whose frames the ring has already dropped
    (or whose ring was reset) starts its sums over at the oldest frame held, which is exact too
    because only differences of sums within the ring are ever used.
    """

    def __init__(self, ring: FrameRing) -> None:
        self.ring = ring
        shape = (ring.capacity, ring.config.size, ring.config.size)
        # (N, S, S) S0 and S1 before each slot's frame, modulo 2^32
        self._s0 = torch.zeros(shape, dtype=torch.int32, device=ring.device)
        self._s1 = torch.zeros(shape, dtype=torch.int32, device=ring.device)
        # (S, S) S0 and S1 after the last folded frame, correct modulo 2^32
        self._total0 = torch.zeros(shape[1:], dtype=torch.int64, device=ring.device)
        self._total1 = torch.zeros(shape[1:], dtype=torch.int64, device=ring.device)
        self._next: int | None = None  # next absolute index to fold; None = not started
        self._epoch = ring.epoch

    def reset(self) -> None:
        """Drop the sums; the next update starts over at the ring's oldest frame."""
        self._next = None

    def update(self) -> None:
        """Fold every frame the ring holds that the sums do not include yet."""
        ring = self.ring
        if len(ring) == 0:
            self._next = None
            return
        if self._next is None or ring.epoch != self._epoch or not ring.oldest <= self._next <= ring.newest + 1:
            self._total0.zero_()
            self._total1.zero_()
            self._next = ring.oldest
            self._epoch = ring.epoch
        for index in range(self._next, ring.newest + 1):
            self._fold(index)

    def process(self, frames: Interval) -> EventDIs:
        """DI-Onset over onset..apex and DI-Offset over apex..offset (absolute, inclusive)."""
        rise, fall = frames.phases()
        return EventDIs(frames=frames, di_onset=self.window_di(*rise.bounds),
                        di_offset=self.window_di(*fall.bounds, reverse=True))

    def window_di(self, first: int, last: int, *, reverse: bool = False) -> torch.Tensor:
        """(S, S, 1) float32 raw DI of frames first..last, as `dynamic_image(frames, reverse=...)`.

        With onset..offset and the forward weights this is the whole-clip DI
        (`clip_dynamic_image`) that single-stream models take.
        """
        self.update()
        self.ring.slot(first)  # raises unless both ends are held
        self.ring.slot(last)
        start = first % self.ring.capacity
        if last + 1 == self._next:
            end0, end1 = self._total0.clone(), self._total1.clone()
        else:
            end = (last + 1) % self.ring.capacity
            end0, end1 = self._s0[end].long(), self._s1[end].long()
        # sum of F_j over the window: true value in 0..255 T, so the residue in [0, 2^32) is it.
        sum0 = end0.sub_(self._s0[start]).bitwise_and_(_MASK)  # (S, S) int64
        sum1 = end1.sub_(self._s1[start])  # (S, S) int64, sum of j F_j mod 2^32, |.| < 2^32
        coefficient = (2 * first + last - first) % (_MASK + 1)  # 2 s + T - 1, mod 2^32
        # 2 sum1 - c sum0 (negated for reverse weights): |.| < 2^33 + 2^52, no int64 overflow.
        if reverse:
            di = sum0.mul_(coefficient).sub_(sum1, alpha=2)
        else:
            di = sum1.mul_(2).sub_(sum0, alpha=coefficient)
        # The DI modulo 2^32 as int32 is the DI itself: |DI| <= 255 T^2 / 4 < 2^31.
        return _low_words(di).to(torch.float32).unsqueeze(-1)

    def _fold(self, index: int) -> None:
        slot = index % self.ring.capacity
        frame = self.ring.frame(index)  # (S, S) uint8
        self._s0[slot] = _low_words(self._total0)
        self._s1[slot] = _low_words(self._total1)
        self._total0.add_(frame)
        self._total1.add_(frame, alpha=index & _MASK)
        if index % _RENORMALISE_EVERY == 0:  # keep the int64 totals far from overflow
            self._total0.bitwise_and_(_MASK)
            self._total1.bitwise_and_(_MASK)
        self._next = index + 1
