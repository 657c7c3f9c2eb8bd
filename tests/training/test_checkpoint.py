"""model.pt: a round trip gives the same network, and every kind of bad file is refused in one line."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from realtime.core.errors import CheckpointError, InputError
from realtime.dynamic_images.rank_pooling import DIInputConfig
from training.checkpoint import FORMAT, VERSION, CheckpointMeta, file_sha256, load_checkpoint, save_checkpoint
from realtime.dynamic_images.representation_config import RepresentationConfig
from training.models import DIANet, ModelConfig, create_model, input_names

BACKBONE = "mobilevit_xxs"  # 1 M parameters: files of a few MB
SIZE = 64
CLASSES = ("negative", "positive", "surprise")


def _meta(config: ModelConfig, **overrides: object) -> CheckpointMeta:
    values = dict(classes=CLASSES, model=config, input_names=input_names(config), di_input=DIInputConfig(size=SIZE),
                  alignment={"size": 224, "grey": True, "face": "largest"}, data_fingerprint="sha256:0123abcd",
                  training={"preset": "cpu", "epochs": 12, "lr": 1e-3, "folds": [{"subject": "01", "epoch": 7}]})
    values.update(overrides)
    return CheckpointMeta(**values)


def _model(**config: object) -> DIANet:
    torch.manual_seed(0)
    return create_model(ModelConfig(backbone=BACKBONE, num_classes=len(CLASSES), **config))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DIANet]:
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    model = _model().eval()
    save_checkpoint(path, model, _meta(model.config))
    return path, model


@pytest.mark.parametrize("config", [dict(), dict(shared_backbone=False, fusion="simple_attention"),
                                    dict(inputs="onset")], ids=["phases", "separate", "onset"])
def test_round_trip_gives_identical_outputs(config: dict, tmp_path: Path) -> None:
    model = _model(**config).eval()
    meta = _meta(model.config)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, meta)
    loaded, loaded_meta = load_checkpoint(path)
    assert loaded_meta == meta
    assert not loaded.training
    xs = [torch.randn(2, 1, SIZE, SIZE) for _ in meta.input_names]
    with torch.no_grad():
        assert torch.equal(model(*xs).logits, loaded(*xs).logits)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left behind


def test_file_is_a_plain_dict_readable_with_weights_only(saved: tuple[Path, DIANet]) -> None:
    path, model = saved
    data = torch.load(path, weights_only=True)
    assert data["format"] == FORMAT == "dianet-mer" and data["version"] == VERSION == 1
    assert data["model"]["backbone"] == BACKBONE and data["model"]["inputs"] == "phases"
    assert data["classes"] == list(CLASSES) and data["input_names"] == ["di_onset", "di_offset"]
    assert data["di_input"] == {"size": SIZE, "noise_floor": 0.5, "clip": 4.0,
                                "representation": asdict(RepresentationConfig())}
    assert data["alignment"]["size"] == 224 and data["data_fingerprint"] == "sha256:0123abcd"
    assert type(data["state_dict"]) is dict and data["state_dict"].keys() == model.state_dict().keys()


def _payload(saved: tuple[Path, DIANet]) -> dict:
    return torch.load(saved[0], weights_only=True)


def _edit(data: dict, kind: str) -> object:
    if kind == "format":
        data["format"] = "other-net"
    elif kind == "version":
        data["version"] = 2
    elif kind == "backbone":
        data["model"]["backbone"] = "vgg16"
    elif kind == "model_field":
        data["model"]["attention_heads"] = 8
    elif kind == "classes":
        data["model"]["num_classes"] = 4  # config says 4 classes, weights and names have 3
    elif kind == "weights":
        data["model"]["num_classes"] = 4
        data["classes"] = [*CLASSES, "other"]
    elif kind == "missing_key":
        del data["state_dict"]["head.3.bias"]
    elif kind == "missing_field":
        del data["input_names"]
    elif kind == "input_names":
        data["input_names"] = ["di_clip"]
    elif kind == "bare_state_dict":
        return data["state_dict"]
    else:
        raise ValueError(kind)
    return data


@pytest.mark.parametrize(("kind", "message"), [
    ("format", r"not a dianet-mer checkpoint \(format 'other-net'\)"),
    ("version", r"unsupported dianet-mer version 2; this build reads 1"),
    ("backbone", r"unknown architecture or metadata: unknown backbone 'vgg16'"),
    ("model_field", r"ModelConfig has no field\(s\) attention_heads"),
    ("classes", r"3 class names for a 4-class model"),
    ("weights", r"do not fit model mobilevit_xxs/phases: wrong shapes head\.3\.weight \(3, 256\) here \(4, 256\)"),
    ("missing_key", r"missing keys head\.3\.bias"),
    ("missing_field", r"checkpoint lacks input_names"),
    ("input_names", r"input names \['di_clip'\] do not match model inputs 'phases'"),
    ("bare_state_dict", r"not a dianet-mer checkpoint \(format None\)"),
])
def test_bad_checkpoints_are_refused(saved: tuple[Path, DIANet], kind: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(_edit(_payload(saved), kind), path)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_truncated_corrupt_and_missing_files_are_refused(saved: tuple[Path, DIANet], tmp_path: Path) -> None:
    data = saved[0].read_bytes()
    truncated, corrupt = tmp_path / "truncated.pt", tmp_path / "corrupt.pt"
    truncated.write_bytes(data[: len(data) // 2])
    corrupt.write_bytes(b"\x00garbage" * 1000)
    for path in (truncated, corrupt):
        with pytest.raises(CheckpointError, match="not a readable checkpoint, truncated or corrupt") as info:
            load_checkpoint(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.pt")


def test_save_refuses_metadata_that_would_not_load(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "model.pt"
    with pytest.raises(CheckpointError, match=r"training\['root'\] is a PosixPath"):
        save_checkpoint(path, model, _meta(model.config, training={"root": tmp_path}))
    with pytest.raises(CheckpointError, match="2 class names for a 3-class model"):
        save_checkpoint(path, model, _meta(model.config, classes=("a", "b")))
    with pytest.raises(CheckpointError, match="differs from the metadata"):
        save_checkpoint(path, model, _meta(ModelConfig(backbone=BACKBONE, num_classes=3, fusion="concat")))
    assert not path.exists() and not list(tmp_path.iterdir())


def test_file_sha256(saved: tuple[Path, DIANet], tmp_path: Path) -> None:
    path = saved[0]
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(InputError, match="absent.pt: cannot read"):
        file_sha256(tmp_path / "absent.pt")
