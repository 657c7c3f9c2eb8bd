"""Inference engines compiled from trained DIANet checkpoints (ONNX Runtime, TensorRT, PyTorch).

    import engines
    with engines.load("runs/engine") as engine:                # engine folder, or a model.pt
        probabilities = engine.classify([{"di_onset": engines.RawDI(di_on, t_on),
                                          "di_offset": engines.RawDI(di_off, t_off)}])  # (B, K)

Build a folder with `mer-build-engine MODEL.pt --out DIR` (engines.builder.build_engine).
"""

from engines.engine_spec import EngineSpec
from engines.inputs import RawDI, Sample
from engines.runtime import Engine, load

__all__ = ["Engine", "EngineSpec", "RawDI", "Sample", "load"]
