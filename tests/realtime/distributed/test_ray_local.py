"""`--ray local`: the Ray instance started for the run listens on loopback only."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess

import pytest

pytestmark = pytest.mark.slow


def _process_tree(pid: int) -> set[int]:
    out = {pid}
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    for child in children.split():
        out |= _process_tree(int(child))
    return out


def _listening(pids: set[int]) -> list[tuple[str, str]]:
    """(local address, process name) of every listening TCP socket of `pids` (from `ss`)."""
    found = []
    for line in subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines():
        if {int(p) for p in re.findall(r"pid=(\d+)", line)} & pids:
            found.append((line.split()[3], (re.findall(r'"([^"]+)"', line) or ["?"])[0]))
    return found


def _host(address: str) -> str:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host.removeprefix("::ffff:")


def test_a_local_instance_listens_on_loopback_only(ray_env) -> None:
    from realtime.distributed.cluster import ClusterConfig, RayCluster

    with RayCluster(ClusterConfig(address="local", num_cpus=1)) as cluster:
        cluster.ray.get(cluster.ray.remote(lambda: 1).remote())  # a worker is up too
        sockets = _listening(_process_tree(os.getpid()))
    assert len(sockets) >= 4, sockets  # GCS, raylet, workers, agents: the test sees them
    wide = [(a, name) for a, name in sockets if _host(a) in ("*", "0.0.0.0", "::")
            or not ipaddress.ip_address(_host(a)).is_loopback]
    assert wide == [], f"listening beyond loopback: {wide}"
