"""ResNet-18 with torchvision's module tree and parameter names (conv1, bn1, layer1-4; no fc)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from training.models.registry import Backbone, register_backbone


@dataclass(frozen=True)
class ResNetArch:
    depths: tuple[int, ...]  # BasicBlocks per stage
    widths: tuple[int, ...]  # channels per stage; every stage after the first halves the resolution


ARCHS = {
    # torchvision resnet18: 11,689,512 parameters with its 1000-class fc
    "resnet18": ResNetArch(depths=(2, 2, 2, 2), widths=(64, 128, 256, 512)),
}


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or 1x1-conv `downsample`) shortcut."""

    def __init__(self, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chs)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)
        self.downsample = (nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, stride, bias=False), nn.BatchNorm2d(out_chs))
                           if stride != 1 or in_chs != out_chs else None)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(Backbone):
    def __init__(self, arch: ResNetArch, *, in_chans: int) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_features = arch.widths[-1]
        self.stem_key = "conv1.weight"
        self.head_keys = ("fc.",)
        self.conv1 = nn.Conv2d(in_chans, arch.widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(arch.widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        chs = arch.widths[0]
        for i, (depth, width) in enumerate(zip(arch.depths, arch.widths, strict=True)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(chs if j == 0 else width, width, stride if j == 0 else 1) for j in range(depth)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            chs = width
        self.num_stages = len(arch.depths)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return x  # (B, 512, H/32, W/32)


@register_backbone("resnet18")
def resnet18(in_chans: int) -> ResNet:
    return ResNet(ARCHS["resnet18"], in_chans=in_chans)
