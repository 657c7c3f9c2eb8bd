"""Training throughput with the DI cache against decoding and aligning the frames every epoch.

    python bench/bench_training.py [--root CASME2_DIR] [--size 112] [--backbone efficientnetv2_b0]

Without --root it makes a small `mer-synth` release (2 subjects, 5 classes) in a temporary
folder. One run measures, in clip pairs per second of one training epoch:

1. cached: DIs from the cache (training.clip_cache), the normal case without phase jitter;
2. cached + jitter: DIs recomputed every epoch from the cached aligned stacks (the default);
3. uncached: every epoch decodes the JPEGs, runs MediaPipe and builds the DIs again;
4. (1) with torch's per-parameter optimiser loop instead of the fused step training.optim uses;

and prints the ratios, then CUDA (mixed precision) against CPU for (1) when CUDA is present.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from realtime.dynamic_images.rank_pooling import DIInputConfig
from realtime.face.aligner import AlignConfig
from training.clip_cache import ClipCache, align_clip, raw_dynamic_images
from training.datasets import load_dataset
from training.loso import NetworkInputs, Sample, Trainer
from training.models import ModelConfig, input_names
from training.presets import resolve
from training.synth import make_dataset


def _epoch(trainer: Trainer, samples: list[Sample], inputs: NetworkInputs) -> float:
    """Seconds of one training epoch."""
    start = time.perf_counter()
    trainer.train_epoch(samples, inputs)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="a CASME-II-layout release (default: a small mer-synth one)")
    parser.add_argument("--size", type=int, default=112, help="network input side (the cpu preset's)")
    parser.add_argument("--backbone", default="efficientnetv2_b0", help="the cpu preset's")
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed per variant (after a warm-up epoch)")
    parser.add_argument("--fps", type=float, default=None, help="recording rate (default: the release's)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        root, fps = args.root, args.fps
        if root is None:
            root, fps = Path(tmp) / "synth", 100.0
            make_dataset(root, subjects=2, clips_per_class=2, fps=fps, size=256, seed=0)
        index = load_dataset("casme2", root, min_clips_per_class=1)
        align = AlignConfig()  # training aligns at the live path's crop; DIs are resized to --size
        cache = ClipCache(Path(tmp) / "cache", align, fps=fps)
        start = time.perf_counter()
        clips = [cache(clip) for clip in index.clips]
        first = time.perf_counter() - start
        frames = sum(c.num_frames for c in clips)
        print(f"{len(clips)} clips, {frames} frames aligned at {align.size} px, {args.backbone} at {args.size} px, "
              f"{torch.get_num_threads()} torch threads; filling the cache took {first:.1f} s "
              f"({1000 * first / frames:.1f} ms/frame)")

        config = resolve("cpu", backbone=args.backbone, size=args.size, final_model=False)
        model_config = ModelConfig(backbone=args.backbone, num_classes=len(index.classes))
        names = input_names(model_config)
        target = {name: i for i, name in enumerate(index.classes)}
        samples = [Sample(c, names, target[c.label]) for c in clips]
        no_jitter = replace(config, augment=replace(config.augment, jitter_fraction=0.0))

        def trainer(cfg, device: str) -> Trainer:
            return Trainer(cfg, model_config, torch.device(device), pretrained=None, seed=0)

        # 1. cached DIs (first epoch fills the network-input memo: warm-up, not timed)
        t = trainer(no_jitter, "cpu")
        inputs = NetworkInputs(DIInputConfig(size=args.size))
        _epoch(t, samples, inputs)
        cached = np.median([_epoch(t, samples, inputs) for _ in range(args.epochs)])
        # 2. cached stacks, DIs recomputed at jittered phases every epoch
        t = trainer(config, "cpu")
        jittered = np.median([_epoch(t, samples, NetworkInputs(DIInputConfig(size=args.size)))
                              for _ in range(args.epochs)])
        # 3. decode + align + DIs every epoch, then the same training step
        t = trainer(no_jitter, "cpu")
        times = []
        for _ in range(args.epochs):
            start = time.perf_counter()
            fresh = []
            for clip, cached_clip in zip(index.clips, clips, strict=True):
                stack, _ = align_clip(clip, align, fps=fps)
                fresh.append(replace(cached_clip, dis=raw_dynamic_images(stack, clip.positions)))
            decode = time.perf_counter() - start
            times.append(decode + _epoch(t, [Sample(c, names, target[c.label]) for c in fresh],
                                         NetworkInputs(DIInputConfig(size=args.size))))
        uncached = float(np.median(times))
        # 4. (1) with the optimiser's per-parameter loop (torch's CPU default) instead of its fused step
        t = trainer(no_jitter, "cpu")
        fused = t.optimiser
        t.optimiser = type(fused)(t.model.parameters(), **{**fused.defaults, "fused": False, "foreach": False})
        t.scheduler = None  # it steps the fused one; the learning rate does not change the step's cost
        inputs = NetworkInputs(DIInputConfig(size=args.size))
        _epoch(t, samples, inputs)
        looped = np.median([_epoch(t, samples, inputs) for _ in range(args.epochs)])

        n = len(samples)
        print(f"cached DIs              {n / cached:8.1f} clips/s")
        print(f"cached stacks + jitter  {n / jittered:8.1f} clips/s")
        print(f"decode + align / epoch  {n / uncached:8.1f} clips/s")
        print(f"ratio cached / uncached {uncached / cached:8.1f}x   "
              f"(cached + jitter / uncached {uncached / jittered:.1f}x)")
        print(f"per-parameter optimiser {n / looped:8.1f} clips/s   ratio fused / loop {looped / cached:.2f}x")

        if torch.cuda.is_available():
            t = trainer(no_jitter, "cuda")
            inputs = NetworkInputs(DIInputConfig(size=args.size))
            _epoch(t, samples, inputs)
            gpu = np.median([_epoch(t, samples, inputs) for _ in range(args.epochs)])
            print(f"CUDA (fp16 autocast)    {n / gpu:8.1f} clips/s on {torch.cuda.get_device_name()}")
            print(f"ratio CUDA / CPU        {cached / gpu:8.1f}x")
        else:
            print("CUDA: not available here (CUDA against CPU is printed on a machine with a GPU)")


if __name__ == "__main__":
    main()
