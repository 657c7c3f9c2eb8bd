"""A throwaway Ray cluster of several nodes on loopback addresses, for tests and benchmarks of `--ray`.

Each node is a real `ray start` (the head with `--head`, the others with `--address`), as on a
real cluster, in a private temporary folder and on ports chosen free. Stopping kills exactly the
cluster's own processes: those in the process group of each `ray start` and their descendants
(Ray's workers get their own process groups). `ray stop` is not used: it ends every Ray process
on the machine, other people's included.

All addresses are loopback. Ray replaces "127.0.0.1" wherever it is given by the machine's
outward address, but not the rest of 127.0.0.0/8, so node k is 127.0.0.(k+2) and the head is
reached at 127.0.0.2:PORT. A driver given that address attaches to the head's node (RayCluster
takes a head reached on loopback to run on this machine; by the route Ray would guess 127.0.0.1).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from realtime.core.errors import MerError

log = logging.getLogger(__name__)

# Ray's servers listen on every interface whatever the node IP, so the cluster requires a token:
# one per process (never written to disk), so that every cluster and local Ray instance a test
# process starts accepts the driver (Ray caches the token a process first reads).
AUTH_TOKEN = secrets.token_hex(32)


NODE_PORTS = ("node-manager-port", "object-manager-port", "metrics-export-port", "dashboard-agent-listen-port",
              "dashboard-agent-grpc-port", "runtime-env-agent-port")  # `ray start` options, one port each


class ClusterStartError(MerError):
    """A `ray start` of the loopback cluster failed (its output is in the message)."""


@dataclass(frozen=True)
class LoopbackConfig:
    nodes: int = 2  # the head and one more: the smallest cluster whose node can be lost
    cpus_per_node: int = 1  # this machine has two cores
    object_store_bytes: int = 200_000_000  # tasks pass summaries and small DIs only
    health_check_s: float = 1.0  # the head declares a silent node dead after ~3 of these (Ray: 3 s x 5)
    start_timeout_s: float = 120.0  # a `ray start` on a busy 2-core machine takes 5-20 s


def free_ports(count: int) -> list[int]:
    """`count` different TCP ports nobody listens on right now (the OS's picks). All are held open
    until the last is picked: one at a time, the OS can hand out a port it just gave (a node's two
    dashboard-agent ports once came out equal and `ray start` refused them)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def free_port() -> int:
    return free_ports(1)[0]


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, command line) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp ...
        table[int(entry.name)] = (int(fields[1]), int(fields[2]), cmdline)
    return table


class LoopbackCluster:
    """`with LoopbackCluster() as cluster:` -> `cluster.address` ("127.0.0.2:PORT") for ray.init / --ray."""

    def __init__(self, config: LoopbackConfig = LoopbackConfig()) -> None:
        self.config = config
        self.root = Path(tempfile.mkdtemp(prefix="mer-ray-", dir="/tmp"))  # short: Ray's socket paths are < 108 chars
        # Every port of every node, picked together so that no two are the same.
        self._ports = iter(free_ports(2 + len(NODE_PORTS) * config.nodes))
        self.port = next(self._ports)
        self.address = f"127.0.0.2:{self.port}"  # node k is 127.0.0.(k+2)
        self._groups: list[int] = []  # process group of each node's `ray start` (head first)

    def __enter__(self) -> LoopbackCluster:
        """Start every node at once (the others wait for the head by themselves): about one node's start-up time."""
        try:
            starting = [self._launch(node) for node in range(self.config.nodes)]
            for node, process in enumerate(starting):
                self._wait(node, process)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def driver_env(self) -> dict[str, str]:
        """Environment a driver needs to join (set it before the process first uses Ray)."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": AUTH_TOKEN}

    def _launch(self, node: int) -> subprocess.Popen:
        c = self.config
        ports = {name: next(self._ports) for name in NODE_PORTS}
        command = [str(Path(sys.executable).with_name("ray")), "start", f"--num-cpus={c.cpus_per_node}",
                   f"--object-store-memory={c.object_store_bytes}", f"--temp-dir={self.root / f'node{node}'}",
                   f"--node-ip-address=127.0.0.{node + 2}", "--disable-usage-stats", "--min-worker-port=0",
                   "--max-worker-port=0", *(f"--{name}={port}" for name, port in ports.items())]
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **self.driver_env}
        if node == 0:
            command += ["--head", f"--port={self.port}", "--include-dashboard=false",
                        f"--ray-client-server-port={next(self._ports)}"]
            period_ms = int(1000 * c.health_check_s)
            env.update({"RAY_health_check_period_ms": str(period_ms), "RAY_health_check_timeout_ms": str(period_ms),
                        "RAY_health_check_failure_threshold": "3", "RAY_health_check_initial_delay_ms": "0"})
        else:
            command += [f"--address={self.address}"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own process group: what stop() kills
        self._groups.append(process.pid)
        return process

    def _wait(self, node: int, process: subprocess.Popen) -> None:
        started = time.monotonic()
        try:
            output, _ = process.communicate(timeout=self.config.start_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        if process.returncode != 0:
            raise ClusterStartError(f"`ray start` of node {node} failed ({process.returncode}): "
                                    f"{output.decode(errors='replace')[-2000:]}")
        log.info("loopback node %d up (%.1f s after the previous one)", node, time.monotonic() - started)

    def processes(self, node: int | None = None) -> dict[int, str]:
        """pid -> command line of the cluster's processes (of one node when given): daemons and workers."""
        table = _processes()
        groups = set(self._groups) if node is None else {self._groups[node]}
        chosen = {pid for pid, (_, group, _) in table.items() if group in groups}
        grew = True
        while grew:  # add descendants (workers run in their own process groups)
            found = {pid for pid, (parent, _, _) in table.items() if parent in chosen} - chosen
            chosen |= found
            grew = bool(found)
        return {pid: table[pid][2] for pid in chosen}

    def kill_worker(self, pid: int) -> None:
        """SIGKILL one of the cluster's processes (a task's worker dying mid-task); refuses any other pid."""
        if pid not in self.processes():
            raise ValueError(f"process {pid} is not part of this cluster")
        os.kill(pid, signal.SIGKILL)

    def kill_node(self, node: int) -> None:
        """Kill one node outright (SIGKILL to each of its processes): a machine lost mid-run."""
        for pid in self.processes(node):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        for node in range(len(self._groups)):
            self.kill_node(node)
        self._groups.clear()
        shutil.rmtree(self.root, ignore_errors=True)
