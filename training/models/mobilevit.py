"""MobileViT (v1, Mehta & Rastegari 2022): `mobilevit_s` (5.6 M parameters with a classifier) and
`mobilevit_xxs` (1.3 M), the tables of timm's `mobilevit_s` / `mobilevit_xxs`.

torchvision publishes no MobileViT, so the names are ours and `pretrained` only accepts a file
saved from this module. A MobileViT block mixes a local conv representation with a transformer
over 2x2-pixel patches; a feature map whose side is odd (7x7 at stride 32 for a 224 px input) is
resized to the next multiple of the patch side and back, as in the reference implementation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from training.models.layers import ConvNormAct, decode_block
from training.models.registry import Backbone, register_backbone


@dataclass(frozen=True)
class MobileViTArch:
    stem: int  # stem conv channels
    stages: tuple[tuple[str, ...], ...]  # per stage: inverted-residual `ir` blocks, then a `vit` block or none
    num_features: int  # channels of the final 1x1 conv
    num_heads: int = 4  # attention heads in every transformer layer
    mlp_ratio: float = 2.0  # transformer MLP width / transformer width


ARCHS = {
    "mobilevit_xxs": MobileViTArch(
        stem=16,
        stages=(("ir_r1_s1_e2_c16",), ("ir_r3_s2_e2_c24",), ("ir_r1_s2_e2_c48", "vit_d64_l2_p2"),
                ("ir_r1_s2_e2_c64", "vit_d80_l4_p2"), ("ir_r1_s2_e2_c80", "vit_d96_l3_p2")),
        num_features=320),
    "mobilevit_s": MobileViTArch(
        stem=16,
        stages=(("ir_r1_s1_e4_c32",), ("ir_r3_s2_e4_c64",), ("ir_r1_s2_e4_c96", "vit_d144_l2_p2"),
                ("ir_r1_s2_e4_c128", "vit_d192_l4_p2"), ("ir_r1_s2_e4_c160", "vit_d240_l3_p2")),
        num_features=640),
}


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, depthwise 3x3, linear 1x1 project."""

    def __init__(self, in_chs: int, out_chs: int, *, stride: int, expand: float) -> None:
        super().__init__()
        mid = round(in_chs * expand)
        self.use_res_connect = stride == 1 and in_chs == out_chs
        self.block = nn.Sequential(
            ConvNormAct(in_chs, mid, 1),
            ConvNormAct(mid, mid, 3, stride=stride, groups=mid),
            ConvNormAct(mid, out_chs, 1, act=None),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        return x + out if self.use_res_connect else out


class Attention(nn.Module):
    """Multi-head self-attention written as matmul + softmax (exports to any ONNX opset)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        n, dim = x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape(-1, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, B, h, N, hd)
        q, k, v = qkv[0], qkv[1], qkv[2]
        weights = (q @ k.transpose(-2, -1) * self.head_dim ** -0.5).softmax(dim=-1)  # (B, h, N, N)
        out = (weights @ v).transpose(1, 2).reshape(-1, n, dim)  # (B, N, dim)
        return self.proj(out)


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: x + attn(norm(x)), x + mlp(norm(x))."""

    def __init__(self, dim: int, *, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = round(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MobileViTBlock(nn.Module):
    """Local 3x3 conv, transformer across patches at each in-patch position, fusion with the input."""

    def __init__(self, chs: int, *, dim: int, depth: int, patch: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.patch = patch
        self.conv_kxk = ConvNormAct(chs, chs, 3)
        self.conv_1x1 = nn.Conv2d(chs, dim, 1, bias=False)
        self.transformer = nn.Sequential(*[TransformerLayer(dim, num_heads=num_heads, mlp_ratio=mlp_ratio)
                                           for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.conv_proj = ConvNormAct(dim, chs, 1)
        self.conv_fusion = ConvNormAct(2 * chs, chs, 3)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x
        x = self.conv_1x1(self.conv_kxk(x))  # (B, d, H, W)
        d, h, w, p = x.shape[1], x.shape[2], x.shape[3], self.patch
        nh, nw = math.ceil(h / p), math.ceil(w / p)
        resized = (nh * p, nw * p) != (h, w)  # static for a given input size: no data-dependent branch
        if resized:
            x = F.interpolate(x, size=(nh * p, nw * p), mode="bilinear", align_corners=False)
        # unfold: (B, d, nh*p, nw*p) -> (B*p*p, nh*nw, d), one sequence per in-patch position
        x = x.reshape(-1, d, nh, p, nw, p).permute(0, 3, 5, 2, 4, 1).reshape(-1, nh * nw, d)
        x = self.norm(self.transformer(x))
        # fold back: (B*p*p, nh*nw, d) -> (B, d, nh*p, nw*p)
        x = x.reshape(-1, p, p, nh, nw, d).permute(0, 5, 3, 1, 4, 2).reshape(-1, d, nh * p, nw * p)
        if resized:
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        return self.conv_fusion(torch.cat((shortcut, self.conv_proj(x)), dim=1))  # (B, 2C, H, W) -> (B, C, H, W)


class MobileViT(Backbone):
    def __init__(self, arch: MobileViTArch, *, in_chans: int) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_features = arch.num_features
        self.stem_key = "stem.0.weight"
        self.head_keys = ("head.",)
        self.stem = ConvNormAct(in_chans, arch.stem, 3, stride=2)
        chs, stages = arch.stem, []
        for stage in arch.stages:
            blocks: list[nn.Module] = []
            for spec in map(decode_block, stage):
                if spec.kind == "ir":
                    for i in range(spec.repeats):
                        blocks.append(InvertedResidual(chs, spec.out, stride=spec.stride if i == 0 else 1,
                                                       expand=spec.expand))
                        chs = spec.out
                elif spec.kind == "vit":
                    blocks.append(MobileViTBlock(chs, dim=spec.dim, depth=spec.depth, patch=spec.patch,
                                                 num_heads=arch.num_heads, mlp_ratio=arch.mlp_ratio))
                else:
                    raise ValueError(f"unknown MobileViT block kind {spec.kind!r}")
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.final_conv = ConvNormAct(chs, arch.num_features, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.final_conv(self.stages(self.stem(x)))  # (B, num_features, H/32, W/32)


@register_backbone("mobilevit_s")
def mobilevit_s(in_chans: int) -> MobileViT:
    return MobileViT(ARCHS["mobilevit_s"], in_chans=in_chans)


@register_backbone("mobilevit_xxs")
def mobilevit_xxs(in_chans: int) -> MobileViT:
    return MobileViT(ARCHS["mobilevit_xxs"], in_chans=in_chans)
