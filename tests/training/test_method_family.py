"""The method family end to end: each method trains leave-one-subject-out for one tiny epoch,
exports to ONNX with parity, and labels the micro-expressions of a synthetic interview in
`mer-process`, its representations built at event close; plus the networks' own pieces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from engines.builder import build_engine
from realtime.cli.process import app
from realtime.dynamic_images.rank_pooling import DIInputConfig
from realtime.dynamic_images.representation_config import RepresentationConfig
from training.augment import AugmentConfig, spatial_augment
from training.clip_cache import CachedClip
from training.loso import LosoRun
from training.models import METHODS, ModelConfig, create_model, input_names, list_methods
from training.models.afn import AFN
from training.models.fmanet import FMANet
from training.models.meganet import GradientAttention
from training.presets import resolve

CLASSES = ("a", "b", "c")  # the blob_clips fixture's (conftest.py)
INTERVIEW_S = 5.0
SIZE = 64  # network input: MEGANet's gradient attention needs a feature map of 2x2 or more
NEW_METHODS = [m for m in list_methods() if METHODS[m].inputs not in (("di_onset", "di_offset"), ("di_clip",),
                                                                      ("di_onset",), ("di_offset",))]


def test_every_sibling_method_is_registered_with_its_own_inputs() -> None:
    assert set(NEW_METHODS) == {"afn", "cof", "mm_cof", "fmanet", "mesti", "meganet", "apex", "flow"}
    assert input_names(ModelConfig(inputs="afn")) == ("di_clip", "di_mi")
    assert ModelConfig(inputs="fmanet").in_chans == 3 and ModelConfig(inputs="meganet").in_chans == 1
    with pytest.raises(Exception, match="3-channel inputs"):
        ModelConfig(inputs="flow", in_chans=1)


def test_afn_gate_and_fmanet_phase_weights_are_distributions() -> None:
    torch.manual_seed(0)
    afn = create_model(ModelConfig(backbone="resnet18", num_classes=3, inputs="afn", feature_dim=16)).eval()
    assert isinstance(afn, AFN) and len(afn.branches) == 1  # shared_backbone by default
    f_t, f_m = torch.randn(4, 16), torch.randn(4, 16)
    gate = afn.weights(f_t, f_m)
    assert gate.shape == (4, 2) and torch.allclose(gate.sum(dim=1), torch.ones(4))
    fmanet = create_model(ModelConfig(backbone="resnet18", num_classes=3, inputs="fmanet", shared_backbone=False))
    assert isinstance(fmanet, FMANet) and len(fmanet.backbones) == 2
    assert torch.allclose(fmanet.theta, torch.tensor([0.5, 0.5]))
    with torch.no_grad():
        fmanet.phase_logits.copy_(torch.tensor([3.0, -3.0]))
    theta = fmanet.theta.detach()
    assert theta[0] > 0.99 and float(theta.sum()) == pytest.approx(1.0)


def test_gradient_attention_sees_edges_not_flat_features() -> None:
    block = GradientAttention(2)
    flat = torch.full((1, 2, 6, 6), 3.0)
    assert torch.all(block.gradient(flat)[..., 1:-1, 1:-1] < 1e-2)  # no change across the map: no gradient
    step = torch.zeros(1, 2, 6, 6)
    step[..., 3:] = 1.0
    assert torch.all(block.gradient(step)[..., 1:-1, 2:4] > 1.0)  # a vertical edge: a strong gradient


def test_augmenting_a_flow_turns_its_vectors_with_the_image() -> None:
    """A blob moves 4 px right between two frames; after the same flip and rotation of both frames
    and of their flow, the flow must still say where the blob went."""
    size = 64
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")

    def blob(cx: float) -> torch.Tensor:
        return torch.exp(-((xs - cx) ** 2 + (ys - 20) ** 2) / 8.0)[None, None].float()

    def centre(image: torch.Tensor) -> torch.Tensor:
        weights = image[0, 0]
        return torch.stack(((weights * xs).sum(), (weights * ys).sum())) / weights.sum()

    flow = torch.zeros(1, 3, size, size)
    flow[:, 0] = 4.0  # u: 4 px to the right
    flow[:, 2] = 4.0  # |f|
    flipped = 0
    for seed in range(6):
        first, second, moved = spatial_augment((blob(40), blob(44), flow), AugmentConfig(max_rotation_deg=40.0),
                                               torch.Generator().manual_seed(seed), vectors=(None, None, (0, 1)))
        went = centre(second) - centre(first)
        torch.testing.assert_close(moved[0, :2, 32, 32], went, atol=0.05, rtol=0)
        torch.testing.assert_close(moved[0, 2, 32, 32], torch.tensor(4.0))  # |f| is not a vector
        flipped += int(went[0] < 0)
    assert 0 < flipped < 6  # both mirrored and plain draws were checked


@pytest.fixture(scope="module")
def clips(blob_clips) -> list[CachedClip]:
    return blob_clips(subjects=3)


def _config(method: str, **changes: object):
    """One tiny epoch of ResNet-18 at 64 px."""
    return resolve("cpu", **{**dict(backbone="resnet18", size=SIZE, epochs=1, patience=1, batch_size=6, lr=1e-3,
                                    inputs=method), **changes})


@pytest.fixture(scope="module")
def interview(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short mer-synth interview shared by every method: 5 s at 30 fps, 2 micro-expressions."""
    from training.synth import make_video

    path = tmp_path_factory.mktemp("short_interview") / "interview.mp4"
    make_video(path, fps=30, duration=INTERVIEW_S, micro=2, seed=7)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("method", NEW_METHODS)
def test_method_trains_exports_and_labels_an_interview(method: str, clips: list[CachedClip], interview: Path,
                                                       tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = LosoRun(clips, CLASSES, _config(method), tmp_path / "run", alignment={}, device="cpu").train_final_only()
    spec = build_engine(model, tmp_path / "engine", backend="onnx", max_batch=2, threads=1)
    assert spec.input_names == input_names(ModelConfig(inputs=method))
    assert sorted(spec.parity["onnxruntime_cpu"]) == ["1", "2"]  # measured at both batch sizes
    assert max(spec.parity["onnxruntime_cpu"].values()) < 1e-4
    assert spec.di_input.representation == RepresentationConfig()

    run = CliRunner().invoke(app, [str(interview), "--out", str(tmp_path / "out"), "--engine",
                                   str(tmp_path / "engine"), "--no-video"])
    assert run.exit_code == 0, run.output
    folder = tmp_path / "out" / interview.stem
    summary = json.loads((folder / "summary.json").read_text())
    with (folder / "events.csv").open(newline="") as handle:
        events = list(csv.DictReader(handle))
    assert summary["micro_expressions"] >= 2 and len(events) == summary["micro_expressions"]
    assert all(e["label"] in CLASSES for e in events), events  # every event classified, none failed
    probabilities = np.array([[float(e[f"prob_{c}"]) for c in CLASSES] for e in events])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.parametrize("method", ["afn", "fmanet", "meganet"])  # the new networks (the others are one DIANet stream)
def test_new_networks_train_leave_one_subject_out(method: str, clips: list[CachedClip], tmp_path: Path) -> None:
    torch.manual_seed(0)
    result = LosoRun(clips, CLASSES, _config(method, final_model=False), tmp_path / "run", alignment={},
                     device="cpu")()
    assert result.metrics.n == len(clips) and len(result.folds) == 3  # every clip tested, once per subject
    assert {r.fold.test_subject for r in result.folds} == {c.subject for c in clips}


def test_representations_are_cached_beside_the_stack(clips: list[CachedClip]) -> None:
    clip = clips[0]
    config = DIInputConfig().representation
    phases = clip.positions
    first = clip.representations(("cof", "di_onset"), phases, config)
    at = f"{phases.onset}-{phases.apex}-{phases.offset}"
    files = sorted(clip.stack_path.parent.glob(f"{clip.stack_path.stem}-{at}-cof-*.npz"))
    assert len(files) == 1 and set(first) == {"cof", "di_onset"}
    stamp = files[0].stat().st_mtime_ns
    again = clip.representations(("cof",), phases, config)
    np.testing.assert_array_equal(again["cof"][0], first["cof"][0])
    assert files[0].stat().st_mtime_ns == stamp  # read back, not recomputed
    other = clip.representations(("cof",), phases, RepresentationConfig(cof_theta_onset=1.0, cof_theta_offset=0.0))
    assert not np.array_equal(other["cof"][0], first["cof"][0])  # another configuration: another entry
