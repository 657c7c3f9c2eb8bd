"""ConvNeXt-Tiny with torchvision's module tree and parameter names.

features.0 is the 4x4 patchify stem, features.1/3/5/7 the stages of CNBlocks and features.2/4/6
the LayerNorm + 2x2-conv downsamplings between them. torchvision's `classifier` (LayerNorm2d,
Flatten, Linear) is the head and is not built: `forward_features` returns the last stage's map
before that norm, as timm's does; DIANet's own projection follows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from training.models.layers import ConvNormAct, DropPath, LayerNorm2d, Permute
from training.models.registry import Backbone, register_backbone


@dataclass(frozen=True)
class ConvNeXtArch:
    depths: tuple[int, ...]  # CNBlocks per stage
    dims: tuple[int, ...]  # channels per stage
    drop_path: float  # stochastic depth at the last block, linear from 0 (torchvision: 0.1 for tiny)
    layer_scale: float = 1e-6  # initial residual branch scale (the paper's)


ARCHS = {
    # torchvision convnext_tiny: 28,589,128 parameters with its classifier
    "convnext_tiny": ConvNeXtArch(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), drop_path=0.1),
}

_LN2D = partial(LayerNorm2d, eps=1e-6)


class CNBlock(nn.Module):
    """Depthwise 7x7, LayerNorm, 4x MLP with GELU, scaled residual."""

    def __init__(self, dim: int, *, layer_scale: float, drop_path: float) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),
            Permute([0, 2, 3, 1]),  # (B, H, W, C)
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]),  # (B, C, H, W)
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
        self.stochastic_depth = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.stochastic_depth(self.layer_scale * self.block(x))


class ConvNeXt(Backbone):
    def __init__(self, arch: ConvNeXtArch, *, in_chans: int) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_features = arch.dims[-1]
        self.stem_key = "features.0.0.weight"
        self.head_keys = ("classifier.",)
        layers: list[nn.Module] = [ConvNormAct(in_chans, arch.dims[0], 4, stride=4, padding=0, norm=_LN2D,
                                               act=None, bias=True)]
        total_blocks, block_id = sum(arch.depths), 0
        for i, (depth, dim) in enumerate(zip(arch.depths, arch.dims, strict=True)):
            blocks = []
            for _ in range(depth):
                drop_path = arch.drop_path * block_id / (total_blocks - 1)
                blocks.append(CNBlock(dim, layer_scale=arch.layer_scale, drop_path=drop_path))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
            if i + 1 < len(arch.dims):
                layers.append(nn.Sequential(_LN2D(dim), nn.Conv2d(dim, arch.dims[i + 1], kernel_size=2, stride=2)))
        self.features = nn.Sequential(*layers)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)  # (B, 768, H/32, W/32)


@register_backbone("convnext_tiny")
def convnext_tiny(in_chans: int) -> ConvNeXt:
    return ConvNeXt(ARCHS["convnext_tiny"], in_chans=in_chans)
