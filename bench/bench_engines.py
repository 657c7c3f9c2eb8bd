"""Classification latency of PyTorch eager against ONNX Runtime (and the CUDA runtimes on a GPU).

    python bench/bench_engines.py [--iterations 20] [--threads 2] [--size 224]

For EfficientNetV2-B0 and -S DIANets (phases, random weights) at `--size` px, times one
classification of ready network inputs at batch 1 and 2 in each runtime and prints p50 / p95 in
ms and the PyTorch / ONNX Runtime ratio at the same thread count. Runtimes are timed round-robin
(one call of each per iteration), so load from other processes on a shared machine hits all of
them alike. Preprocessing (to_network_input) is the same for every backend and is timed on its
own. With a CUDA GPU it adds torch CUDA, ONNX Runtime's CUDA provider (where installed) and
TensorRT fp32/fp16 plans (where installed). Each model is exported once.

PyTorch's OpenMP pool busy-waits between layers (OMP_WAIT_POLICY cannot be changed once torch is
imported); on an oversubscribed CPU that costs it far more than ONNX Runtime's non-spinning pool,
so PyTorch is also timed with one thread.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from engines.backend import Backend
from engines.export import export_onnx, graph_signature
from engines.inputs import prepare_inputs, synthetic_samples
from engines.onnx_backend import OnnxBackend, cuda_provider_available
from engines.tensorrt_backend import tensorrt_usable
from engines.torch_backend import TorchBackend
from realtime.dynamic_images.rank_pooling import DIInputConfig
from training.models import ModelConfig, create_model, input_names

BACKBONES = ("efficientnetv2_b0", "efficientnetv2_s")
BATCHES = (1, 2)
WARMUP = 3


class Runs(Protocol):
    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray: ...


class ThreadsSet:
    """A backend whose torch thread count is set before each call (PyTorch's pool is per process)."""

    def __init__(self, backend: Backend, threads: int) -> None:
        self.backend, self.threads = backend, threads

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        torch.set_num_threads(self.threads)
        return self.backend.run(inputs)


def round_robin(runs: dict[str, Callable[[], object]], iterations: int) -> dict[str, tuple[float, float]]:
    """p50, p95 in ms of each callable, called in turn `iterations` times after WARMUP calls each."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(WARMUP + iterations):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            if i >= WARMUP:
                times[name].append(1000 * (time.perf_counter() - start))
    return {name: (float(np.percentile(t, 50)), float(np.percentile(t, 95))) for name, t in times.items()}


def tensorrt_backends(onnx_path: Path, names: tuple[str, ...], input_shape: tuple[int, int, int], num_classes: int,
                      tmp: Path) -> dict[str, Backend]:
    from engines.tensorrt_backend import TensorRTBackend, build_plan

    inputs, output = graph_signature(names, input_shape, num_classes)
    plans = {}
    for precision in ("fp32", "fp16"):
        plan_path = tmp / f"model_{precision}.plan"
        target, built = build_plan(onnx_path, plan_path, inputs=inputs, max_batch=max(BATCHES),
                                   fp16=precision == "fp16", timing_cache=tmp / "timing.cache")
        plans[f"tensorrt {built}"] = TensorRTBackend(plan_path, built_for=target, inputs=inputs, output=output)
    return plans


def bench(backbone: str, args: argparse.Namespace, tmp: Path) -> None:
    config = ModelConfig(backbone=backbone, inputs="phases")
    torch.manual_seed(0)
    net = create_model(config).eval()
    names = input_names(config)
    di_input = DIInputConfig(size=args.size)
    samples = synthetic_samples(names, batch=max(BATCHES), raw_size=args.size)
    inputs = {b: prepare_inputs(samples[:b], names, di_input) for b in BATCHES}
    onnx_path = tmp / f"{backbone}.onnx"
    start = time.perf_counter()
    export_onnx(net, onnx_path, input_names=names, input_shape=(1, args.size, args.size))
    print(f"\n{backbone}: ONNX export {time.perf_counter() - start:.1f} s, {onnx_path.stat().st_size / 1e6:.1f} MB")
    prep = round_robin({"prep": lambda: prepare_inputs(samples[:1], names, di_input)}, args.iterations)["prep"]
    print(f"  preprocessing of one sample (2 DIs, to_network_input): {prep[0]:.2f} / {prep[1]:.2f}")

    cpu_torch = TorchBackend(net, names, threads=args.threads, device="cpu")
    torch_cpu, onnx_cpu = f"torch cpu {args.threads}t", f"onnxruntime cpu {args.threads}t"
    backends: dict[str, Runs] = {
        torch_cpu: ThreadsSet(cpu_torch, args.threads),
        onnx_cpu: OnnxBackend(onnx_path, threads=args.threads, device="cpu"),
        "torch cpu 1t": ThreadsSet(cpu_torch, 1),
    }
    if torch.cuda.is_available():
        backends["torch cuda"] = TorchBackend(net, names, device="cuda")
        if cuda_provider_available():
            backends["onnxruntime cuda"] = OnnxBackend(onnx_path, device="cuda")
        if tensorrt_usable():
            backends.update(tensorrt_backends(onnx_path, names, (1, args.size, args.size), config.num_classes, tmp))
    results = {b: round_robin({name: (lambda r=r, x=inputs[b]: r.run(x)) for name, r in backends.items()},
                              args.iterations) for b in BATCHES}
    for name in backends:
        cells = "   ".join(f"batch {b}: {results[b][name][0]:8.1f} / {results[b][name][1]:8.1f}" for b in BATCHES)
        print(f"  {name:<20} {cells}")
    ratios = "   ".join(f"batch {b}: {results[b][torch_cpu][0] / results[b][onnx_cpu][0]:.2f}x" for b in BATCHES)
    print(f"  p50 ratio torch / onnxruntime, CPU, {args.threads} threads each: {ratios}")
    torch.set_num_threads(args.threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for both runtimes")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs (load average {load}), {args.size} px, "
          f"{args.iterations} runs; ms p50 / p95 of one classification of ready inputs")
    with tempfile.TemporaryDirectory() as tmp:
        for backbone in args.backbones:
            bench(backbone, args, Path(tmp))


if __name__ == "__main__":
    main()
