"""DIANet, its fusions and its backbones: shapes, gradients, overfitting, torchvision weight loading.

Small inputs (64 px, a 2x2 feature map at stride 32) keep the whole file within seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from realtime.core.errors import CheckpointError, InputError
from training.models import (DIANetOutput, ModelConfig, create_backbone, create_model, dianet_loss, input_names,
                             list_backbones)
from training.models import list_fusions

SIZE = 64  # px: a 2x2 map (4 tokens) at stride 32
CPU_BACKBONE = "efficientnetv2_b0"  # the CPU preset's backbone, same blocks as the paper's -S

TWO_STREAM_VARIANTS = [(inputs, fusion, shared) for inputs in ("phases", "clip_both") for fusion in list_fusions()
                       for shared in (True, False)]
VARIANTS = TWO_STREAM_VARIANTS + [(inputs, "cross_attention", True) for inputs in ("clip", "onset", "offset")]


def _variant_id(variant: tuple[str, str, bool]) -> str:
    inputs, fusion, shared = variant
    if inputs in ("clip", "onset", "offset"):
        return inputs
    return f"{inputs}-{fusion}-{'shared' if shared else 'separate'}"


def _config(variant: tuple[str, str, bool], **overrides: object) -> ModelConfig:
    inputs, fusion, shared = variant
    return ModelConfig(**{"backbone": CPU_BACKBONE, "inputs": inputs, "fusion": fusion, "shared_backbone": shared,
                          **overrides})


def _inputs(config: ModelConfig, batch: int = 2, size: int = SIZE) -> list[torch.Tensor]:
    return [torch.randn(batch, config.in_chans, size, size) for _ in input_names(config)]


# ---------------------------------------------------------------------------------------------- backbones

def test_registry_has_the_required_backbones() -> None:
    assert {"efficientnetv2_s", "efficientnetv2_b0", "resnet18", "convnext_tiny", "mobilevit_s",
            "mobilevit_xxs"} <= set(list_backbones())


def test_unknown_backbone_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"unknown backbone 'vgg16'.*efficientnetv2_s.*resnet18"):
        create_backbone("vgg16")


@pytest.mark.parametrize("size", [SIZE, 96])  # 96 px: odd 3x3 maps, MobileViT's resize path
@pytest.mark.parametrize("name", list_backbones())
def test_backbone_forward_shapes(name: str, size: int) -> None:
    torch.manual_seed(0)
    backbone = create_backbone(name).eval()
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        fmap = backbone.forward_features(x)
        pooled = backbone(x)
    side = size // 32
    assert fmap.shape == (2, backbone.num_features, side, side)
    assert pooled.shape == (2, backbone.num_features)
    assert torch.isfinite(fmap).all()
    assert torch.allclose(pooled, fmap.mean(dim=(2, 3)))


# torchvision's published parameter counts (weights meta "num_params") minus its classifier, and
# key names/shapes from torchvision/models/{efficientnet,resnet,convnext}.py: if our modules drift
# from torchvision's, its ImageNet files stop loading and these fail first.
TORCHVISION = {
    # 21,458,488 - classifier.1 (1280 * 1000 + 1000)
    "efficientnetv2_s": (20_177_488, {
        "features.0.0.weight": (24, 3, 3, 3),
        "features.1.0.block.0.0.weight": (24, 24, 3, 3),
        "features.2.0.block.1.0.weight": (48, 96, 1, 1),
        "features.4.0.block.2.fc1.weight": (16, 256, 1, 1),
        "features.6.14.block.3.0.weight": (256, 1536, 1, 1),
        "features.6.14.block.3.1.running_var": (256,),
        "features.7.0.weight": (1280, 256, 1, 1),
    }),
    # 11,689,512 - fc (512 * 1000 + 1000)
    "resnet18": (11_176_512, {
        "conv1.weight": (64, 3, 7, 7),
        "layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "layer4.1.bn2.running_var": (512,),
    }),
    # 28,589,128 - classifier.0 LayerNorm (2 * 768) - classifier.2 (768 * 1000 + 1000)
    "convnext_tiny": (27_818_592, {
        "features.0.0.weight": (96, 3, 4, 4),
        "features.0.1.weight": (96,),
        "features.1.0.layer_scale": (96, 1, 1),
        "features.1.0.block.3.weight": (384, 96),
        "features.6.1.weight": (768, 384, 2, 2),
        "features.7.2.block.5.weight": (768, 3072),
    }),
}
TORCHVISION_HEADS = {
    "efficientnetv2_s": {"classifier.1.weight": (1000, 1280), "classifier.1.bias": (1000,)},
    "resnet18": {"fc.weight": (1000, 512), "fc.bias": (1000,)},
    "convnext_tiny": {"classifier.0.weight": (768,), "classifier.0.bias": (768,),
                      "classifier.2.weight": (1000, 768), "classifier.2.bias": (1000,)},
}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_names_and_counts(name: str) -> None:
    num_params, shapes = TORCHVISION[name]
    backbone = create_backbone(name, in_chans=3)
    state = backbone.state_dict()
    assert sum(p.numel() for p in backbone.parameters()) == num_params
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key


def test_parameter_counts_of_the_other_backbones() -> None:
    # timm's efficientnetv2_b0 7.14 M, mobilevit_s 5.58 M, mobilevit_xxs 1.27 M, each with a 1000-class head
    heads = {"efficientnetv2_b0": 1280, "mobilevit_s": 640, "mobilevit_xxs": 320}
    counts = {name: sum(p.numel() for p in create_backbone(name, in_chans=3).parameters()) + 1000 * (width + 1)
              for name, width in heads.items()}
    assert counts == {"efficientnetv2_b0": 7_139_704, "mobilevit_s": 5_578_632, "mobilevit_xxs": 1_272_024}


def _torchvision_file(name: str, path: Path, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """What torch.save(torchvision_model.state_dict()) writes: RGB stem, classifier included."""
    torch.manual_seed(seed)
    state = create_backbone(name, in_chans=3).state_dict()
    for key, value in state.items():  # BatchNorm statistics that are not the defaults
        if key.endswith("running_mean") or key.endswith("running_var"):
            value.uniform_(0.5, 1.5)
    state.update({key: torch.randn(shape) for key, shape in TORCHVISION_HEADS[name].items()})
    if name == "resnet18":  # resnet18-f37072fd.pth predates num_batches_tracked
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)
    return state


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_pretrained_loads_a_torchvision_file_onto_grey_input(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.pth"
    state = _torchvision_file(name, path)
    grey = create_backbone(name, pretrained=path).eval()
    loaded = grey.state_dict()
    assert torch.equal(loaded[grey.stem_key], state[grey.stem_key].sum(dim=1, keepdim=True))
    for key in loaded:
        if key != grey.stem_key and not key.endswith("num_batches_tracked"):
            assert torch.equal(loaded[key], state[key]), key
    # the grey net on a grey image answers as the RGB net does on that image in all three channels
    rgb = create_backbone(name, in_chans=3).eval()
    rgb.load_state_dict({k: v for k, v in state.items() if not k.startswith(rgb.head_keys)}, strict=False)
    x = torch.randn(2, 1, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(grey(x), rgb(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-4)


def test_pretrained_initialises_both_separate_streams(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    state = _torchvision_file("resnet18", path)
    model = create_model(ModelConfig(backbone="resnet18", shared_backbone=False), pretrained=path)
    assert len(model.streams) == 2
    for stream in model.streams:
        assert torch.equal(stream.backbone.conv1.weight, state["conv1.weight"].sum(dim=1, keepdim=True))


def _edit(state: dict[str, torch.Tensor], kind: str) -> object:
    state = dict(state)
    if kind == "missing":
        del state["layer1.0.conv1.weight"]
    elif kind == "unexpected":
        state["layer5.0.conv1.weight"] = torch.zeros(1)
    elif kind == "shape":
        state["layer1.0.conv1.weight"] = torch.zeros(32, 64, 3, 3)
    elif kind == "not_a_state_dict":
        return {"epoch": 3, "model": state}
    else:
        raise ValueError(kind)
    return state


@pytest.mark.parametrize(("kind", "message"), [
    ("missing", r"missing keys layer1\.0\.conv1\.weight"),
    ("unexpected", r"unexpected keys layer5\.0\.conv1\.weight"),
    ("shape", r"wrong shapes layer1\.0\.conv1\.weight \(32, 64, 3, 3\) here \(64, 64, 3, 3\)"),
    ("not_a_state_dict", r"not a state dict of tensors"),
])
def test_pretrained_refuses_a_mismatched_file(kind: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save(_edit(_torchvision_file("resnet18", tmp_path / "good.pth"), kind), path)
    with pytest.raises(CheckpointError, match=message) as info:
        create_backbone("resnet18", pretrained=path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_pretrained_refuses_another_architecture_and_foreign_files(tmp_path: Path) -> None:
    effnet = tmp_path / "efficientnet_v2_s.pth"
    _torchvision_file("efficientnetv2_s", effnet)
    with pytest.raises(CheckpointError, match=r"does not match backbone resnet18: missing keys conv1\.weight.*\(\+"):
        create_model(ModelConfig(backbone="resnet18"), pretrained=effnet)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a pickle at all" * 10)
    with pytest.raises(CheckpointError, match="not a readable PyTorch file"):
        create_backbone("resnet18", pretrained=garbage)
    with pytest.raises(CheckpointError, match="no such file"):
        create_backbone("resnet18", pretrained=tmp_path / "absent.pth")


# ---------------------------------------------------------------------------------------------- DIANet

def test_input_names_are_pinned() -> None:
    expected = {"phases": ("di_onset", "di_offset"), "clip_both": ("di_clip",), "clip": ("di_clip",),
                "onset": ("di_onset",), "offset": ("di_offset",)}
    for inputs, names in expected.items():
        assert input_names(ModelConfig(inputs=inputs)) == names


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_variant_forward(variant: tuple[str, str, bool]) -> None:
    torch.manual_seed(0)
    config = _config(variant, num_classes=3)
    model = create_model(config).eval()
    with torch.no_grad():
        out = model(*_inputs(config, batch=3))
    assert isinstance(out, DIANetOutput)
    assert out.logits.shape == (3, 3) and out.f1.shape == (3, 512)
    assert (out.f2 is None) == (not config.two_streams)
    if out.f2 is not None:
        assert out.f2.shape == (3, 512)
    assert torch.isfinite(out.logits).all()


def test_streams_share_weights_only_when_asked() -> None:
    counts = {shared: sum(p.numel() for p in create_model(ModelConfig(backbone=CPU_BACKBONE,
                                                                      shared_backbone=shared)).parameters())
              for shared in (True, False)}
    stream = create_model(ModelConfig(backbone=CPU_BACKBONE)).streams[0]
    assert counts[False] - counts[True] == sum(p.numel() for p in stream.parameters())


def test_single_stream_ignores_fusion_and_sharing() -> None:
    counts = {sum(p.numel() for p in create_model(ModelConfig(backbone="mobilevit_xxs", inputs="onset", fusion=fusion,
                                                              shared_backbone=shared)).parameters())
              for fusion in list_fusions() for shared in (True, False)}
    assert len(counts) == 1


def test_phase_order_matters() -> None:
    """Swapping DI-Onset and DI-Offset changes the prediction: the concatenation keeps stream order."""
    torch.manual_seed(0)
    config = ModelConfig(backbone="mobilevit_xxs")
    model = create_model(config).eval()
    onset, offset = _inputs(config)
    with torch.no_grad():
        assert not torch.allclose(model(onset, offset).logits, model(offset, onset).logits)


def test_f1_is_the_projected_pooled_backbone_feature() -> None:
    torch.manual_seed(0)
    model = create_model(ModelConfig(backbone=CPU_BACKBONE)).eval()
    onset, offset = _inputs(model.config)
    stream = model.streams[0]
    with torch.no_grad():
        out = model(onset, offset)
        assert torch.allclose(out.f1, stream.project(stream.backbone(onset)), atol=1e-5)
        assert torch.allclose(out.f2, stream.project(stream.backbone(offset)), atol=1e-5)


def test_clip_both_shared_gives_equal_streams_and_no_cosine_loss() -> None:
    torch.manual_seed(0)
    model = create_model(ModelConfig(backbone=CPU_BACKBONE, inputs="clip_both")).eval()
    (clip,) = _inputs(model.config)
    with torch.no_grad():
        out = model(clip)
    target = torch.tensor([0, 1])
    assert torch.equal(out.f1, out.f2)
    assert torch.allclose(dianet_loss(out, target, cos_lambda=1.0), F.cross_entropy(out.logits, target))


def test_dianet_loss_adds_lambda_times_cosine_distance() -> None:
    logits, target = torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    f = torch.randn(4, 512)
    ce = F.cross_entropy(logits, target)
    assert torch.allclose(dianet_loss(DIANetOutput(logits, f, 2 * f), target, cos_lambda=0.3), ce)
    assert torch.allclose(dianet_loss(DIANetOutput(logits, f, -f), target, cos_lambda=0.3), ce + 0.6)
    assert torch.allclose(dianet_loss(DIANetOutput(logits, f, None), target, cos_lambda=0.3), ce)


def test_cross_attention_query_and_key_learn_over_tokens() -> None:
    """With 4 tokens per stream the query/key projections get gradients; with one token (32 px,
    a 1x1 map) the softmax is constant and they get none, the degenerate case tokens avoid."""
    target = torch.tensor([0, 1])
    grads = {}
    for size in (SIZE, 32):
        torch.manual_seed(0)
        model = create_model(ModelConfig(backbone=CPU_BACKBONE)).train()
        dianet_loss(model(*_inputs(model.config, size=size)), target, cos_lambda=0.1).backward()
        grads[size] = {name: getattr(model.fusion, name).weight.grad.abs().sum().item()
                       for name in ("query", "key", "value")}
    assert grads[SIZE]["query"] > 1e-6 and grads[SIZE]["key"] > 1e-6
    assert grads[32]["query"] < 1e-9 and grads[32]["key"] < 1e-9 and grads[32]["value"] > 1e-6


def test_wrong_inputs_are_refused() -> None:
    model = create_model(ModelConfig(backbone="mobilevit_xxs")).eval()
    with pytest.raises(InputError, match="takes 2 input"):
        model(torch.zeros(1, 1, SIZE, SIZE))
    with pytest.raises(InputError, match=r"di_offset must be \(B, 1, S, S\), got \(1, 3, 64, 64\)"):
        model(torch.zeros(1, 1, SIZE, SIZE), torch.zeros(1, 3, SIZE, SIZE))


@pytest.mark.parametrize(("field", "value"), [("backbone", "vgg16"), ("inputs", "apex_frames"), ("fusion", "sum"),
                                              ("num_classes", 1), ("dropout", 1.0)])
def test_config_is_validated(field: str, value: object) -> None:
    with pytest.raises(InputError, match=str(value)):
        ModelConfig(**{field: value})


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_every_variant_overfits_one_batch(variant: tuple[str, str, bool]) -> None:
    torch.manual_seed(0)
    config = _config(variant)
    model = create_model(config).train()
    xs, target = _inputs(config, batch=4), torch.tensor([0, 1, 2, 3])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss = dianet_loss(model(*xs), target, cos_lambda=0.1)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if losses[-1] <= losses[0] / 2:
            break
    assert losses[-1] <= losses[0] / 2, losses
