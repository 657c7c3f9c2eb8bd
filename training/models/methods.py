"""The method registry: a method is its representations (the network's inputs) and its network.

DIANet is one of five 2025 methods by one group on one idea (split the expression at its apex,
encode each phase); docs/methods.md says for each what comes from its paper and what is ours.
`ModelConfig.inputs` names the method (the name predates the other networks: checkpoints keep
it), so training, checkpoints, engines and the pipeline take any method the same way, and a
comparison iterates `list_methods()`:

    method     inputs (realtime.dynamic_images.representations)  network
    phases     di_onset, di_offset        dianet   DIANet (arXiv 2510.12219)
    clip_both  di_clip                    dianet   Table 4 ablation: the clip DI in both streams
    clip       di_clip                    dianet   one stream; the dual-phase augmentation (2510.15466) applies
    onset      di_onset                   dianet   one stream
    offset     di_offset                  dianet   one stream
    afn        di_clip (TR-DI), di_mi     afn      AFN (arXiv 2510.09730)
    cof        cof                        dianet   COF (arXiv 2510.15471): a plain CNN on the combined flow
    mm_cof     mm_cof                     dianet   MM-COF (arXiv 2510.07810) on a plain CNN
    fmanet     flow_onset, flow_offset    fmanet   FMANet (arXiv 2510.07810): MM-COF's steps learned
    mesti      mesti                      dianet   MESTI (arXiv 2509.00056) on a plain CNN
    meganet    mesti                      meganet  MEGANet (arXiv 2509.00056)
    apex       apex                       dianet   baseline: the apex frame
    flow       flow_onset                 dianet   baseline: onset->apex optical flow (u, v, |f|)

"dianet" with one input is one DIANet stream and its head: a backbone, a projection, an MLP.
Every network returns DIANetOutput (logits, f1, f2); only DIANet's two streams set f2, which
turns on its cosine loss term.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from torch import nn

from realtime.core.errors import InputError
from realtime.core.registry import Registry
from realtime.dynamic_images.representations import channels
from training.models.fusion import check_fusion
from training.models.pretrained import load_pretrained
from training.models.registry import Backbone, check_backbone


class Method(NamedTuple):
    inputs: tuple[str, ...]  # representation names, in forward() order (also the ONNX input names)
    network: str  # NETWORKS name


METHODS: Registry[Method] = Registry("method")  # registration order: DIANet and its ablations first
for _name, _inputs, _network in (
        ("phases", ("di_onset", "di_offset"), "dianet"), ("clip_both", ("di_clip",), "dianet"),
        ("clip", ("di_clip",), "dianet"), ("onset", ("di_onset",), "dianet"), ("offset", ("di_offset",), "dianet"),
        ("afn", ("di_clip", "di_mi"), "afn"), ("cof", ("cof",), "dianet"), ("mm_cof", ("mm_cof",), "dianet"),
        ("fmanet", ("flow_onset", "flow_offset"), "fmanet"), ("mesti", ("mesti",), "dianet"),
        ("meganet", ("mesti",), "meganet"), ("apex", ("apex",), "dianet"), ("flow", ("flow_onset",), "dianet")):
    METHODS.add(_name, Method(_inputs, _network))
list_methods = METHODS.names
_DIANET_TWO_STREAMS = ("phases", "clip_both")
check_method = METHODS.check

NetworkFactory = Callable[["ModelConfig"], nn.Module]  # config -> forward(*inputs) -> DIANetOutput
NETWORKS: Registry[NetworkFactory] = Registry("network")


@dataclass(frozen=True)
class ModelConfig:
    """The architecture; saved in every checkpoint and enough to rebuild the model."""

    backbone: str = "efficientnetv2_s"  # the paper's backbone (registry name)
    num_classes: int = 5  # CASME-II's five emotion classes, the paper's main protocol
    inputs: str = "phases"  # the method (METHODS): DIANet; others are its ablations and its sibling methods
    fusion: str = "cross_attention"  # the paper's Fig. 2; others are Table 3 ablations (DIANet's two streams only)
    shared_backbone: bool = True  # DIANet section 2.2: one backbone for both streams; AFN and FMANet
    #                               honour it too (their papers do not say; no effect with one input)
    feature_dim: int = 512  # width of f1, f2 and the tokens (the paper's)
    hidden_dim: int = 256  # hidden layer of the MLP head (not given in the paper; half of feature_dim)
    dropout: float = 0.5  # before every network's last layer: a few hundred clips overfit quickly
    in_chans: int | None = None  # None: the inputs' channels (1 for the grey DIs, 3 for u, v, |f| flows)
    gate_reduction: int = 4  # AFN: its gate's hidden layer is 2 feature_dim / gate_reduction wide
    attention_hidden: int = 16  # FMANet: channels of its motion attention's hidden conv

    def __post_init__(self) -> None:
        check_backbone(self.backbone)
        check_method(self.inputs)
        check_fusion(self.fusion)
        needed = channels(METHODS[self.inputs].inputs)
        if self.in_chans is None:
            object.__setattr__(self, "in_chans", needed)
        elif self.in_chans != needed:
            raise InputError(f"method {self.inputs!r} takes {needed}-channel inputs, not in_chans={self.in_chans}")
        if self.num_classes < 2:
            raise InputError(f"num_classes must be at least 2, got {self.num_classes}")
        if min(self.feature_dim, self.hidden_dim, self.gate_reduction, self.attention_hidden) < 1:
            raise InputError(f"feature_dim, hidden_dim, gate_reduction and attention_hidden must be positive, got "
                             f"{self.feature_dim}, {self.hidden_dim}, {self.gate_reduction}, {self.attention_hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def two_streams(self) -> bool:
        """DIANet's two-stream variants (fusion and the cosine term); every other method has its own network."""
        return self.inputs in _DIANET_TWO_STREAMS

    @property
    def network(self) -> str:
        return METHODS[self.inputs].network


def input_names(config: ModelConfig) -> tuple[str, ...]:
    """Names of the model's inputs, in forward() order (also the ONNX input names)."""
    return METHODS[config.inputs].inputs


def create_model(config: ModelConfig, *, pretrained: Path | None = None) -> nn.Module:
    """A new network for `config`; `pretrained` (a torchvision ImageNet state dict) initialises every backbone."""
    model = NETWORKS[config.network](config)
    if pretrained is not None:
        for module in model.modules():
            if isinstance(module, Backbone):
                load_pretrained(module, Path(pretrained), name=config.backbone)
    return model
