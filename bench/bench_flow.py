"""TV-L1 (the MER papers' flow) against DIS (OpenCV's fast dense flow) for the flow representations.

For grey face-sized crops at 64, 112 and 224 px, a known smooth displacement field (a
micro-expression-sized bump of up to `--amplitude` px, on a textured photo) is applied, and each
method estimates the flow from the first frame to the second, as `flow_onset` does at event
close. Prints the median time per flow, the TV-L1 / DIS time ratio, and the end-point error
(EPE) of each against the true field inside the moving region, measured in one run. COF,
MM-COF and FMANet need two flows per event; the pipeline builds them on the classifier thread.

    python bench/bench_flow.py [--repeats 5] [--amplitude 1.5]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
from skimage.data import camera  # bundled with scikit-image, no download

from realtime.dynamic_images.representation_config import RepresentationConfig
from realtime.dynamic_images.representations import optical_flow

SIZES = (64, 112, 224)


def warped_pair(size: int, amplitude: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(first, second) (S, S, 1) float32 frames, the true (S, S, 2) flow and the mask where it moves."""
    base = cv2.resize(camera().astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    bump = np.exp(-((xs - 0.6 * size) ** 2 + (ys - 0.4 * size) ** 2) / (2 * (0.12 * size) ** 2))
    true = np.stack((amplitude * bump, -0.5 * amplitude * bump), axis=2)  # (S, S, 2): right and up
    # second(x) = first(x - flow): sample the first frame backwards along the flow
    second = cv2.remap(base, xs - true[..., 0], ys - true[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return base[..., None], second[..., None], true, bump > 0.5


def median_ms(method: str, first: np.ndarray, second: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    config = RepresentationConfig(flow_method=method)
    times, flow = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        flow = optical_flow(first, second, config)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)), flow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--amplitude", type=float, default=1.5, help="largest displacement in px")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # the pipeline's classifier thread shares the cores with capture and MediaPipe
    print(f"{'size':>5} {'TV-L1 ms':>9} {'DIS ms':>8} {'TV-L1/DIS':>10} {'TV-L1 EPE px':>13} {'DIS EPE px':>11}")
    for size in SIZES:
        first, second, true, moving = warped_pair(size, args.amplitude)
        tvl1_ms, tvl1 = median_ms("tvl1", first, second, args.repeats)
        dis_ms, dis = median_ms("dis", first, second, args.repeats)
        epe = [float(np.linalg.norm(flow - true, axis=2)[moving].mean()) for flow in (tvl1, dis)]
        print(f"{size:>5} {tvl1_ms:>9.1f} {dis_ms:>8.2f} {tvl1_ms / dis_ms:>10.1f} {epe[0]:>13.3f} {epe[1]:>11.3f}")


if __name__ == "__main__":
    main()
