"""Closing an event: the incremental DI builder against rebuilding its DIs from host memory.

For events of T = 10..100 frames (224x224 grey, apex in the middle) on a stream that has run
an hour at 200 fps (indices from 720,000), prints the median time of
`DynamicImageBuilder.process` (four planes read per phase, whatever T) and of the alternative:
copy the event's frames from host memory to the device and call `phase_dynamic_images`
(every frame read and weighted), with the ratio, measured in one run; on CUDA too when present.
Also prints the per-frame cost of keeping the sums (`update` after each push), paid by the frame
path whether or not an event closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from realtime.core.interval import Interval
from realtime.dynamic_images.builder import DynamicImageBuilder
from realtime.dynamic_images.rank_pooling import phase_dynamic_images
from realtime.dynamic_images.ring import FrameRing, FrameRingConfig

SIZE = 224
START = 720_000  # an hour at 200 fps
WINDOWS = (10, 25, 50, 75, 100)


def median_ms(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def run(device_name: str) -> None:
    ring = FrameRing(FrameRingConfig(size=SIZE, max_frames=128, device=device_name))
    builder = DynamicImageBuilder(ring)
    device = ring.device
    frames = np.random.default_rng(0).integers(0, 256, (ring.capacity, SIZE, SIZE), dtype=np.uint8)  # host copies
    for index in range(START, START + len(frames)):
        ring.push(frames[index % len(frames)], index=index, t_s=index / 200)
        builder.update()
    newest = ring.newest

    def push_and_update() -> None:
        nonlocal newest
        newest += 1
        ring.push(frames[newest % len(frames)], index=newest, t_s=newest / 200)
        builder.update()

    per_frame = median_ms(push_and_update, 50, device)
    print(f"\n{device.type.upper()}: push + update per frame {per_frame:.3f} ms")
    print(f"{'T':>5} {'incremental ms':>15} {'host rebuild ms':>16} {'rebuild / incremental':>22} "
          f"{'relative error':>15}")
    for num in WINDOWS:
        offset = ring.newest
        onset = offset - num + 1
        apex = onset + num // 2
        host = np.stack([frames[i % len(frames)] for i in range(onset, offset + 1)])[..., None]  # (T, S, S, 1)

        def rebuild() -> tuple[torch.Tensor, torch.Tensor]:
            return phase_dynamic_images(torch.from_numpy(host).to(device), 0, apex - onset, num - 1)

        def incremental() -> tuple[torch.Tensor, torch.Tensor]:
            event = builder.process(Interval(onset, apex, offset))
            return event.di_onset, event.di_offset

        error = max(float(torch.linalg.norm(a - b) / torch.linalg.norm(b)) for a, b in zip(incremental(), rebuild()))
        ours = median_ms(incremental, 30, device)
        theirs = median_ms(rebuild, 30, device)
        print(f"{num:>5} {ours:>15.3f} {theirs:>16.3f} {theirs / ours:>21.1f}x {error:>15.1e}")


def main() -> None:
    torch.set_num_threads(1)  # the frame path gets one core; MediaPipe has the other
    run("cpu")
    if torch.cuda.is_available():
        run("cuda")


if __name__ == "__main__":
    main()
