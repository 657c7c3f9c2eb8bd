"""The one place that turns a `--device` value into a torch device, for the ring, training and engines."""

from __future__ import annotations

import re

import torch

from realtime.core.errors import InputError

DEVICES = "auto | cpu | cuda[:N]"  # what every --device option accepts


def resolve_device(name: str) -> torch.device:
    """"auto" -> CUDA when torch sees a GPU, else the CPU; "cpu" and "cuda[:N]" as given.

    CUDA asked for on a machine without it is refused here, before any work starts, rather than
    failing at the first tensor moved there.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if re.fullmatch(r"cuda(:\d+)?", name):
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} requested but torch sees no CUDA device; use 'auto' or 'cpu'")
        return torch.device(name)
    raise InputError(f"unknown device {name!r}; expected {DEVICES}")
