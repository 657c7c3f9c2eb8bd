"""PyTorch eager backend: runs a model.pt as trained, the reference the other backends match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from engines.backends.base import BackendEntry, host_inputs, register_backend
from realtime.core.errors import EngineError

if TYPE_CHECKING:
    from training.checkpoint import CheckpointMeta

TORCH_DEVICES = ("auto", "cpu", "cuda")


class ProbabilityModel(nn.Module):
    """DIANet -> class probabilities softmax(logits / T): the exported graph's output and the PyTorch
    backend's, so every backend applies the checkpoint's temperature the same way (T = 1: as trained)."""

    def __init__(self, net: nn.Module, temperature: float = 1.0) -> None:
        super().__init__()
        self.net = net
        self.temperature = float(temperature)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:  # each (B, C, S, S) -> (B, K)
        return torch.softmax(self.net(*inputs).logits / self.temperature, dim=-1)


class TorchBackend:
    """Eager inference with torch.inference_mode, on CUDA where present (device="auto").

    On CUDA it runs on a stream of its own, as the TensorRT backend does: on the legacy default
    stream every blocking copy of the frame thread (the ring buffer's) would wait for a whole
    forward pass, and the forward pass for it.

    On CPU `threads` is set on the thread that runs the model, at every run: with OpenMP the
    thread count is per calling thread, so the pipeline's frame thread can stay single-threaded
    while its classifier thread uses `threads`. OpenMP threads busy-wait between layers unless
    OMP_WAIT_POLICY=PASSIVE is set before torch is imported (the realtime commands set it), and
    spinning threads steal the capture thread's core (bench_engines.py measures both).
    """

    name = "torch"

    def __init__(self, net: nn.Module, input_names: Sequence[str], *, threads: int = 2,
                 device: str = "auto", temperature: float = 1.0) -> None:
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
        self._model = ProbabilityModel(net, temperature).eval().to(self._torch_device)
        self._stream = torch.cuda.Stream(self._torch_device) if device == "cuda" else None
        if self._stream is not None:
            self._stream.wait_stream(torch.cuda.current_stream(self._torch_device))  # the weights' copy first
        self.input_names = tuple(input_names)
        self._threads = threads if device == "cpu" else None

    @torch.inference_mode()
    def run(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        if self._threads is not None:
            torch.set_num_threads(self._threads)
        with torch.cuda.stream(self._stream):  # a no-op on CPU (stream None)
            tensors = [torch.from_numpy(x).to(self._torch_device) for x in host_inputs(inputs, self.input_names)]
            return self._model(*tensors).float().cpu().numpy()  # (B, K) float32; the copy waits for the stream

    def close(self) -> None:
        self._model = None


def open_checkpoint(net: nn.Module, meta: CheckpointMeta, threads: int) -> TorchBackend:
    return TorchBackend(net, meta.input_names, threads=threads, temperature=meta.temperature)


register_backend(BackendEntry("torch", "PyTorch eager on a model.pt (CUDA where present)",
                              open_checkpoint=open_checkpoint))
