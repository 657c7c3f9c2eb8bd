"""PyTorch eager backend: runs a model.pt as trained, the reference the other backends match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from realtime.core.errors import EngineError

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

    On CPU `threads` is set on the thread that runs the model, at every run: with OpenMP the
    thread count is per calling thread, so the pipeline's frame thread can stay single-threaded
    while its classifier thread uses `threads`. OpenMP threads busy-wait between layers unless
    OMP_WAIT_POLICY=PASSIVE is set before torch is imported (the realtime commands set it), and
    spinning threads steal the capture thread's core (bench_engines.py measures both).
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
            self.device = f"cpu ({threads} threads)"
        else:
            raise EngineError(f"unknown PyTorch device {device!r}; choose one of {', '.join(TORCH_DEVICES)}")
        self._torch_device = torch.device(device)
        self._model = ProbabilityModel(net).eval().to(self._torch_device)
        self.input_names = tuple(input_names)
        self._threads = threads if device == "cpu" else None

    @torch.inference_mode()
    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        if self._threads is not None:
            torch.set_num_threads(self._threads)
        tensors = [torch.from_numpy(inputs[name]).to(self._torch_device) for name in self.input_names]
        return self._model(*tensors).float().cpu().numpy()  # (B, K) float32

    def close(self) -> None:
        self._model = None
