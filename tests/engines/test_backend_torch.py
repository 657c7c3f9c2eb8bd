"""The PyTorch backend on every device torch sees: contiguous float32 inputs made by the backend, the
same probabilities everywhere, and on CUDA a stream of its own (not the legacy default stream)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engines.backends.torch import TorchBackend
from realtime.core.errors import EngineError
from support.devices import DEVICES
from training.models import ModelConfig, create_model, input_names


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(ModelConfig(backbone="resnet18", num_classes=3, inputs="phases", feature_dim=16,
                                    hidden_dim=8)).eval()


@pytest.mark.parametrize("device", DEVICES)
def test_same_probabilities_on_every_device_from_any_array_layout(net: torch.nn.Module, device: str) -> None:
    names = input_names(ModelConfig(backbone="resnet18", inputs="phases"))
    rng = np.random.default_rng(1)
    inputs = {n: rng.normal(size=(2, 1, 32, 32)).astype(np.float32) for n in names}
    reference = TorchBackend(net, names, threads=1, device="cpu").run(inputs)
    backend = TorchBackend(net, names, threads=1, device=device)
    views = {n: np.repeat(x.astype(np.float64), 2, axis=3)[..., ::2] for n, x in inputs.items()}  # strided float64
    for given in (inputs, views):
        probabilities = backend.run(given)
        assert probabilities.dtype == np.float32 and probabilities.shape == (2, 3)
        np.testing.assert_allclose(probabilities, reference, atol=1e-4 if device == "cuda" else 1e-6)
    if device == "cuda":
        assert backend._stream is not None and backend._stream != torch.cuda.default_stream()
    else:
        assert backend._stream is None and backend.device == "cpu (1 threads)"


def test_devices_are_checked(net: torch.nn.Module) -> None:
    with pytest.raises(EngineError, match="unknown PyTorch device 'tpu'; choose one of auto, cpu, cuda"):
        TorchBackend(net, ("di_onset", "di_offset"), device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(EngineError, match="asked for CUDA, but torch sees no CUDA GPU"):
            TorchBackend(net, ("di_onset", "di_offset"), device="cuda")
