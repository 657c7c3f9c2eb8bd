"""EfficientNetV2-S (the paper's backbone) and -B0 (small enough for CPU training).

Both are declared as block tables decoded by one builder. The module tree and parameter
names are torchvision's `efficientnet_v2_s` (features.0 stem, features.1-6 stages of
FusedMBConv `er` / MBConv `ir` blocks, features.7 the 1x1 head conv; the classifier is not
built), so torchvision's ImageNet file loads into `efficientnetv2_s` key for key. -B0 has no
torchvision weights; its table is timm's `efficientnetv2_b0` and it uses the same names.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from torch import Tensor, nn

from training.models.layers import ConvNormAct, DropPath, NormFn, SqueezeExcitation, decode_block
from training.models.registry import Backbone, register_backbone


@dataclass(frozen=True)
class EfficientNetArch:
    stem: int  # stem conv channels
    stages: tuple[str, ...]  # one block string per stage (layers.decode_block)
    num_features: int  # channels of the final 1x1 conv
    drop_path: float  # stochastic depth at the last block, linear from 0 (torchvision: 0.2)


ARCHS = {
    # torchvision efficientnet_v2_s: 21,458,488 parameters with its 1000-class classifier
    "efficientnetv2_s": EfficientNetArch(
        stem=24,
        stages=("er_r2_k3_s1_e1_c24", "er_r4_k3_s2_e4_c48", "er_r4_k3_s2_e4_c64",
                "ir_r6_k3_s2_e4_c128_se0.25", "ir_r9_k3_s1_e6_c160_se0.25", "ir_r15_k3_s2_e6_c256_se0.25"),
        num_features=1280, drop_path=0.2),
    # timm efficientnetv2_b0 (_gen_efficientnetv2_base at multipliers 1.0)
    "efficientnetv2_b0": EfficientNetArch(
        stem=32,
        stages=("er_r1_k3_s1_e1_c16", "er_r2_k3_s2_e4_c32", "er_r2_k3_s2_e4_c48",
                "ir_r3_k3_s2_e4_c96_se0.25", "ir_r5_k3_s1_e6_c112_se0.25", "ir_r8_k3_s2_e6_c192_se0.25"),
        num_features=1280, drop_path=0.2),
}

_BN = partial(nn.BatchNorm2d, eps=1e-3)  # torchvision's (and TF's) EfficientNetV2 epsilon


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, squeeze-excitation, 1x1 project."""

    def __init__(self, in_chs: int, out_chs: int, *, kernel: int, stride: int, expand: float, se: float,
                 drop_path: float, norm: NormFn) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and in_chs == out_chs
        mid = round(in_chs * expand)
        layers: list[nn.Module] = []
        if mid != in_chs:
            layers.append(ConvNormAct(in_chs, mid, 1, norm=norm))
        layers.append(ConvNormAct(mid, mid, kernel, stride=stride, groups=mid, norm=norm))
        if se > 0:
            layers.append(SqueezeExcitation(mid, max(1, int(in_chs * se))))
        layers.append(ConvNormAct(mid, out_chs, 1, norm=norm, act=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        return x + self.stochastic_depth(out) if self.use_res_connect else out


class FusedMBConv(nn.Module):
    """EfficientNetV2's early block: one full kxk conv expands, a 1x1 conv projects."""

    def __init__(self, in_chs: int, out_chs: int, *, kernel: int, stride: int, expand: float,
                 drop_path: float, norm: NormFn) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and in_chs == out_chs
        mid = round(in_chs * expand)
        if mid != in_chs:
            layers = [ConvNormAct(in_chs, mid, kernel, stride=stride, norm=norm),
                      ConvNormAct(mid, out_chs, 1, norm=norm, act=None)]
        else:
            layers = [ConvNormAct(in_chs, out_chs, kernel, stride=stride, norm=norm)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        return x + self.stochastic_depth(out) if self.use_res_connect else out


class EfficientNetV2(Backbone):
    def __init__(self, arch: EfficientNetArch, *, in_chans: int) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_features = arch.num_features
        self.stem_key = "features.0.0.weight"
        self.head_keys = ("classifier.",)
        stages = [decode_block(s) for s in arch.stages]
        total_blocks = sum(s.repeats for s in stages)
        layers: list[nn.Module] = [ConvNormAct(in_chans, arch.stem, 3, stride=2, norm=_BN)]
        chs, block_id = arch.stem, 0
        for stage in stages:
            blocks: list[nn.Module] = []
            for i in range(stage.repeats):
                drop_path = arch.drop_path * block_id / total_blocks
                stride = stage.stride if i == 0 else 1
                if stage.kind == "er":
                    block = FusedMBConv(chs, stage.out, kernel=stage.kernel, stride=stride, expand=stage.expand,
                                        drop_path=drop_path, norm=_BN)
                elif stage.kind == "ir":
                    block = MBConv(chs, stage.out, kernel=stage.kernel, stride=stride, expand=stage.expand,
                                   se=stage.se, drop_path=drop_path, norm=_BN)
                else:
                    raise ValueError(f"unknown EfficientNet block kind {stage.kind!r}")
                blocks.append(block)
                chs, block_id = stage.out, block_id + 1
            layers.append(nn.Sequential(*blocks))
        layers.append(ConvNormAct(chs, arch.num_features, 1, norm=_BN))
        self.features = nn.Sequential(*layers)
        _init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)  # (B, num_features, H/32, W/32)


def _init_weights(model: nn.Module) -> None:
    """torchvision's EfficientNet initialisation."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@register_backbone("efficientnetv2_s")
def efficientnetv2_s(in_chans: int) -> EfficientNetV2:
    return EfficientNetV2(ARCHS["efficientnetv2_s"], in_chans=in_chans)


@register_backbone("efficientnetv2_b0")
def efficientnetv2_b0(in_chans: int) -> EfficientNetV2:
    return EfficientNetV2(ARCHS["efficientnetv2_b0"], in_chans=in_chans)

