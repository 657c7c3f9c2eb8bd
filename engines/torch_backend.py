"""PyTorch eager backend: runs a model.pt as trained, the reference the other backends match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from realtime.errors import EngineError

TORCH_DEVICES = ("auto", "cpu", "cuda")


class ProbabilityModel(nn.Module):
    """DIANet -> class probabilities: the exported graph's output and the PyTorch backend's."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:  # each (B, C, S, S) -> (B, K)
        return torch.softmax(self.net(*inputs).logits, dim=-1)


class TorchBackend:
    """Eager inference with torch.inference_mode, on CUDA where present (device="auto").

    PyTorch has one CPU thread pool per process, so on CPU `threads` sets it for the whole
    process (torch.set_num_threads); ONNX Runtime keeps a pool per session instead. That pool's
    OpenMP threads busy-wait between layers and, unlike ONNX Runtime's, cannot be told not to once
    torch is imported: on a CPU shared with capture and alignment use threads=1, or set
    OMP_WAIT_POLICY=PASSIVE in the environment before the process starts (bench_engines.py).
    """

    name = "torch"

    def __init__(self, net: nn.Module, input_names: Sequence[str], *, threads: int = 2,
                 device: str = "auto") -> None:
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda":
            if not torch.cuda.is_available():
                raise EngineError("the PyTorch backend was asked for CUDA, but torch sees no CUDA GPU")
            self.device = f"cuda:0 {torch.cuda.get_device_name(0)}"
        elif device == "cpu":
            if threads < 1:
                raise EngineError(f"threads must be >= 1, got {threads}")
            torch.set_num_threads(threads)
            self.device = f"cpu ({threads} threads)"
        else:
            raise EngineError(f"unknown PyTorch device {device!r}; choose one of {', '.join(TORCH_DEVICES)}")
        self._torch_device = torch.device(device)
        self._model = ProbabilityModel(net).eval().to(self._torch_device)
        self.input_names = tuple(input_names)

    @torch.inference_mode()
    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        tensors = [torch.from_numpy(inputs[name]).to(self._torch_device) for name in self.input_names]
        return self._model(*tensors).float().cpu().numpy()  # (B, K) float32

    def close(self) -> None:
        self._model = None
