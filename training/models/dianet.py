"""DIANet (arXiv 2510.12219): a phase-aware dual-stream network over dynamic images.

    DI-Onset  -> backbone -> tokens T1 (B, N, 512) --mean--> f1 (B, 512) --+
                                   |                                        | cosine term of the loss
    DI-Offset -> backbone -> tokens T2 (B, N, 512) --mean--> f2 (B, 512) --+
                 (shared weights by default)
    (T1, T2) -> fusion -> (a1, a2) -> concat (B, 1024) -> projection (B, 512)
             -> MLP head: FC 512->256, ReLU, dropout, FC 256->K -> logits

The backbone's classifier is removed; its last feature map (B, C, h, w) is projected per
position to 512-d tokens by one linear layer. Because that projection is linear, the mean of
the tokens equals the projection of the globally pooled features, so f1 and f2 are exactly the
paper's "pooled features projected to 512-d"; the tokens are what the fusion attends over
(see fusion.py for why attention needs them). `shared_backbone=False` gives each stream its own
backbone and token projection (twice the backbone parameters).

Ablations (`ModelConfig.inputs`, training.models.methods):
- `phases`: DI-Onset and DI-Offset, one per stream (DIANet).
- `clip_both`: the whole-clip DI fed to both streams (Table 4); one input, "di_clip".
- `clip` / `onset` / `offset`: one stream with the same head, no fusion, no cosine term. The
  paper's single-stream rows use LEARNet; ours are one DIANet stream (say so in tables).
  The sibling methods' single-input baselines (cof, mm_cof, mesti, apex, flow) are this too.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from realtime.core.errors import InputError
from training.models.fusion import create_fusion
from training.models.methods import NETWORKS, ModelConfig, input_names
from training.models.registry import Backbone, create_backbone

class DIANetOutput(NamedTuple):
    logits: Tensor  # (B, K)
    f1: Tensor  # (B, feature_dim) first stream's pooled, projected features
    f2: Tensor | None  # (B, feature_dim) second stream's; None for single-stream models


class Stream(nn.Module):
    """Backbone feature map -> one feature_dim token per spatial position."""

    def __init__(self, backbone: Backbone, dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.project = nn.Linear(backbone.num_features, dim)

    def forward(self, x: Tensor) -> Tensor:
        fmap = self.backbone.forward_features(x)  # (B, C, h, w)
        return self.project(fmap.flatten(2).transpose(1, 2))  # (B, h*w, dim)


@NETWORKS.register("dianet")
class DIANet(nn.Module):
    """forward(*inputs (B, in_chans, S, S), one per input_names(config)) -> DIANetOutput.

    Exports to ONNX with a dynamic batch (both exporters; attention is matmul + softmax, the
    only Python branches depend on the config and static shapes). torch.export sees the
    varargs as one tuple: `dynamic_shapes=(tuple({0: batch} for _ in input_names),)`.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.input_names = input_names(config)
        separate = config.two_streams and not config.shared_backbone
        self.streams = nn.ModuleList(
            Stream(create_backbone(config.backbone, in_chans=config.in_chans), config.feature_dim)
            for _ in range(2 if separate else 1))
        dim = config.feature_dim
        if config.two_streams:
            self.fusion = create_fusion(config.fusion, dim)
            self.projection = nn.Linear(2 * dim, dim)
        self.head = nn.Sequential(nn.Linear(dim, config.hidden_dim), nn.ReLU(inplace=True),
                                  nn.Dropout(config.dropout), nn.Linear(config.hidden_dim, config.num_classes))

    def forward(self, *inputs: Tensor) -> DIANetOutput:
        if len(inputs) != len(self.input_names):
            raise InputError(f"DIANet({self.config.inputs}) takes {len(self.input_names)} input(s) "
                             f"{', '.join(self.input_names)}; got {len(inputs)}")
        for name, x in zip(self.input_names, inputs, strict=True):
            if x.ndim != 4 or x.shape[1] != self.config.in_chans:
                raise InputError(f"{name} must be (B, {self.config.in_chans}, S, S), got {tuple(x.shape)}")
        t1 = self.streams[0](inputs[0])  # (B, N, D)
        f1 = t1.mean(dim=1)  # (B, D)
        if not self.config.two_streams:
            return DIANetOutput(self.head(f1), f1, None)
        if self.config.inputs == "clip_both" and len(self.streams) == 1:
            t2 = t1  # the same image through the same weights: compute it once
        else:
            t2 = self.streams[-1](inputs[-1])  # (B, N, D); streams[-1] is streams[0] when shared
        f2 = t2.mean(dim=1)
        a1, a2 = self.fusion(t1, t2)  # (B, D) each
        fused = self.projection(torch.cat((a1, a2), dim=1))  # (B, 2D) -> (B, D)
        return DIANetOutput(self.head(fused), f1, f2)


def dianet_loss(output: DIANetOutput, target: Tensor, *, cos_lambda: float) -> Tensor:
    """Cross-entropy + cos_lambda * mean(1 - cos(f1, f2)); plain cross-entropy for one stream.

    The cosine term pulls the two phases' features of a clip together: onset and offset of one
    expression show the same action units moving in opposite directions in time.
    """
    loss = F.cross_entropy(output.logits, target)
    if output.f2 is None:
        return loss
    return loss + cos_lambda * (1.0 - F.cosine_similarity(output.f1, output.f2, dim=1)).mean()
