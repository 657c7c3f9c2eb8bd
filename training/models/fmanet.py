"""FMANet (arXiv 2510.07810): MM-COF's hand-set steps made learnable, over the two phases' flows.

    flow onset->apex  (u, v, |f|) -> backbone -> F1 (B, C, h, w) --+
                                                                   +-- F = theta_1 F1 + theta_2 F2,
    flow apex->offset (u, v, |f|) -> backbone -> F2 (B, C, h, w) --+   theta = softmax(w), w learned
    both |f| channels, area-pooled to (h, w) -> conv3x3 -> ReLU -> conv1x1 -> sigmoid -> A (B, 1, h, w)
    F (1 + A) -> global average -> dropout -> Linear -> logits

The learned theta replaces COF's fixed phase weights, the motion attention replaces MM-COF's
fixed threshold (the abstract's "learnable modules"). Every size is our choice (docs/methods.md).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from training.models.dianet import DIANetOutput
from training.models.methods import NETWORKS, ModelConfig
from training.models.registry import create_backbone

MAGNITUDE = 2  # channel of |f| in a flow input (realtime.dynamic_images.representations: u, v, |f|)


@NETWORKS.register("fmanet")
class FMANet(nn.Module):
    """forward(flow_onset, flow_offset) each (B, 3, S, S) -> DIANetOutput (f2 None)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.backbones = nn.ModuleList(create_backbone(config.backbone, in_chans=config.in_chans)
                                       for _ in range(1 if config.shared_backbone else 2))
        self.phase_logits = nn.Parameter(torch.zeros(2))  # theta = softmax: equal phases at the start
        self.attention = nn.Sequential(nn.Conv2d(2, config.attention_hidden, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(config.attention_hidden, 1, 1), nn.Sigmoid())
        self.head = nn.Sequential(nn.Dropout(config.dropout),
                                  nn.Linear(self.backbones[0].num_features, config.num_classes))

    @property
    def theta(self) -> Tensor:
        """(2,) the learned phase weights (onset->apex, apex->offset), summing to 1."""
        return self.phase_logits.softmax(dim=0)

    def forward(self, flow_onset: Tensor, flow_offset: Tensor) -> DIANetOutput:
        f1 = self.backbones[0].forward_features(flow_onset)  # (B, C, h, w)
        f2 = self.backbones[-1].forward_features(flow_offset)
        theta = self.theta
        fmap = theta[0] * f1 + theta[1] * f2
        magnitudes = torch.cat((flow_onset[:, MAGNITUDE:MAGNITUDE + 1], flow_offset[:, MAGNITUDE:MAGNITUDE + 1]), dim=1)
        prior = F.adaptive_avg_pool2d(magnitudes, fmap.shape[-2:])  # (B, 2, h, w)
        attended = fmap * (1.0 + self.attention(prior))
        pooled = attended.mean(dim=(2, 3))  # (B, C)
        return DIANetOutput(self.head(pooled), pooled, None)
