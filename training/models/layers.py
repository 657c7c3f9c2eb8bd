"""Building blocks shared by the backbones, and the block-string decoder of the architecture tables.

Module and attribute names follow torchvision (`Conv2dNormActivation` is a Sequential of conv,
norm, activation at indices 0, 1, 2; `SqueezeExcitation` has `fc1`, `fc2`), so that a backbone
built from these blocks has torchvision's state-dict keys.

Architectures are declared as data, as timm does: one string per stage, decoded here.
`"ir_r6_k3_s2_e4_c128_se0.25"` reads: block kind `ir`, 6 repeats, kernel 3, stride 2 (first
block of the stage), expansion 4, 128 output channels, squeeze-excitation ratio 0.25.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

NormFn = Callable[[int], nn.Module]
ActFn = Callable[[], nn.Module]


@dataclass(frozen=True)
class BlockArgs:
    """One decoded stage string; fields a block kind does not use keep their defaults."""

    kind: str
    repeats: int = 1  # r: blocks in the stage
    kernel: int = 3  # k: spatial kernel of the main conv
    stride: int = 1  # s: stride of the stage's first block
    expand: float = 1.0  # e: expansion ratio of the inverted bottleneck
    out: int = 0  # c: output channels
    se: float = 0.0  # se: squeeze-excitation ratio, relative to the block's input channels
    dim: int = 0  # d: transformer width (MobileViT)
    depth: int = 0  # l: transformer layers (MobileViT)
    patch: int = 2  # p: transformer patch side (MobileViT)


_OPTION_FIELDS = {"r": "repeats", "k": "kernel", "s": "stride", "e": "expand", "c": "out", "se": "se",
                  "d": "dim", "l": "depth", "p": "patch"}
_INT_FIELDS = {"repeats", "kernel", "stride", "out", "dim", "depth", "patch"}


def decode_block(spec: str) -> BlockArgs:
    """'ir_r3_k3_s2_e4_c96_se0.25' -> BlockArgs(kind='ir', repeats=3, kernel=3, ...)."""
    kind, *options = spec.split("_")
    values: dict[str, float | int] = {}
    for option in options:
        match = re.fullmatch(r"([a-z]+)(\d+(?:\.\d+)?)", option)
        if match is None or match[1] not in _OPTION_FIELDS:
            raise ValueError(f"bad option {option!r} in block string {spec!r}")
        field = _OPTION_FIELDS[match[1]]
        values[field] = int(match[2]) if field in _INT_FIELDS else float(match[2])
    return BlockArgs(kind=kind, **values)


class ConvNormAct(nn.Sequential):
    """conv -> norm -> activation, torchvision's `Conv2dNormActivation` (same indices, same keys)."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, *, stride: int = 1, groups: int = 1,
                 padding: int | None = None, norm: NormFn | None = nn.BatchNorm2d,
                 act: ActFn | None = nn.SiLU, bias: bool | None = None) -> None:
        padding = (kernel_size - 1) // 2 if padding is None else padding
        bias = norm is None if bias is None else bias  # a norm right after makes a conv bias redundant
        layers: list[nn.Module] = [nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding, groups=groups, bias=bias)]
        if norm is not None:
            layers.append(norm(out_chs))
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Channel gating from globally pooled features (torchvision's names: fc1, fc2)."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = nn.SiLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))  # (B, C, 1, 1)
        return x * scale


class DropPath(nn.Module):
    """Stochastic depth, 'row' mode: drop a residual branch per sample while training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map (torchvision's ConvNeXt LayerNorm2d)."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)  # (B, C, H, W)


class Permute(nn.Module):
    """Tensor.permute as a module, so that it can sit in an nn.Sequential."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(self.dims)
