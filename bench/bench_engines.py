"""Classification latency of PyTorch eager against ONNX Runtime (and the CUDA runtimes on a GPU).

    python bench/bench_engines.py [--iterations 20] [--threads 2] [--size 224]

For EfficientNetV2-B0 and -S DIANets (phases, random weights) at `--size` px, times one
classification of ready network inputs at batch 1 and 2 in each runtime, in one run, and prints
p50 / p95 in ms and the PyTorch / ONNX Runtime ratio. Preprocessing (to_network_input) is the
same for every backend and is timed once on its own. On a machine with a CUDA GPU it adds torch
CUDA, ONNX Runtime's CUDA provider (where installed) and TensorRT fp32/fp16 plans (where
installed). Each model is exported once.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from engines.backend import Backend
from engines.export import export_onnx, graph_signature
from engines.inputs import prepare_inputs, synthetic_samples
from engines.onnx_backend import OnnxBackend, cuda_provider_available
from engines.torch_backend import TorchBackend
from engines.tensorrt_backend import tensorrt_usable
from training.dynamic_images import DIInputConfig
from training.models import ModelConfig, create_model, input_names

BACKBONES = ("efficientnetv2_b0", "efficientnetv2_s")
BATCHES = (1, 2)


def percentiles(run: Callable[[], object], iterations: int, warmup: int = 3) -> tuple[float, float]:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - start))
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def time_backend(backend: Backend, inputs: dict[int, dict[str, np.ndarray]], iterations: int
                 ) -> dict[int, tuple[float, float]]:
    return {batch: percentiles(lambda x=x: backend.run(x), iterations) for batch, x in inputs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for both runtimes")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    di_input = DIInputConfig(size=args.size)
    print(f"torch {torch.__version__}, CPU threads {args.threads}, {args.size} px, {args.iterations} runs, "
          f"times in ms (p50 / p95) of one classification of ready inputs")
    for backbone in BACKBONES:
        config = ModelConfig(backbone=backbone, inputs="phases")
        torch.manual_seed(0)
        net = create_model(config).eval()
        names = input_names(config)
        samples = synthetic_samples(names, batch=max(BATCHES), raw_size=args.size)
        p50, p95 = percentiles(lambda: prepare_inputs(samples[:1], names, di_input), args.iterations)
        print(f"\n{backbone}: preprocessing (to_network_input, 2 DIs) {p50:.2f} / {p95:.2f}")
        inputs = {b: prepare_inputs(samples[:b], names, di_input) for b in BATCHES}
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = Path(tmp) / "model.onnx"
            start = time.perf_counter()
            export_onnx(net, onnx_path, input_names=names, input_shape=(1, args.size, args.size))
            print(f"{backbone}: ONNX export {time.perf_counter() - start:.1f} s, "
                  f"{onnx_path.stat().st_size / 1e6:.1f} MB")
            results = {
                "torch cpu": time_backend(TorchBackend(net, names, threads=args.threads, device="cpu"), inputs,
                                          args.iterations),
                "onnxruntime cpu": time_backend(OnnxBackend(onnx_path, threads=args.threads, device="cpu"), inputs,
                                                args.iterations),
            }
            if torch.cuda.is_available():
                results["torch cuda"] = time_backend(TorchBackend(net, names, device="cuda"), inputs,
                                                     args.iterations)
                if cuda_provider_available():
                    results["onnxruntime cuda"] = time_backend(OnnxBackend(onnx_path, device="cuda"), inputs,
                                                               args.iterations)
                if tensorrt_usable():
                    results.update(time_tensorrt(onnx_path, names, (1, args.size, args.size), config.num_classes,
                                                  inputs, args.iterations, tmp))
        for runtime, by_batch in results.items():
            cells = "   ".join(f"batch {b}: {p50:7.2f} / {p95:7.2f}" for b, (p50, p95) in by_batch.items())
            print(f"  {runtime:<18} {cells}")
        ratios = "   ".join(f"batch {b}: {results['torch cpu'][b][0] / results['onnxruntime cpu'][b][0]:.2f}x"
                           for b in BATCHES)
        print(f"  CPU p50 ratio torch / onnxruntime: {ratios}")


def time_tensorrt(onnx_path: Path, names: tuple[str, ...], input_shape: tuple[int, int, int], num_classes: int,
                  inputs: dict[int, dict[str, np.ndarray]], iterations: int, tmp: str) -> dict[str, dict[int, tuple[float, float]]]:
    from engines.tensorrt_backend import TensorRTBackend, build_plan

    signature_inputs, output = graph_signature(names, input_shape, num_classes)
    results = {}
    for precision in ("fp32", "fp16"):
        plan_path = Path(tmp) / f"model_{precision}.plan"
        target, built = build_plan(onnx_path, plan_path, inputs=signature_inputs, max_batch=max(BATCHES),
                                   fp16=precision == "fp16", timing_cache=Path(tmp) / "timing.cache")
        plan = TensorRTBackend(plan_path, built_for=target, inputs=signature_inputs, output=output)
        results[f"tensorrt {built}"] = time_backend(plan, inputs, iterations)
        plan.close()
    return results


if __name__ == "__main__":
    main()
