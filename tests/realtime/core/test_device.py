from __future__ import annotations

import pytest
import torch

from realtime.core.device import resolve_device
from realtime.core.errors import InputError


def test_auto_picks_cuda_only_when_torch_sees_it() -> None:
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["tpu", "cuda0", "cuda:x", "CPU", ""])
def test_unknown_names_are_refused_in_one_line(name: str) -> None:
    with pytest.raises(InputError, match="unknown device .* expected auto \\| cpu \\| cuda\\[:N\\]"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_refused_before_any_work(name: str) -> None:
    with pytest.raises(InputError, match="no CUDA device"):
        resolve_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_index_is_kept() -> None:
    assert resolve_device("cuda:0") == torch.device("cuda:0")
