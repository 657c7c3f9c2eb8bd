"""The torch devices tests run on: the CPU everywhere, and CUDA where torch sees a GPU."""

from __future__ import annotations

import torch

DEVICES = ("cpu", *(("cuda",) if torch.cuda.is_available() else ()))
