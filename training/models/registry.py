"""The backbone registry: one name per architecture, one surface for all of them.

Every backbone is a `Backbone`: `forward_features(x)` returns the last feature map
(B, num_features, h, w) with the ImageNet classification head removed, and `forward(x)` its
global average (B, num_features). `create_backbone(name, pretrained=FILE)` builds one and loads
ImageNet weights from a torchvision state dict (training.models.pretrained).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path

from torch import Tensor, nn

from realtime.core.registry import Registry
from training.models.pretrained import load_pretrained


class Backbone(nn.Module, abc.ABC):
    """A headless image network; subclasses set the attributes below in __init__."""

    num_features: int  # channels of the feature map
    in_chans: int  # input channels (1 for grey dynamic images)
    stem_key: str  # state-dict key of the first conv's weight, adapted to `in_chans` on loading
    head_keys: tuple[str, ...]  # key prefixes of the classifier in a full torchvision state dict

    @abc.abstractmethod
    def forward_features(self, x: Tensor) -> Tensor:
        """(B, in_chans, H, W) -> (B, num_features, H/32, W/32)."""

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x).mean(dim=(2, 3))  # (B, num_features)


BackboneFactory = Callable[[int], Backbone]  # in_chans -> backbone
BACKBONES: Registry[BackboneFactory] = Registry("backbone", sort=True)
register_backbone = BACKBONES.register
list_backbones = BACKBONES.names
check_backbone = BACKBONES.check


def create_backbone(name: str, *, pretrained: Path | None = None, in_chans: int = 1) -> Backbone:
    """Build backbone `name`; `pretrained` is a torchvision state dict file (see pretrained.py)."""
    backbone = BACKBONES[name](in_chans)
    if pretrained is not None:
        load_pretrained(backbone, Path(pretrained), name=name)
    return backbone
