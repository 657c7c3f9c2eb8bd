"""mer-process on Ray: one task per video on a local Ray instance and on a two-node cluster on
loopback, against the single-machine run of the same videos; a worker killed and a node lost
mid-run, bad input, --resume, an unreachable head, and no Ray at all without --ray."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from realtime.cli.process import app
from realtime.cli.common import load_engine
from realtime.core.errors import InputError
from realtime.distributed.cluster import ClusterConfig, RayCluster, TaskResources
from realtime.distributed.videos import VideoJob, VideoSettings, process_on_ray
from support.loopback_cluster import LoopbackCluster, free_port

runner = CliRunner()
OUTPUTS = ("events.csv", "movements.csv", "frames.csv")  # deterministic outputs (summary.json has timings)


pytestmark = pytest.mark.usefixtures("ray_env")


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    """Three 6 s mer-synth interviews (two identities), 24 fps, 320x240, with their ground truth beside them."""
    from training.synth import make_video

    folder = tmp_path_factory.mktemp("videos")
    for k, seed in enumerate((11, 12, 13)):
        make_video(folder / f"v{k}.mp4", fps=24, duration=6.0, micro=2, seed=seed, size=(320, 240))
    return sorted(folder.glob("v*.mp4"))


@pytest.fixture(scope="module")
def single(videos, tiny_checkpoint, tmp_path_factory) -> Path:
    """The single-machine run of the same videos, classifying with a small checkpoint."""
    out = tmp_path_factory.mktemp("single")
    result = runner.invoke(app, [*map(str, videos), "--out", str(out), "--no-video", "--engine", str(tiny_checkpoint)])
    assert result.exit_code == 0, result.output
    return out


def _assert_same_results(out: Path, single: Path, videos: list[Path]) -> None:
    for video in videos:
        assert json.loads((out / video.stem / "summary.json").read_text())["complete"], video.name
        for name in OUTPUTS:
            assert (out / video.stem / name).read_text() == (single / video.stem / name).read_text(), \
                f"{video.stem}/{name}"


@pytest.fixture
def ray_temp():
    """A private folder for a local Ray instance, short enough for Ray's socket paths (< 108 characters)."""
    folder = Path(tempfile.mkdtemp(prefix="mer-ray-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_without_ray_nothing_imports_it() -> None:
    code = ("import sys, realtime.cli.process, training.cli.train, realtime.distributed.videos, "
            "training.loso.ray_folds; print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_unreachable_head_is_one_line_and_writes_nothing(videos, tmp_path) -> None:
    port = free_port()
    started = time.monotonic()
    result = runner.invoke(app, [str(videos[0]), "--out", str(tmp_path / "out"), "--ray", f"127.0.0.2:{port}"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        (f"error: --ray 127.0.0.2:{port}: no Ray head answers there (Connection refused); start one with "
         f"`ray start --head --port={port}` or check the address")]
    assert time.monotonic() - started < 10  # Ray alone would retry for about ten minutes
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_local_instance_equals_single_machine(videos, single, tiny_checkpoint, tmp_path, ray_temp) -> None:
    out = tmp_path / "out"
    # Finished before: --resume leaves it alone. Bad input: one line, the other videos go on.
    shutil.copytree(single / videos[0].stem, out / videos[0].stem)
    before = (out / videos[0].stem / "frames.csv").stat().st_mtime_ns
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    jobs = [VideoJob(v, v.with_name(f"{v.stem}_groundtruth.csv")) for v in videos] + [VideoJob(bad)]
    cluster = ClusterConfig(address="local", num_cpus=2, object_store_bytes=200_000_000, temp_dir=ray_temp,
                            node_ip_address="127.0.0.2")
    settings = VideoSettings(out=out, engine=tiny_checkpoint, write_video=False)  # loaded in each task from its path
    with RayCluster(cluster) as ray_cluster:
        with pytest.raises(InputError, match="no node of the cluster offers 1 CPUs and 1 GPUs per task"):
            ray_cluster.check(TaskResources(gpus=1))  # Ray would keep such tasks waiting forever
        results = process_on_ray(jobs, settings, cluster=ray_cluster, resume=True, load_engine=load_engine)

    assert [r.status for r in results] == ["skipped", "finished", "finished", "failed"]
    assert (out / videos[0].stem / "frames.csv").stat().st_mtime_ns == before
    assert results[3].error.startswith(f"{bad}: cannot be read as a video")
    assert "\n" not in results[3].error
    _assert_same_results(out, single, videos)
    for result in results[1:3]:  # scored against the ground truth beside each video, as a single machine does
        assert result.summary["spotting"]["ground_truth"].endswith("_groundtruth.csv")
        assert result.summary["micro_expressions"] >= 1
        assert result.summary["engine"]["classes"] == ["negative", "positive", "surprise"]


@pytest.mark.slow
def test_two_nodes_survive_a_lost_node_and_a_killed_worker(videos, single, tiny_checkpoint, tmp_path) -> None:
    """mer-process --ray HEAD: the second node is lost a second into its first video, then the head's
    worker is killed a second into a video; every video still ends complete and equal."""
    out = tmp_path / "out"
    events: list[tuple[str, str]] = []  # (what was killed, the video it was running)
    finished = threading.Event()

    def running(cluster: LoopbackCluster, node: int) -> tuple[int, str] | None:
        """(pid, video) of a task on `node` that has written a second of frames.csv."""
        for pid, command in cluster.processes(node=node).items():
            name = command.removeprefix("ray::")  # a task's worker is titled ray::<job>, here the video's name
            frames = out / Path(name).stem / "frames.csv"
            if name in {v.name for v in videos} and frames.is_file() and len(frames.read_text().splitlines()) > 24:
                return pid, name
        return None

    with LoopbackCluster() as cluster:
        def break_things() -> None:
            while len(events) < 2 and not finished.is_set():
                if not events and (found := running(cluster, 1)):
                    cluster.kill_node(1)
                    events.append(("node", found[1]))
                elif events and (found := running(cluster, 0)):
                    cluster.kill_worker(found[0])
                    events.append(("worker", found[1]))
                time.sleep(0.05)

        breaker = threading.Thread(target=break_things, daemon=True)
        breaker.start()
        result = runner.invoke(app, [*map(str, videos), "--out", str(out), "--no-video", "--engine",
                                     str(tiny_checkpoint), "--ray", cluster.address])
        finished.set()
        breaker.join()
    assert result.exit_code == 0, result.output
    assert [what for what, _ in events] == ["node", "worker"], (events, result.output)
    text = " ".join(result.output.split())  # log lines may wrap at the console width
    assert "node 127.0.0.3" in text and "left the cluster" in text, result.output
    for _, video in events:
        assert f"{video}: started again on 127.0.0.2" in text, result.output
    _assert_same_results(out, single, videos)
