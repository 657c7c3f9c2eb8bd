"""AFN (arXiv 2510.09730): TR-DI and MI-DI through two branches, fused by a learned gate.

    TR-DI -> backbone -> pooled -> Linear -> f_T (B, D) --+
                                                          +-- g = softmax(MLP([f_T; f_M])) (B, 2)
    MI-DI -> backbone -> pooled -> Linear -> f_M (B, D) --+
    f = g_1 f_T + g_2 f_M -> dropout -> Linear -> logits

The abstract says only that the network learns how to combine the two images; the gate (a
per-sample softmax over the branches, MLP 2D -> 2D/gate_reduction -> 2) is our choice
(docs/methods.md). `shared_backbone` gives both branches one backbone and projection.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from training.models.dianet import DIANetOutput
from training.models.methods import NETWORKS, ModelConfig
from training.models.registry import create_backbone


class Branch(nn.Module):
    """Backbone -> global average -> projection to feature_dim."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.backbone = create_backbone(config.backbone, in_chans=config.in_chans)
        self.project = nn.Linear(self.backbone.num_features, config.feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.backbone(x))  # (B, D)


@NETWORKS.register("afn")
class AFN(nn.Module):
    """forward(tr_di, mi_di) each (B, C, S, S) -> DIANetOutput (f2 None: no cosine term)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.branches = nn.ModuleList(Branch(config) for _ in range(1 if config.shared_backbone else 2))
        dim = config.feature_dim
        hidden = max(1, 2 * dim // config.gate_reduction)
        self.gate = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2))
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(dim, config.num_classes))

    def weights(self, f_t: Tensor, f_m: Tensor) -> Tensor:
        """(B, 2) fusion weights of the two branches (logged and tested: they sum to 1)."""
        return self.gate(torch.cat((f_t, f_m), dim=1)).softmax(dim=1)

    def forward(self, tr_di: Tensor, mi_di: Tensor) -> DIANetOutput:
        f_t = self.branches[0](tr_di)
        f_m = self.branches[-1](mi_di)
        g = self.weights(f_t, f_m)
        fused = g[:, :1] * f_t + g[:, 1:] * f_m
        return DIANetOutput(self.head(fused), fused, None)

