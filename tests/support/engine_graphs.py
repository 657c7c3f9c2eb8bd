"""Small hand-written engine graphs, so engine tests do not depend on the exporter (test_builder covers it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper


def write_linear_graph(path: Path, names: Sequence[str], size: int, weight: np.ndarray) -> None:
    """softmax(concat(flatten(input) for input in names) @ weight): inputs (batch, 1, size, size),
    output "probabilities" (batch, K) with K = weight.shape[1]; the batch axis is dynamic."""
    shape = helper.make_tensor("shape", TensorProto.INT64, (2,), np.array([-1, size * size], np.int64))
    w = helper.make_tensor("w", TensorProto.FLOAT, weight.shape, weight.ravel())
    flat = [f"flat_{name}" for name in names]
    nodes = [helper.make_node("Reshape", [name, "shape"], [f]) for name, f in zip(names, flat, strict=True)]
    nodes += [helper.make_node("Concat", flat, ["joined"], axis=1), helper.make_node("MatMul", ["joined", "w"], ["z"]),
              helper.make_node("Softmax", ["z"], ["probabilities"], axis=-1)]
    graph = helper.make_graph(
        nodes, "linear", [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 1, size, size]) for n in names],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", weight.shape[1]])], [shape, w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
