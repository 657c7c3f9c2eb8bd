"""Fixtures shared across test packages: small synthetic data made once per test session."""

from __future__ import annotations

import fcntl
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.made_once import DONE, made_once
from support.shared_data import SHARED_DATA


# The test files that start Ray (they use `ray_env`): one of them at a time on this machine.
RAY_TEST_FILES = frozenset({"tests/realtime/distributed/test_ray_local.py", "tests/realtime/distributed/test_videos.py",
                            "tests/training/loso/test_ray_folds.py", "tests/training/test_evaluation.py"})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object):
    """`--dist loadfile`, except that the Ray test files form one unit that one worker runs file after
    file: handed out apart, the second worker to reach one waited for `ray_env`'s lock (36 s of a run)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class RayFilesTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "ray" if scope in RAY_TEST_FILES else scope

    return RayFilesTogether(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Test files with the most slow tests run first (each file's own order kept). pytest-xdist's
    `--dist loadfile` hands out files in this order (pyproject.toml turns off its reordering by test
    count, which sent one-test files such as the demo's minute-long run last): long files last left
    one worker alone at the end of the run."""
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        file = item.nodeid.split("::", 1)[0]
        if "ray_env" in getattr(item, "fixturenames", ()) and file not in RAY_TEST_FILES:
            raise pytest.UsageError(f"{file} starts Ray (ray_env): add it to RAY_TEST_FILES in tests/conftest.py")
        files.setdefault(file, []).append(item)

    def cost(tests: list[pytest.Item]) -> tuple[int, int]:
        return sum(t.get_closest_marker("slow") is not None for t in tests), len(tests)

    items[:] = [item for tests in sorted(files.values(), key=cost, reverse=True) for item in tests]


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Tests run beside MediaPipe and subprocesses on 2 cores: torch's spinning OpenMP threads
    made small models 20-40x slower there (measured), so tests use one intra-op thread."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """A command run by CliRunner binds its log handler to CliRunner's stand-in stderr, closed when
    the command returns: later log lines in the worker would fail ("--- Logging error ---")."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def synth_interview(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 s, 30 fps mer-synth interview with 3 micro-expressions, a macro-expression and blinks."""
    from training.synth import make_video

    folder = made_once(tmp_path_factory, "interview", lambda out: make_video(out / "interview.mp4", fps=30,
                                                                             duration=12.0, micro=3, seed=7))
    return folder / "interview.mp4"


@pytest.fixture
def demo_out(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A `mer-process --demo --out` folder that already holds the demo interview, as after a first demo
    run (the interview is synthesised once per test run: 16 s of 640x480 video, ~12 s of CPU)."""
    from realtime.cli.demo import demo_interview

    made = made_once(tmp_path_factory, "demo-interview", demo_interview)
    out = tmp_path / "out"
    shutil.copytree(made, out, ignore=shutil.ignore_patterns(DONE))
    return out


@pytest.fixture(scope="session")
def blob_clips(tmp_path_factory: pytest.TempPathFactory):
    """Make `subjects` x 6 small cached clips (no MediaPipe, milliseconds) of classes "a", "b" and "c"
    in turn, 32 px: each a 12-frame grey stack, a subject-specific static face texture and a blob
    that rises and falls in a class-specific place (the 'action unit')."""
    import numpy as np

    from realtime.core.interval import Interval
    from training.clip_cache import CachedClip, raw_dynamic_images

    size = 32

    def clip(root: Path, subject: str, index: int, label: str, rng: np.random.Generator) -> CachedClip:
        T, onset, apex, offset = 12, 1, 6, 11
        ys, xs = np.mgrid[0:size, 0:size]
        identity = np.random.default_rng(int(subject[1:])).uniform(60, 190, (size, size))
        cx, cy = {"a": (8, 8), "b": (24, 8), "c": (16, 24)}[label]
        blob = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 12.0)
        envelope = np.interp(np.arange(T), [0, onset, apex, offset, T - 1], [0, 0, 1, 0, 0])
        stack = np.stack([identity + 25 * e * blob + rng.normal(0, 2, (size, size)) for e in envelope])
        stack = np.clip(stack, 0, 255).astype(np.uint8)  # (T, S, S) grey uint8
        path = root / f"{subject}_{index}.npy"
        np.save(path, stack)
        return CachedClip(dataset="casme2", subject=subject, clip_id=f"EP{index:02d}", emotion=label, label=label,
                          positions=Interval(onset, apex, offset), num_frames=T, fps=200.0, face_found=1.0,
                          source=f"{subject}/{index}", dis=raw_dynamic_images(stack, Interval(onset, apex, offset)),
                          stack_path=path)

    def make(subjects: int) -> list[CachedClip]:
        root = tmp_path_factory.mktemp("stacks")
        rng = np.random.default_rng(0)
        return [clip(root, f"s{s}", i, "abc"[i % 3], rng) for s in range(1, subjects + 1) for i in range(6)]

    return make


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained small two-stream DIANet checkpoint (64 px inputs), for plumbing tests."""
    import torch

    from realtime.face.aligner import AlignConfig
    from training.checkpoint import CheckpointMeta, save_checkpoint
    from realtime.dynamic_images.rank_pooling import DIInputConfig
    from training.models import ModelConfig, create_model, input_names
    from dataclasses import asdict

    def make(out: Path) -> None:
        torch.manual_seed(0)
        config = ModelConfig(backbone="mobilevit_xxs", num_classes=3)
        model = create_model(config).eval()
        meta = CheckpointMeta(classes=("negative", "positive", "surprise"), model=config,
                              input_names=input_names(config), di_input=DIInputConfig(size=64),
                              alignment=asdict(AlignConfig()), data_fingerprint="untrained",
                              training={"note": "test"})
        save_checkpoint(out / "model.pt", model, meta)

    return made_once(tmp_path_factory, "checkpoint", make) / "model.pt"


@pytest.fixture(scope="module")
def ray_env(tmp_path_factory: pytest.TempPathFactory):
    """Token authentication with this process's token for every Ray instance and cluster a test
    module starts (Ray 2.60 turns tokens on when ~/.ray/auth_token exists; the tests never write it),
    and one such module at a time across pytest-xdist's workers: clusters started side by side on
    one machine would find each other (`address="auto"`)."""
    from support.loopback_cluster import AUTH_TOKEN

    with open(tmp_path_factory.getbasetemp().parent / "ray-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        patch = pytest.MonkeyPatch()
        patch.setenv("RAY_AUTH_MODE", "token")
        patch.setenv("RAY_AUTH_TOKEN", AUTH_TOKEN)
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        yield
        patch.undo()
