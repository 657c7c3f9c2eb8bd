"""mer-train on Ray: one task per fold (and per ablation configuration), on a local Ray instance and
on a two-node cluster on loopback, against single-machine runs of the same configurations.

Clips are small stacks from the blob_clips fixture (conftest.py), cached on disk, so phase jitter makes
every worker read the shared DI cache. Everything runs with one torch thread, as the Ray tasks do
(conftest sets it for the session; the tasks set it from `threads`).
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from rich.console import Console
from rich.progress import Progress

from realtime.distributed.cluster import ClusterConfig
from support.loopback_cluster import LoopbackCluster
from training.clip_cache import CachedClip
from training.loso import LosoRun
from training.presets import resolve
from training.loso.ray_folds import train_on_ray

CLASSES = ("a", "b", "c")  # those of the blob_clips fixture (conftest.py)
SIZE = 32  # their side in px


pytestmark = pytest.mark.usefixtures("ray_env")


@pytest.fixture(scope="module")
def clips(blob_clips) -> list[CachedClip]:
    return blob_clips(subjects=3)


BASE = resolve("cpu", backbone="resnet18", size=SIZE, epochs=2, batch_size=8, lr=1e-3, patience=2, final_model=True)
CONCAT = replace(BASE, fusion="concat", final_model=False)  # a second ablation configuration
assert BASE.augment.jitters  # the workers recompute DIs from the cached stacks


def _run(clips, config, run_dir: Path) -> LosoRun:
    return LosoRun(clips, CLASSES, config, run_dir, alignment={}, device="cpu")


@pytest.fixture(scope="module")
def single(clips, tmp_path_factory) -> dict[str, Path]:
    """Single-machine runs of both configurations."""
    assert torch.get_num_threads() == 1
    root = tmp_path_factory.mktemp("single")
    for name, config in (("base", BASE), ("concat", CONCAT)):
        _run(clips, config, root / name)()
    return {"base": root / "base", "concat": root / "concat"}


def _assert_same(run_dir: Path, reference: Path) -> None:
    """predictions.csv and the metrics equal; model.pt has the same weights; folds chose the same epochs."""
    assert (run_dir / "predictions.csv").read_text() == (reference / "predictions.csv").read_text()
    mine, theirs = (json.loads((d / "metrics.json").read_text()) for d in (run_dir, reference))
    for document in (mine, theirs):
        for fold in document["per_fold"].values():
            del fold["seconds"]
    assert mine == theirs
    if (reference / "model.pt").is_file():
        a, b = (torch.load(d / "model.pt", weights_only=True)["state_dict"] for d in (run_dir, reference))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def ray_temp():
    """A private folder for a local Ray instance, short enough for Ray's socket paths (< 108 characters)."""
    folder = Path(tempfile.mkdtemp(prefix="mer-ray-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_local_instance_equals_single_machine_and_resumes(clips, single, tmp_path, ray_temp) -> None:
    run_dir = tmp_path / "run"
    # A run killed after its first fold: --resume must not recompute it (its file stays as it was).
    _run(clips, BASE, run_dir).prepare()
    first = min((single["base"] / "folds").glob("*.json"))
    (run_dir / "folds" / first.name).write_bytes(first.read_bytes())
    before = (run_dir / "folds" / first.name).stat().st_mtime_ns

    cluster = ClusterConfig(address="local", num_cpus=2, object_store_bytes=200_000_000,
                            temp_dir=ray_temp, node_ip_address="127.0.0.2")
    [result] = train_on_ray([_run(clips, BASE, run_dir)], device="cpu", cluster=cluster, resume=True)

    assert (run_dir / "folds" / first.name).stat().st_mtime_ns == before
    assert result.metrics.n == len(clips) and result.final_epochs is not None
    _assert_same(run_dir, single["base"])


@pytest.mark.slow
def test_ablation_on_two_nodes_survives_a_killed_worker(clips, single, tmp_path, caplog) -> None:
    """Both configurations' folds spread over two nodes; one fold's worker is killed after its first epoch
    (on the second node when a fold runs there long enough, else on the head: Ray decides the placement)."""
    display = Progress(console=Console(file=io.StringIO()))  # the driver's display, read by the killer
    killed: list[str] = []
    finished = threading.Event()
    with LoopbackCluster() as cluster:
        def kill_a_fold_worker() -> None:
            while not killed and not finished.is_set():
                for bar in display.tasks:  # a fold's epochs bar, with its job, node and attempt in its fields
                    job = bar.fields.get("job", "")
                    if "fold" not in job or bar.completed < 1:
                        continue
                    for node in (1, 0):  # node k is 127.0.0.(k+2); prefer the second node
                        if bar.fields.get("node", "").startswith(f"127.0.0.{node + 2} "):
                            for pid, command in cluster.processes(node=node).items():
                                if command == f"ray::{job}":  # the worker running that task
                                    cluster.kill_worker(pid)
                                    killed.append(job)
                                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_a_fold_worker, daemon=True)
        killer.start()
        caplog.set_level("INFO", logger="realtime.distributed.cluster")
        with display:
            results = train_on_ray([_run(clips, BASE, tmp_path / "base"), _run(clips, CONCAT, tmp_path / "concat")],
                                   device="cpu", progress=display,
                                   cluster=ClusterConfig(address=cluster.address))
        finished.set()
        killer.join()
    assert killed, "no fold worker was found running after its first epoch"
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith(f"{killed[0]}: started again on ") and "(attempt 2)" in m for m in messages), messages
    assert [r.config for r in results] == [BASE, CONCAT]
    _assert_same(tmp_path / "base", single["base"])
    _assert_same(tmp_path / "concat", single["concat"])
