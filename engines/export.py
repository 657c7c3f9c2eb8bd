"""DIANet -> one self-contained ONNX file with a dynamic batch, checked and compared with PyTorch.

The graph ends in softmax(logits / T), T the checkpoint's temperature (training.calibration), so
every runtime returns calibrated class probabilities and none re-implements the head. It is exported with torch.onnx's default (dynamo) exporter with the weights inside the
file (`external_data=False`): an engine folder is copied around as a unit and a side file would
be lost. The parity check feeds ONNX Runtime and PyTorch the same real DIs (made by
realtime.dynamic_images.rank_pooling from a synthetic moving image, through to_network_input) at batch 1 and
at the max batch, and refuses the export if probabilities differ by more than PARITY_TOLERANCE.
"""

from __future__ import annotations

import importlib.metadata
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from engines.backends.base import Backend
from engines.backends.torch import ProbabilityModel
from engines.engine_spec import BATCH_AXIS, OUTPUT_NAME, TensorSpec
from engines.inputs import prepare_inputs, synthetic_samples
from realtime.core.errors import EngineError
from realtime.dynamic_images.rank_pooling import DIInputConfig

log = logging.getLogger(__name__)

OPSET = 18  # the dynamo exporter's native minimum; ONNX Runtime and TensorRT 10's parser both read it
PARITY_TOLERANCE = 1e-4  # max |p_onnx - p_torch| on probabilities; fp32 kernels agree to ~1e-6
_EXPORTER_LOGGERS = ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")
_EXAMPLE_BATCH = 2  # torch.export specialises a size-1 dimension, so trace with 2 and mark it dynamic


def graph_signature(input_names: Sequence[str], input_shape: Sequence[int],
                    num_classes: int) -> tuple[tuple[TensorSpec, ...], TensorSpec]:
    """The inputs and output an engine graph must have: (batch, C, S, S) in, (batch, K) out."""
    inputs = tuple(TensorSpec(name, (BATCH_AXIS, *input_shape)) for name in input_names)
    return inputs, TensorSpec(OUTPUT_NAME, (BATCH_AXIS, num_classes))


def exporter_versions() -> dict[str, str | int]:
    return {"exporter": f"torch.onnx dynamo (torch {torch.__version__}, "
                        f"onnxscript {importlib.metadata.version('onnxscript')})",
            "opset": OPSET, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
            "torch": torch.__version__}


def export_onnx(net: nn.Module, path: Path, *, input_names: Sequence[str], input_shape: Sequence[int],
                temperature: float = 1.0) -> None:
    """Write `net` (a DIANet in eval mode) with softmax(logits / temperature) to `path` as one ONNX file."""
    model = ProbabilityModel(net, temperature).eval()
    example = tuple(torch.zeros(_EXAMPLE_BATCH, *input_shape) for _ in input_names)
    batch = torch.export.Dim(BATCH_AXIS)
    with warnings.catch_warnings(), _quiet_loggers(_EXPORTER_LOGGERS):
        warnings.simplefilter("ignore")  # the exporter's deprecation and pytree chatter
        try:
            torch.onnx.export(model, example, str(path), input_names=list(input_names), output_names=[OUTPUT_NAME],
                              dynamic_shapes=(tuple({0: batch} for _ in input_names),), opset_version=OPSET,
                              external_data=False, dynamo=True, verbose=False)
        except Exception as exc:  # torch.export raises many unrelated types; report the first line
            raise EngineError(f"ONNX export to {path} failed: {str(exc).strip().splitlines()[0]}") from exc


@contextmanager
def _quiet_loggers(names: Sequence[str]) -> Iterator[None]:
    """Raise the exporter's loggers to ERROR: they log every graph pass, and warn that torchvision is absent."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def check_onnx(path: Path, *, input_names: Sequence[str], input_shape: Sequence[int], num_classes: int) -> None:
    """onnx.checker (full, with shape inference), no external data, and the expected graph signature."""
    side_files = sorted(p.name for p in path.parent.glob(f"{path.name}.*"))
    if side_files:
        raise EngineError(f"export of {path} wrote side files {side_files}; an engine must be one file")
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise EngineError(f"{path} fails the ONNX checker: {str(exc).strip().splitlines()[0]}") from exc
    model = onnx.load(str(path), load_external_data=False)
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise EngineError(f"{path} keeps {len(external)} weights in external data (e.g. {external[0]})")
    actual_inputs = tuple(_graph_tensor(v) for v in model.graph.input)
    actual_outputs = tuple(_graph_tensor(v) for v in model.graph.output)
    inputs, output = graph_signature(input_names, input_shape, num_classes)
    if actual_inputs != inputs or actual_outputs != (output,):
        raise EngineError(f"{path} has inputs {actual_inputs} and outputs {actual_outputs}; expected {inputs} "
                          f"and {output}")


def measure_parity(reference: Backend, candidate: Backend, *, input_names: Sequence[str], di_input: DIInputConfig,
                   raw_size: int, batches: Sequence[int], tolerance: float) -> dict[str, float]:
    """max |p_candidate - p_reference| per batch size on synthetic real DIs.

    EngineError when the candidate returns NaN or inf (an fp16 overflow) or differs by more than
    `tolerance`.
    """
    parity = {}
    for batch in batches:
        samples = synthetic_samples(input_names, batch=batch, raw_size=raw_size, seed=1000 * batch,
                                    representation=di_input.representation)
        inputs = prepare_inputs(samples, input_names, di_input)
        expected = reference.run(inputs)
        actual = candidate.run(inputs)
        if actual.shape != expected.shape:
            raise EngineError(f"{candidate.name} returned shape {actual.shape} at batch {batch}, "
                              f"{reference.name} {expected.shape}")
        if not np.isfinite(actual).all():
            raise EngineError(f"{candidate.name} returned {np.count_nonzero(~np.isfinite(actual))} NaN or inf "
                              f"probabilities at batch {batch} (an fp16 overflow?)")
        difference = float(np.abs(actual - expected).max())
        log.info("%s vs %s at batch %d: max |dp| = %.2e", candidate.name, reference.name, batch, difference)
        if not difference <= tolerance:
            raise EngineError(f"{candidate.name} probabilities differ from {reference.name} by {difference:.3e} "
                              f"at batch {batch} (tolerance {tolerance:.0e})")
        parity[str(batch)] = difference
    return parity


def _graph_tensor(value: onnx.ValueInfoProto) -> TensorSpec:
    tensor_type = value.type.tensor_type
    shape = tuple(d.dim_param if d.HasField("dim_param") else int(d.dim_value) for d in tensor_type.shape.dim)
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)).name
    return TensorSpec(value.name, shape, dtype)
