"""Fixtures shared across test packages: small synthetic data made once per test session."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Tests run beside MediaPipe and subprocesses on 2 cores: torch's spinning OpenMP threads
    made small models 20-40x slower there (measured), so tests use one intra-op thread."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def synth_interview(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 s, 30 fps mer-synth interview with 3 micro-expressions, a macro-expression and blinks."""
    from training.synth import make_video

    path = tmp_path_factory.mktemp("interview") / "interview.mp4"
    make_video(path, fps=30, duration=12.0, micro=3, seed=7)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained small two-stream DIANet checkpoint (64 px inputs), for plumbing tests."""
    import torch

    from realtime.alignment import AlignConfig
    from training.checkpoint import CheckpointMeta, save_checkpoint
    from training.dynamic_images import DIInputConfig
    from training.models import ModelConfig, create_model, input_names
    from dataclasses import asdict

    torch.manual_seed(0)
    config = ModelConfig(backbone="mobilevit_xxs", num_classes=3)
    model = create_model(config).eval()
    meta = CheckpointMeta(classes=("negative", "positive", "surprise"), model=config,
                          input_names=input_names(config), di_input=DIInputConfig(size=64),
                          alignment=asdict(AlignConfig()), data_fingerprint="untrained", training={"note": "test"})
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, model, meta)
    return path


@pytest.fixture(scope="module")
def ray_env(tmp_path_factory: pytest.TempPathFactory):
    """Token authentication with this process's token for every Ray instance and cluster a test
    module starts (Ray 2.60 turns tokens on when ~/.ray/auth_token exists; the tests never write it),
    and one such module at a time across pytest-xdist's workers: clusters started side by side on
    one machine would find each other (`address="auto"`)."""
    from realtime.loopback_cluster import AUTH_TOKEN

    with open(tmp_path_factory.getbasetemp().parent / "ray-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        patch = pytest.MonkeyPatch()
        patch.setenv("RAY_AUTH_MODE", "token")
        patch.setenv("RAY_AUTH_TOKEN", AUTH_TOKEN)
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        yield
        patch.undo()
