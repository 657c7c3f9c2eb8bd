"""One run that checks every CUDA and TensorRT path on a machine with an NVIDIA GPU (under 5 minutes).

    python bench/gpu_check.py           # on the GPU machine (TensorRT 10 and onnxruntime-gpu where installed)
    python bench/gpu_check.py --dry     # on any CPU: every step but CUDA, TensorRT through the stand-in module

Measured in one run, and printed:
1. TensorRT fp16 and fp32 engine folders built from a small checkpoint by mer-build-engine's
   build_engine, with their parity against PyTorch on the CPU (checked: 1e-2 fp16, 1e-3 fp32).
2. Closing an event in the DI builder (T = 50 frames, 224 px ring), CUDA against CPU.
3. One classification at batch 1, p50 / p95 ms, per backend: torch CUDA, ONNX Runtime CUDA
   (where its CUDA provider starts), TensorRT fp16 and fp32, with torch and ONNX Runtime on the
   CPU for reference, and each one's max |p - p_torch_cpu|.
4. Training throughput (clips per second of one epoch), CUDA (fp16 autocast) against CPU.
5. The whole pipeline's cost per frame (spotting, the ring, the DI builder and the TensorRT fp16
   classifier) on a mer-synth video with the ring and the DIs on CUDA, against on the CPU.
6. Whether any CUDA path differs from the CPU one: DIs (relative 1e-5), probabilities (each
   backend's bound) and the pipeline's events and labels. Exit code 1 when one differs.

--dry runs the same steps with "cuda" meaning the CPU and TensorRT replaced by
tests/support/fake_tensorrt.py (the ONNX graph in ONNX Runtime behind TensorRT 10's API), on
small sizes: its timings mean nothing; it proves the script and every non-CUDA path run (CI).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

import engines
from bench_engines import round_robin
from bench_training import _epoch
from engines.backends import Backend
from engines.backends.onnx import OnnxBackend, cuda_provider_available
from engines.backends.torch import TorchBackend
from engines.builder import TENSORRT_TOLERANCE, build_engine
from engines.inputs import prepare_inputs, synthetic_samples
from realtime.capture.sources import open_source
from realtime.core.errors import EngineError
from realtime.core.interval import Interval
from realtime.dynamic_images.builder import DynamicImageBuilder
from realtime.dynamic_images.rank_pooling import DIInputConfig
from realtime.dynamic_images.ring import FrameRing, FrameRingConfig
from realtime.face.aligner import AlignConfig
from realtime.pipeline.pipeline import PipelineConfig, RecognitionPipeline, Step
from training.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from training.clip_cache import CachedClip, raw_dynamic_images
from training.loso import NetworkInputs, Sample, Trainer
from training.models import ModelConfig, create_model, input_names
from training.presets import resolve
from training.synth import make_video

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("negative", "positive", "surprise")
DI_RELATIVE_TOLERANCE = 1e-5  # the DI builder's sums are integers: CUDA and CPU agree to float rounding
CUDA_TOLERANCE = 1e-3  # torch and ONNX Runtime on CUDA (TF32 convolutions) against torch on the CPU


@dataclass(frozen=True)
class Sizes:
    """What one run builds and times; --dry shrinks everything so CI finishes in seconds."""

    backbone: str = "efficientnetv2_b0"
    size: int = 112  # network input side (the cpu training preset's)
    ring: int = 224  # aligned crop side (AlignConfig.size)
    event_frames: int = 50
    iterations: int = 50  # timed classifications per backend
    clips: int = 32  # training clips of 12 frames
    epochs: int = 2
    video_fps: float = 100.0
    video_s: float = 8.0
    video_micro: int = 2


DRY = Sizes(backbone="resnet18", size=32, ring=64, event_frames=20, iterations=5, clips=6, epochs=1, video_fps=30.0,
            video_s=6.0, video_micro=1)


class Check:
    """Collects the comparisons of CUDA paths with CPU ones; prints each as it is made."""

    def __init__(self) -> None:
        self.differs: list[str] = []

    def compare(self, what: str, difference: float, bound: float) -> None:
        ok = bool(difference <= bound)  # False for NaN as well
        print(f"    {what}: max difference {difference:.2e} (bound {bound:.0e}) {'ok' if ok else 'DIFFERS'}")
        if not ok:
            self.differs.append(what)


def checkpoint(path: Path, sizes: Sizes, dry: bool) -> Path:
    """A small untrained DIANet whose head is scaled so probabilities are far from uniform."""
    config = (ModelConfig(backbone=sizes.backbone, num_classes=len(CLASSES), feature_dim=16, hidden_dim=8) if dry
              else ModelConfig(backbone=sizes.backbone, num_classes=len(CLASSES)))
    torch.manual_seed(0)
    model = create_model(config)
    with torch.no_grad():
        model.head[-1].weight.mul_(20.0)
    meta = CheckpointMeta(classes=CLASSES, model=config, input_names=input_names(config),
                          di_input=DIInputConfig(size=sizes.size), alignment=asdict(AlignConfig(size=sizes.ring)),
                          data_fingerprint="gpu_check", training={"note": "untrained"})
    save_checkpoint(path, model, meta)
    return path


def build_engines(model: Path, tmp: Path) -> dict[str, Path]:
    folders = {}
    for precision in ("fp16", "fp32"):
        start = time.perf_counter()
        spec = build_engine(model, tmp / f"tensorrt_{precision}", backend="tensorrt", precision=precision,
                            max_batch=2)
        parity = ", ".join(f"batch {b}: {d:.1e}" for b, d in spec.parity["tensorrt"].items())
        print(f"  TensorRT {spec.precision}: built in {time.perf_counter() - start:.1f} s on "
              f"{spec.tensorrt.gpu_name}; max |p - p_torch| {parity} (bound {TENSORRT_TOLERANCE[precision]:.0e})")
        folders[precision] = tmp / f"tensorrt_{precision}"
    return folders


def di_builder(sizes: Sizes, cuda: str, check: Check) -> None:
    """Median ms of closing one event (DynamicImageBuilder.process) on each device, and the DIs compared."""
    frames = np.random.default_rng(0).integers(0, 256, (128, sizes.ring, sizes.ring), dtype=np.uint8)
    results = {}
    for label, device in (("cpu", "cpu"), ("cuda", cuda)):
        ring = FrameRing(FrameRingConfig(size=sizes.ring, max_frames=128, device=device))
        builder = DynamicImageBuilder(ring)
        for index, frame in enumerate(frames):
            ring.push(frame, index=index, t_s=index / 200)
            builder.update()
        offset = ring.newest
        onset = offset - sizes.event_frames + 1

        def close() -> tuple[np.ndarray, np.ndarray]:
            event = builder.process(Interval(onset, onset + sizes.event_frames // 2, offset))
            return event.di_onset.cpu().numpy(), event.di_offset.cpu().numpy()  # .cpu() waits for the GPU

        results[label] = (round_robin({label: close}, sizes.iterations)[label], close())
    (cpu_t, cpu_dis), (gpu_t, gpu_dis) = results["cpu"], results["cuda"]
    print(f"  close an event of T = {sizes.event_frames} at {sizes.ring} px: CPU {cpu_t[0]:.3f} ms, "
          f"CUDA {gpu_t[0]:.3f} ms (p50; CPU / CUDA {cpu_t[0] / gpu_t[0]:.1f}x)")
    check.compare("DI builder DIs, CUDA vs CPU (relative)",
                  max(float(np.abs(g - c).max() / max(np.abs(c).max(), 1e-12)) for g, c in zip(gpu_dis, cpu_dis)),
                  DI_RELATIVE_TOLERANCE)


def classification(model: Path, folders: dict[str, Path], sizes: Sizes, dry: bool, check: Check) -> None:
    net, meta = load_checkpoint(model)
    net.eval()
    names = meta.input_names
    samples = synthetic_samples(names, batch=1, raw_size=sizes.ring, seed=11)
    inputs = prepare_inputs(samples, names, meta.di_input)
    onnx_path = folders["fp32"] / "model.onnx"
    threads = 1 if dry else 2
    backends: dict[str, Backend] = {"torch cpu": TorchBackend(net, names, threads=threads, device="cpu"),
                                    "onnxruntime cpu": OnnxBackend(onnx_path, threads=threads, device="cpu"),
                                    "torch cuda": TorchBackend(net, names, threads=threads, device="cpu" if dry else "cuda")}
    if dry or cuda_provider_available():
        try:
            backends["onnxruntime cuda"] = OnnxBackend(onnx_path, threads=threads, device="cpu" if dry else "cuda")
        except EngineError as exc:
            print(f"  onnxruntime cuda: not run ({exc})")
    else:
        print("  onnxruntime cuda: not run (no CUDAExecutionProvider here: pip install onnxruntime-gpu)")
    bounds = {"torch cuda": CUDA_TOLERANCE, "onnxruntime cuda": CUDA_TOLERANCE}
    for precision, folder in folders.items():
        engine = engines.load(folder, backend="tensorrt")
        backends[f"tensorrt {precision}"] = engine.backend
        bounds[f"tensorrt {precision}"] = TENSORRT_TOLERANCE[precision]
    times = round_robin({name: (lambda b=b: b.run(inputs)) for name, b in backends.items()}, sizes.iterations)
    reference = backends["torch cpu"].run(inputs)
    for name, backend in backends.items():
        print(f"  {name:<18} p50 {times[name][0]:7.2f} ms   p95 {times[name][1]:7.2f} ms   on {backend.device}")
    for name, bound in bounds.items():
        if name in backends:
            check.compare(f"{name} probabilities vs torch cpu", float(np.abs(backends[name].run(inputs) - reference).max()),
                          bound)
    for backend in backends.values():
        backend.close()


def training(sizes: Sizes, cuda: str) -> None:
    """Clips per second of one epoch on cached DIs (random 12-frame stacks), CUDA (fp16 autocast) vs CPU."""
    rng = np.random.default_rng(0)
    model_config = ModelConfig(backbone=sizes.backbone, num_classes=len(CLASSES))
    names = input_names(model_config)
    with tempfile.TemporaryDirectory() as tmp:
        samples = []
        for i in range(sizes.clips):
            stack = rng.integers(0, 256, (12, sizes.size, sizes.size), dtype=np.uint8)  # (T, S, S) grey
            np.save(Path(tmp) / f"{i}.npy", stack)
            clip = CachedClip(dataset="casme2", subject=f"s{i % 4}", clip_id=f"EP{i:02d}", emotion=CLASSES[i % 3],
                              label=CLASSES[i % 3], positions=Interval(1, 6, 11), num_frames=12, fps=200.0,
                              face_found=1.0, source=str(i), dis=raw_dynamic_images(stack, Interval(1, 6, 11)),
                              stack_path=Path(tmp) / f"{i}.npy")
            samples.append(Sample(clip, names, i % 3))
        config = resolve("cpu", backbone=sizes.backbone, size=sizes.size, final_model=False)
        config = replace(config, augment=replace(config.augment, jitter_fraction=0.0))
        rates = {}
        for label, device in (("cpu", "cpu"), ("cuda", cuda)):
            trainer = Trainer(config, model_config, torch.device(device), pretrained=None, seed=0)
            inputs = NetworkInputs(DIInputConfig(size=sizes.size))
            _epoch(trainer, samples, inputs)  # warm-up: fills the input memo, cuDNN picks its kernels
            rates[label] = len(samples) / float(np.median([_epoch(trainer, samples, inputs)
                                                            for _ in range(sizes.epochs)]))
    print(f"  {sizes.backbone} at {sizes.size} px, {sizes.clips} clips: CPU {rates['cpu']:.1f} clips/s, "
          f"CUDA {rates['cuda']:.1f} clips/s (CUDA / CPU {rates['cuda'] / rates['cpu']:.1f}x)")


def pipeline(folders: dict[str, Path], sizes: Sizes, cuda: str, tmp: Path, check: Check) -> None:
    """ms per frame of the pipeline with the TensorRT fp16 classifier, DIs on CUDA vs on the CPU."""
    video = tmp / "synth.mp4"
    make_video(video, fps=sizes.video_fps, duration=sizes.video_s, micro=sizes.video_micro, seed=3)
    runs = {}
    with engines.load(folders["fp16"]) as engine:
        for label, device in (("cpu", "cpu"), ("cuda", cuda)):
            config = PipelineConfig(align=AlignConfig(size=sizes.ring), ring=FrameRingConfig(device=device))
            events, dis, frames = [], [], 0

            def collect(step: Step) -> None:
                nonlocal frames
                frames += step.frame is not None
                dis.extend(np.concatenate([d.ravel() for d in c.dis.values()]) for c in step.closed)
                events.extend((e.spot.frames.onset, e.spot.frames.apex, e.spot.frames.offset, e.label)
                              for e in step.finished)

            source = open_source(video)
            start = time.perf_counter()
            with source, RecognitionPipeline(config, engine=engine, fps=source.info.fps) as recognizer:
                for step in recognizer.stream(source):
                    collect(step)
                collect(recognizer.finish())
            runs[label] = (1000 * (time.perf_counter() - start) / frames, sorted(events, key=str), dis)
    (cpu_ms, cpu_events, cpu_dis), (gpu_ms, gpu_events, gpu_dis) = runs["cpu"], runs["cuda"]
    print(f"  {frames} frames at {sizes.video_fps:g} fps, {len(cpu_events)} micro-expressions: DIs on CPU "
          f"{cpu_ms:.2f} ms/frame, on CUDA {gpu_ms:.2f} ms/frame (CUDA / CPU {gpu_ms / cpu_ms:.2f})")
    same_events = cpu_events == gpu_events and len(cpu_dis) == len(gpu_dis)
    print(f"    events and labels, CUDA vs CPU: {'the same' if same_events else 'DIFFER'} ({gpu_events} vs {cpu_events})")
    if not same_events:
        check.differs.append("pipeline events or labels")
    elif cpu_dis:
        check.compare("pipeline DIs, CUDA vs CPU (relative)",
                      max(float(np.abs(g - c).max() / max(np.abs(c).max(), 1e-12)) for g, c in zip(gpu_dis, cpu_dis)),
                      DI_RELATIVE_TOLERANCE)


@contextlib.contextmanager
def tensorrt_here(dry: bool) -> Iterator[None]:
    """The real TensorRT, or in --dry the stand-in module from tests/support (loaded by path: not a package)."""
    if not dry:
        yield
        return
    spec = importlib.util.spec_from_file_location("fake_tensorrt_support", ROOT / "tests/support/fake_tensorrt.py")
    support = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(support)
    with support.installed():
        yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry", action="store_true", help="CPU only: every step but CUDA, TensorRT stand-in")
    args = parser.parse_args()
    if not args.dry and not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA GPU here; run it on an NVIDIA machine, or with --dry")
        return 2
    sizes = DRY if args.dry else Sizes()
    if args.dry:
        torch.set_num_threads(1)  # spinning OpenMP threads on a shared 2-core CI machine cost 20-40x
    cuda = "cpu" if args.dry else "cuda"
    where = "DRY RUN on the CPU (timings mean nothing)" if args.dry else torch.cuda.get_device_name(0)
    print(f"gpu_check: {where}; torch {torch.__version__}, {os.cpu_count()} CPUs, load "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    check = Check()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as name, tensorrt_here(args.dry):
        tmp = Path(name)
        model = checkpoint(tmp / "model.pt", sizes, args.dry)
        print("1. TensorRT engines")
        folders = build_engines(model, tmp)
        print("2. DI builder")
        di_builder(sizes, cuda, check)
        print("3. Classification, batch 1")
        classification(model, folders, sizes, args.dry, check)
        print("4. Training")
        training(sizes, cuda)
        print("5. Pipeline")
        pipeline(folders, sizes, cuda, tmp, check)
    verdict = "every CUDA path agrees with the CPU" if not check.differs else f"DIFFERS: {', '.join(check.differs)}"
    print(f"6. {verdict} ({time.perf_counter() - started:.0f} s in all)")
    return 1 if check.differs else 0


if __name__ == "__main__":
    sys.exit(main())
