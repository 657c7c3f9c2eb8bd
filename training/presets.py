"""Named training configurations: `paper` (the paper's set-up) and `cpu` (a run that fits a laptop).

A preset is a complete `TrainConfig`; command-line options override single fields of it, and the
resolved config is what every run saves and prints.

`cpu` was sized on the 2-core development machine: EfficientNetV2-B0 at 112 px trains at about
30 clip pairs/s there with both cores idle (EfficientNetV2-S at 224 px at about 1.6), 12-17 with
one thread beside other work, so a leave-one-subject-out run on 6 subjects x 20 clips (6 folds of
80 training clips, up to 20 epochs each, then the all-subject model, plus aligning ~8,000 frames
once) takes 8-17 minutes. Without ImageNet weights on such
a machine the network trains from scratch, which wants a larger learning rate than the paper's
fine-tuning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from realtime.core.errors import InputError
from training.augment import AugmentConfig
from training.models import check_backbone, check_fusion, check_inputs
from training.optim import check_optimiser, check_schedule


COMPARE_JITTER = 0.0  # the compare preset's phase jitter: off, so every representation is computed once per clip


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes (device and paths excluded)."""

    preset: str  # the named starting point, recorded for the reader of a run
    backbone: str  # training.models registry name
    size: int  # network input side, px (DIs come from the 224 px aligned crop, resized by to_network_input)
    epochs: int  # at most this many epochs per fold
    batch_size: int
    lr: float
    patience: int  # stop a fold after this many epochs without a better validation score
    inputs: str = "phases"  # DI-Onset + DI-Offset, the paper's model
    fusion: str = "cross_attention"  # the paper's fusion (Fig. 2)
    shared_backbone: bool = True  # section 2.2 shares the stream weights
    optimizer: str = "adam"  # the paper's optimiser (training.optim registry)
    weight_decay: float = 0.0  # the paper uses plain Adam
    schedule: str = "constant"  # the paper names no schedule; "cosine" decays lr to 0 over `epochs` (training.optim)
    cos_lambda: float = 0.1  # weight of the stream-agreement term mean(1 - cos(f1, f2))
    val_fraction: float = 0.2  # of the training subjects held out (by subject) for early stopping
    select_on_test: bool = False  # OPTIMISTIC: pick each fold's epoch on its test subject
    final_model: bool = True  # train the all-subject model after the folds (ablations skip it)
    shuffle_labels: bool = False  # CONTROL: permute the training clips' labels (validation and test keep theirs)
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        check_backbone(self.backbone)
        check_inputs(self.inputs)
        check_fusion(self.fusion)
        check_optimiser(self.optimizer)
        check_schedule(self.schedule)
        for name in ("size", "epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        if not 0.0 < self.val_fraction < 1.0:
            raise InputError(f"val_fraction must be in (0, 1), got {self.val_fraction}")

    @property
    def selection(self) -> str:
        """How each fold's epoch is chosen, as written into every output."""
        return "test-subject (optimistic)" if self.select_on_test else "validation"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return cls(**{**data, "augment": AugmentConfig(**data["augment"])})


PRESETS: dict[str, TrainConfig] = {
    # arXiv 2510.12219 section 3: EfficientNetV2-S, 224 x 224, Adam, lr 1e-4, batch 32, 50 epochs.
    "paper": TrainConfig(preset="paper", backbone="efficientnetv2_s", size=224, epochs=50, batch_size=32,
                         lr=1e-4, patience=10),
    # 2-core CPU: B0 at 112 px from scratch. lr 1e-3 with cosine decay: on synthetic LOSO runs the
    # constant rate left validation scores jumping between epochs and the last, low-rate epochs were
    # the best ones (UF1 0.78 -> 0.90 on the same data); patience 8 only cuts folds that stopped learning.
    "cpu": TrainConfig(preset="cpu", backbone="efficientnetv2_b0", size=112, epochs=20, batch_size=16,
                       lr=1e-3, patience=8, schedule="cosine"),
    # The built-in demo model (realtime/cli/demo.py): the smallest setting that learns the synthetic
    # classes (ResNet-18 at 64 px, 12 cosine-decayed epochs: UF1 0.90 on 4 subjects x 3 clips;
    # MobileViT-XXS or a shorter schedule stayed at chance).
    "demo": TrainConfig(preset="demo", backbone="resnet18", size=64, epochs=12, batch_size=16,
                        lr=1e-3, patience=12, schedule="cosine"),
    # `mer-train compare` of every method on a 2-core machine (bench/bench_compare.py). Profiled on
    # 3 subjects: TV-L1 flows at jittered phases were 93 % of a flow method's time (1.5 s a flow
    # under load, new phases every epoch), so the comparison trains at the coded phases only
    # (COMPARE_JITTER: each clip's representations are computed once and cached on disk for every
    # fold and method); 48 px halves ResNet-18's time per sample against 64 px (43 vs 22 samples/s,
    # one thread); 10 cosine-decayed epochs of batches of 8: at 6 (DIANet's first fold at 8 epochs of
    # 16 reached validation UF1 0.89 at epoch 5) 7 of DIANet's 8 folds chose their last epoch on the
    # validation subject and MESTI's training loss was still 0.26-0.66 there, i.e. the folds stopped
    # before they had learnt; a fold's 30 training clips make 40 steps.
    "compare": TrainConfig(preset="compare", backbone="resnet18", size=48, epochs=10, batch_size=8,
                           lr=1e-3, patience=10, schedule="cosine",
                           augment=AugmentConfig(jitter_fraction=COMPARE_JITTER)),
}


def resolve(preset: str, **overrides: object) -> TrainConfig:
    """The named preset with the given fields replaced (None values are ignored)."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
    changes = {name: value for name, value in overrides.items() if value is not None}
    return replace(PRESETS[preset], **changes)
