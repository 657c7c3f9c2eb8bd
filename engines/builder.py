"""model.pt -> engine folder: export, check, compare, optionally build a TensorRT plan, write engine.json."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from engines.backends import get_backend, list_backends
from engines.backends.onnx import OnnxBackend
from engines.backends.torch import TorchBackend
from engines.engine_spec import DEFAULT_MAX_BATCH, ENGINE_JSON, ONNX_FILE, PLAN_FILE, EngineSpec
from engines.export import (PARITY_TOLERANCE, check_onnx, export_onnx, exporter_versions, graph_signature,
                            measure_parity)
from realtime.core.errors import EngineError
from training.checkpoint import file_sha256, load_checkpoint

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16")
TIMING_CACHE = "timing.cache"  # TensorRT layer timings, reused when rebuilding into the same folder
# max |p_plan - p_torch| a TensorRT plan may show: fp32 runs TF32 tensor cores by default (10-bit
# mantissa in the convolutions), fp16 everywhere; NaN and inf fail too. ONNX Runtime: PARITY_TOLERANCE.
TENSORRT_TOLERANCE = {"fp32": 1e-3, "fp16": 1e-2}


def build_backends() -> tuple[str, ...]:
    """What --backend accepts: auto, then every registered backend that engine folders are built for."""
    return ("auto", *list_backends(builds=True))


def resolve_backend(backend: str, precision: str) -> tuple[str, str]:
    """The backend and precision a build will use; fails at once where TensorRT is asked for and missing."""
    from engines.backends.tensorrt import current_target, import_tensorrt, tensorrt_usable

    if precision not in PRECISIONS:
        raise EngineError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if backend != "auto":
        get_backend(backend, choices=build_backends())
    if backend == "tensorrt":
        current_target(import_tensorrt())  # TensorRT importable and a CUDA GPU present, or one line
        return backend, precision
    if backend == "auto":
        chosen = "tensorrt" if tensorrt_usable() else "onnx"
        if chosen == "onnx" and precision == "fp16":
            log.warning("no TensorRT here: building an fp32 ONNX engine (fp16 needs --backend tensorrt)")
            precision = "fp32"
        log.info("backend auto: %s", chosen)
        return chosen, precision
    if precision == "fp16":
        raise EngineError(f"--precision fp16 needs --backend tensorrt; {backend} engines run in fp32")
    return backend, precision


def build_engine(checkpoint: Path, out: Path, *, backend: str = "auto", precision: str = "fp32",
                 max_batch: int = DEFAULT_MAX_BATCH, threads: int = 2) -> EngineSpec:
    """Build an engine folder `out` from `checkpoint` and return what was written to engine.json.

    engine.json is written last, and a previous one is removed first, so a failed build never
    leaves a folder that loads.
    """
    if max_batch < 1:
        raise EngineError(f"--max-batch must be >= 1, got {max_batch}")
    backend, precision = resolve_backend(backend, precision)
    net, meta = load_checkpoint(checkpoint)
    net.eval()
    out.mkdir(parents=True, exist_ok=True)
    for stale in (ENGINE_JSON, ONNX_FILE, PLAN_FILE):
        (out / stale).unlink(missing_ok=True)
    input_shape = (meta.model.in_chans, meta.di_input.size, meta.di_input.size)  # (C, S, S)
    inputs, output = graph_signature(meta.input_names, input_shape, len(meta.classes))

    onnx_path = out / ONNX_FILE
    log.info("exporting %s (%s, inputs %s) to %s", checkpoint, meta.model.backbone, list(meta.input_names), onnx_path)
    export_onnx(net, onnx_path, input_names=meta.input_names, input_shape=input_shape, temperature=meta.temperature)
    check_onnx(onnx_path, input_names=meta.input_names, input_shape=input_shape, num_classes=len(meta.classes))

    reference = TorchBackend(net, meta.input_names, threads=threads, device="cpu", temperature=meta.temperature)
    batches = sorted({1, max_batch})
    raw_size = int(meta.alignment.get("size", meta.di_input.size))  # DIs come at the aligned crop size
    parity_args = dict(input_names=meta.input_names, di_input=meta.di_input, raw_size=raw_size, batches=batches)
    onnx_runtime = OnnxBackend(onnx_path, threads=threads, device="cpu")
    parity = {"onnxruntime_cpu": measure_parity(reference, onnx_runtime, tolerance=PARITY_TOLERANCE, **parity_args)}
    onnx_runtime.close()
    onnx_sha256 = file_sha256(onnx_path)
    versions = exporter_versions()

    tensorrt = None
    model_file, model_sha256 = ONNX_FILE, onnx_sha256
    if backend == "tensorrt":
        from engines.backends.tensorrt import TensorRTBackend, build_plan

        plan_path = out / PLAN_FILE
        tensorrt, precision = build_plan(onnx_path, plan_path, inputs=inputs, max_batch=max_batch,
                                         fp16=precision == "fp16", timing_cache=out / TIMING_CACHE)
        plan = TensorRTBackend(plan_path, built_for=tensorrt, inputs=inputs, output=output)
        try:
            parity["tensorrt"] = measure_parity(reference, plan, tolerance=TENSORRT_TOLERANCE[precision],
                                                **parity_args)
        finally:
            plan.close()
        versions["tensorrt"] = tensorrt.version
        model_file, model_sha256 = PLAN_FILE, file_sha256(plan_path)

    spec = EngineSpec(
        backend=backend, model_file=model_file, model_sha256=model_sha256, onnx_file=ONNX_FILE,
        onnx_sha256=onnx_sha256, classes=tuple(meta.classes), inputs=inputs, output=output, max_batch=max_batch,
        precision=precision, di_input=meta.di_input, alignment=dict(meta.alignment), model=asdict(meta.model),
        source={"checkpoint": checkpoint.name, "sha256": file_sha256(checkpoint),
                "data_fingerprint": meta.data_fingerprint},
        versions=versions, parity=parity, tensorrt=tensorrt, temperature=meta.temperature,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    spec.write(out)
    log.info("wrote %s engine %s (max |dp| vs PyTorch: %s)", backend, out, parity)
    return spec
