"""MEGANet (arXiv 2509.00056): a CNN with a gradient-attention block, over MESTI.

    MESTI -> backbone -> F (B, C, h, w) -> F + F * sigmoid(BN(conv1x1(|Sobel F|))) -> global average
          -> dropout -> Linear -> logits

The abstract names a "Gradient Attention block" for fine-grained motion and nothing more. Ours
weighs each feature by how sharply it changes across the face (fixed depthwise Sobel kernels,
a learned 1x1 conv and batch norm). The notes suggest blocks after stages 2-4; we put one block
on the last feature map, which every backbone in the registry exposes the same way
(docs/methods.md). It needs a map of at least 2x2 (inputs of 64 px or more).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from training.models.dianet import DIANetOutput
from training.models.methods import NETWORKS, ModelConfig
from training.models.registry import create_backbone

GRADIENT_EPS = 1e-6  # inside the square root: its gradient at 0 is infinite


class GradientAttention(nn.Module):
    """F -> F + F * A, A = sigmoid(BN(conv1x1(sqrt((Kx * F)^2 + (Ky * F)^2)))) per channel and position."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        kernels = torch.stack((sobel_x, sobel_x.T))[:, None]  # (2, 1, 3, 3)
        self.register_buffer("kernels", kernels.repeat(channels, 1, 1, 1), persistent=False)  # (2C, 1, 3, 3)
        self.channels = channels
        self.score = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.Sigmoid())

    def gradient(self, fmap: Tensor) -> Tensor:
        """(B, C, h, w) -> (B, C, h, w) Sobel gradient magnitude per channel."""
        grads = F.conv2d(fmap.repeat_interleave(2, dim=1), self.kernels, padding=1, groups=2 * self.channels)
        gx, gy = grads[:, 0::2], grads[:, 1::2]
        return torch.sqrt(gx * gx + gy * gy + GRADIENT_EPS)

    def forward(self, fmap: Tensor) -> Tensor:
        return fmap + fmap * self.score(self.gradient(fmap))


@NETWORKS.register("meganet")
class MEGANet(nn.Module):
    """forward(mesti (B, 1, S, S)) -> DIANetOutput (f2 None)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = create_backbone(config.backbone, in_chans=config.in_chans)
        self.attention = GradientAttention(self.backbone.num_features)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(self.backbone.num_features, config.num_classes))

    def forward(self, mesti: Tensor) -> DIANetOutput:
        pooled = self.attention(self.backbone.forward_features(mesti)).mean(dim=(2, 3))  # (B, C)
        return DIANetOutput(self.head(pooled), pooled, None)
