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

Ablations (`ModelConfig.inputs`):
- `phases`: DI-Onset and DI-Offset, one per stream (DIANet).
- `clip_both`: the whole-clip DI fed to both streams (Table 4); one input, "di_clip".
- `clip` / `onset` / `offset`: one stream with the same head, no fusion, no cosine term. The
  paper's single-stream rows use LEARNet; ours are one DIANet stream (say so in tables).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from realtime.core.errors import InputError
from realtime.core.registry import Registry
from training.models.fusion import check_fusion, create_fusion
from training.models.pretrained import load_pretrained
from training.models.registry import Backbone, check_backbone, create_backbone

# Model inputs -> its network inputs, in forward() order. Listed in registration order, the
# paper's first (Table 4's order).
INPUTS: Registry[tuple[str, ...]] = Registry("model inputs")
INPUTS.add("phases", ("di_onset", "di_offset"))
INPUTS.add("clip_both", ("di_clip",))
INPUTS.add("clip", ("di_clip",))
INPUTS.add("onset", ("di_onset",))
INPUTS.add("offset", ("di_offset",))
list_inputs = INPUTS.names
check_inputs = INPUTS.check

_TWO_STREAMS = ("phases", "clip_both")


@dataclass(frozen=True)
class ModelConfig:
    """The architecture; saved in every checkpoint and enough to rebuild the model."""

    backbone: str = "efficientnetv2_s"  # the paper's backbone (registry name)
    num_classes: int = 5  # CASME-II's five emotion classes, the paper's main protocol
    inputs: str = "phases"  # DI-Onset + DI-Offset, the paper's model; others are Table 4 ablations
    fusion: str = "cross_attention"  # the paper's Fig. 2; others are Table 3 ablations (two streams only)
    shared_backbone: bool = True  # section 2.2: one backbone for both phases (no effect with one stream)
    feature_dim: int = 512  # width of f1, f2 and the tokens (the paper's)
    hidden_dim: int = 256  # hidden layer of the MLP head (not given in the paper; half of feature_dim)
    dropout: float = 0.5  # between the head's two layers: a few hundred clips overfit quickly
    in_chans: int = 1  # dynamic images are built on grey crops

    def __post_init__(self) -> None:
        check_backbone(self.backbone)
        check_inputs(self.inputs)
        check_fusion(self.fusion)
        if self.num_classes < 2:
            raise InputError(f"num_classes must be at least 2, got {self.num_classes}")
        if self.feature_dim < 1 or self.hidden_dim < 1 or self.in_chans < 1:
            raise InputError(f"feature_dim, hidden_dim and in_chans must be positive, got "
                             f"{self.feature_dim}, {self.hidden_dim}, {self.in_chans}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def two_streams(self) -> bool:
        return self.inputs in _TWO_STREAMS


def input_names(config: ModelConfig) -> tuple[str, ...]:
    """Names of the model's inputs, in forward() order (also the ONNX input names)."""
    return INPUTS[config.inputs]


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


def create_model(config: ModelConfig, *, pretrained: Path | None = None) -> DIANet:
    """A new DIANet; `pretrained` (a torchvision ImageNet state dict) initialises every backbone."""
    model = DIANet(config)
    if pretrained is not None:
        for stream in model.streams:
            load_pretrained(stream.backbone, Path(pretrained), name=config.backbone)
    return model
