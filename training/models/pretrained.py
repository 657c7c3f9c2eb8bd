"""Loading ImageNet weights from a torchvision state dict into a backbone, strictly.

`--pretrained FILE` takes what `torch.save(torchvision_model.state_dict(), FILE)` writes, e.g.
`efficientnet_v2_s-dd5fe13b.pth`, `resnet18-f37072fd.pth` or `convnext_tiny-983f1562.pth`
from download.pytorch.org (fetched by the user; nothing is downloaded here). The backbones
keep torchvision's parameter names and shapes, so the file loads key for key:

- the classifier's keys (`Backbone.head_keys`) are dropped, the head is DIANet's own;
- every other key in the file must be a backbone key of the same shape, and every backbone key
  must be in the file (BatchNorm's `num_batches_tracked` counters excepted: files saved before
  PyTorch 0.4.1, like resnet18-f37072fd.pth, lack them and they carry no weights);
- the stem conv of an RGB file is adapted to grey input by summing over the input channels
  (timm's `adapt_input_conv`), which gives a grey image the response the RGB net gives to
  the same grey image in all three channels.

Anything else is refused with a one-line `CheckpointError` naming the file and the first
mismatches, never loaded half-way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from realtime.core.errors import CheckpointError

if TYPE_CHECKING:
    from training.models.registry import Backbone

_SHOWN = 3  # mismatching keys quoted in an error message


def adapt_input_conv(in_chans: int, weight: Tensor) -> Tensor:
    """A stem conv weight (O, I, k, k) trained on I = 3 channels -> (O, in_chans, k, k)."""
    if weight.shape[1] == in_chans or weight.shape[1] != 3:
        return weight  # nothing to adapt, or not RGB: a wrong shape is reported by the caller
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = math.ceil(in_chans / 3)
    return weight.repeat(1, repeats, 1, 1)[:, :in_chans] * (3 / in_chans)


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """A file written by torch.save(state_dict) -> {key: tensor}; CheckpointError otherwise."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for corrupt or foreign files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch file ({reason})") from exc
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        raise CheckpointError(f"{path}: not a state dict of tensors (expected torch.save(model.state_dict()))")
    return dict(state)


def mismatches(expected: Mapping[str, Tensor], given: Mapping[str, Tensor]) -> str | None:
    """None when `given` has exactly the keys and shapes of `expected`, else a one-line summary."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [f"{k} {tuple(given[k].shape)} here {tuple(expected[k].shape)}"
              for k in expected if k in given and given[k].shape != expected[k].shape]
    parts = [f"{label} {_first(items)}" for label, items in
             (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", shapes)) if items]
    return "; ".join(parts) or None


def _first(items: list[str]) -> str:
    more = f" (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def load_pretrained(backbone: Backbone, path: Path, *, name: str) -> None:
    """Load torchvision ImageNet weights from `path` into `backbone` (registered as `name`)."""
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith(backbone.head_keys)}
    if backbone.stem_key in state:
        state[backbone.stem_key] = adapt_input_conv(backbone.in_chans, state[backbone.stem_key])
    own = backbone.state_dict()
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    problem = mismatches(own, state)
    if problem is not None:
        raise CheckpointError(f"{path}: does not match backbone {name}: {problem}")
    backbone.load_state_dict(state, strict=True)
