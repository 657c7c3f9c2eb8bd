"""DI cost: the one weighted reduction against the obvious per-frame Python loop.

Prints, for T = 10..400 grey 224x224 frames, the median time of `dynamic_image`, of a loop
that accumulates a_t * F_t frame by frame in numpy (the obvious alternative) and of an
unweighted float sum over the same frames (the unavoidable cost: every byte read once), with
the ratios, measured in one run. On a CPU the reduction is memory-bound, so matching the loop
and staying near the floor is the goal; the win of one reduction is on the GPU.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from realtime.dynamic_images.rank_pooling import dynamic_image


def loop_di(frames: np.ndarray) -> np.ndarray:
    num = frames.shape[0]
    total = np.zeros(frames.shape[1:], np.float32)
    for t in range(1, num + 1):
        total += (2 * t - num - 1) * frames[t - 1].astype(np.float32)
    return total


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    print(f"{'T':>5} {'dynamic_image ms':>17} {'python loop ms':>15} {'loop / ours':>12} "
          f"{'plain sum ms':>13} {'ours / sum':>11}")
    for num in (10, 25, 50, 100, 200, 400):
        frames = rng.integers(0, 255, (num, 224, 224, 1), dtype=np.uint8)
        repeats = max(5, 400 // num)
        ours = median_ms(lambda: dynamic_image(frames), repeats)
        loop = median_ms(lambda: loop_di(frames), repeats)
        floor = median_ms(lambda: np.add.reduce(frames, axis=0, dtype=np.float32), repeats)
        print(f"{num:>5} {ours:>17.2f} {loop:>15.2f} {loop / ours:>11.2f}x {floor:>13.2f} {ours / floor:>10.2f}x")
    if torch.cuda.is_available():
        print("\nCUDA (frames already on the device):")
        for num in (10, 100, 400):
            frames = torch.randint(0, 255, (num, 224, 224, 1), dtype=torch.uint8, device="cuda")
            dynamic_image(frames)
            torch.cuda.synchronize()

            def run() -> None:
                dynamic_image(frames)
                torch.cuda.synchronize()

            print(f"{num:>5} {median_ms(run, 20):>17.3f} ms")


if __name__ == "__main__":
    main()
