"""The driver's side of `--ray`: reach a Ray cluster, run one task per unit of work, watch the tasks.

`mer-process --ray` (one task per video) and `mer-train --ray` (one task per fold) share this:
- `ClusterConfig` and `RayCluster`: connect to a head (or start a Ray instance for the run) and
  say in one line why not. An address where no head answers is probed here first: Ray itself
  would keep retrying for about ten minutes.
- `TaskResources`: the CPU and GPU share of each task, and how often a task whose worker process
  or node dies is run again (Ray's `max_retries`). Errors our code raises (bad input) are never
  retried: they would fail again.
- `ProgressBoard`: an actor on the driver's node that tasks report their progress bars to
  (`TaskProgress`, which looks like the part of rich's Progress that our loops use); the driver
  mirrors the board into its one rich display.
- `RayCluster.gather`: results as tasks end, one line per failed task, one line when a node
  leaves the cluster, and the attempt each task is on.

Ray is imported only inside these functions: without `--ray` nothing imports it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from rich.markup import escape
from rich.progress import Progress, TaskID

from realtime.core.errors import InputError, MerError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'dianet-mer[distributed]'"
POLL_S = 0.5  # how often the driver refreshes the display and looks for finished tasks
NODES_POLL_S = 1.0  # how often it asks the head which nodes are alive
REPORT_EVERY_S = 0.5  # a task sends a bar's progress at most this often (the last step always)


def import_ray() -> ModuleType:
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise InputError(f"--ray needs Ray, an optional extra: {INSTALL_HINT} (on every node)") from exc
    return ray


@dataclass(frozen=True)
class ClusterConfig:
    """Where the tasks run: an existing cluster, or a Ray instance started on this machine for the run."""

    # "local" (a Ray instance for this run) | "auto" (the cluster this machine joined, or $RAY_ADDRESS)
    # | HOST:PORT of the head's GCS (what `ray start --head` prints)
    address: str = "local"
    connect_timeout_s: float = 5.0  # TCP probe of HOST:PORT; a head answers in milliseconds
    num_cpus: int | None = None  # "local" only: CPUs it offers (None: all of this machine's)
    object_store_bytes: int | None = None  # "local" only: its shared-memory object store (None: Ray's choice)
    temp_dir: Path | None = None  # "local" only: its sockets and logs (None: Ray's /tmp/ray)
    node_ip_address: str | None = None  # this machine's node IP, when Ray's guess is not the one wanted
    log_to_driver: bool = False  # the workers' log lines on this console (else in the Ray session logs only)

    def __post_init__(self) -> None:
        if self.address.startswith("ray://"):  # no raylet beside the driver: the progress board has no home
            raise InputError(f"--ray {self.address}: Ray Client addresses are not supported; run the command on a "
                             f"machine of the cluster with --ray HOST:PORT of the head")
        if self.address not in ("local", "auto"):
            _host_port(self.address)  # refuses a malformed address before anything starts


@dataclass(frozen=True)
class TaskResources:
    """What each task reserves on its node, and how often it is run again when its worker or node dies."""

    cpus: float = 1.0  # one core: decoding + MediaPipe, or one fold's training, run on one thread each
    gpus: float = 0.0  # share of one GPU (0.25: four tasks per GPU); 0 keeps tasks off GPUs
    max_retries: int = 3  # Ray's default; our own errors (bad input) are never retried

    def __post_init__(self) -> None:
        if self.cpus <= 0:
            raise InputError(f"--ray-cpus must be > 0, got {self.cpus}")
        if self.gpus < 0 or (self.gpus > 1 and self.gpus != int(self.gpus)):
            raise InputError(f"--ray-gpus must be a share in [0, 1] or a whole number of GPUs, got {self.gpus}")
        if self.max_retries < 0:
            raise InputError(f"max_retries must be >= 0, got {self.max_retries}")

    @property
    def threads(self) -> int:
        """CPU threads a task uses: its whole reserved cores (at least one)."""
        return max(1, int(self.cpus))

    def options(self) -> dict[str, Any]:
        return {"num_cpus": self.cpus, "num_gpus": self.gpus, "max_retries": self.max_retries,
                "retry_exceptions": False}


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InputError(f"--ray {address}: use local, auto or HOST:PORT (the head's `ray start --head --port`)")
    return host.strip("[]"), int(port)


def probe(address: str, timeout_s: float) -> None:
    """Raise one line unless something accepts TCP connections at the head's HOST:PORT."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"--ray {address}: no Ray head answers there ({reason}); start one with "
                         f"`ray start --head --port={port}` or check the address") from exc


# ------------------------------------------------------------------------------------ progress

class ProgressBoard:
    """The progress bars of running tasks, kept by an actor on the driver's node.

    Each task attempt announces itself (`start`, which counts attempts); bars of an attempt that
    died are dropped when the next attempt starts, and reports from a dead attempt are ignored.
    """

    def __init__(self) -> None:
        self._attempts: dict[str, dict] = {}  # job -> {"attempt", "node", "pid"}
        self._bars: dict[tuple[str, int], dict] = {}  # (job, bar) -> {"description", "completed", "total"}

    def start(self, job: str, node: str, pid: int) -> int:
        attempt = self._attempts.get(job, {}).get("attempt", 0) + 1
        self._attempts[job] = {"attempt": attempt, "node": node, "pid": pid}
        self._bars = {key: bar for key, bar in self._bars.items() if key[0] != job}
        return attempt

    def _current(self, job: str, pid: int) -> bool:
        return self._attempts.get(job, {}).get("pid") == pid

    def bar(self, job: str, pid: int, bar: int, description: str, completed: float, total: float | None) -> None:
        if self._current(job, pid):
            self._bars[(job, bar)] = {"description": description, "completed": completed, "total": total}

    def remove(self, job: str, pid: int, bar: int) -> None:
        if self._current(job, pid):
            self._bars.pop((job, bar), None)

    def finish(self, job: str) -> None:
        """The job's outcome has been read: forget it (a later job of the same name starts at attempt 1)."""
        self._attempts.pop(job, None)
        self._bars = {key: bar for key, bar in self._bars.items() if key[0] != job}

    def snapshot(self) -> tuple[dict[str, dict], dict[tuple[str, int], dict]]:
        return self._attempts, self._bars


class TaskProgress:
    """A task's side of the board. Offers the calls of rich's Progress that LosoRun makes
    (add_task, update, remove_task) and `frames(done, total)` for process_video's on_frame."""

    def __init__(self, board: Any, job: str) -> None:
        ray = import_ray()
        self.board = board
        self.job = job
        self.pid = os.getpid()
        self.node = _node_name(ray)
        self.attempt: int = ray.get(board.start.remote(job, self.node, self.pid))
        self._bars: dict[int, dict] = {}
        self._sent: dict[int, float] = {}
        self._next = 0

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        bar, self._next = self._next, self._next + 1
        self._bars[bar] = {"description": description, "completed": 0.0, "total": total}
        self._send(bar, force=True)
        return bar

    def update(self, bar: int, *, advance: float | None = None, completed: float | None = None,
               total: float | None = None, description: str | None = None, **_: Any) -> None:
        state = self._bars[bar]
        if completed is not None:
            state["completed"] = completed
        if advance is not None:
            state["completed"] += advance
        if total is not None:
            state["total"] = total
        if description is not None:
            state["description"] = description
        self._send(bar, force=state["total"] is not None and state["completed"] >= state["total"])

    def remove_task(self, bar: int) -> None:
        self._bars.pop(bar, None)
        self.board.remove.remote(self.job, self.pid, bar)

    def frames(self, done: int, total: int | None) -> None:
        """process_video's on_frame: one bar of frames."""
        if not self._bars:
            self.add_task("frames", total=total)
        self.update(0, completed=done, total=total)

    def _send(self, bar: int, *, force: bool) -> None:
        now = time.monotonic()
        if force or now - self._sent.get(bar, -1e9) >= REPORT_EVERY_S:
            self._sent[bar] = now
            state = self._bars[bar]
            self.board.bar.remote(self.job, self.pid, bar, state["description"], state["completed"], state["total"])


def _node_name(ray: ModuleType) -> str:
    """`IP (first 8 hex of the node id)`: nodes on one machine share the IP."""
    node_id = ray.get_runtime_context().get_node_id()
    ip = ray.util.get_node_ip_address()
    return f"{ip} ({node_id[:8]})"


class _Display:
    """The board mirrored into the driver's rich Progress: one bar per running task's bar, with the
    task's job, node and attempt also in the bar's fields."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self._shown: dict[tuple[str, int], TaskID] = {}

    def show(self, attempts: Mapping[str, dict], bars: Mapping[tuple[str, int], dict]) -> None:
        if self.progress is None:
            return
        for key in [key for key in self._shown if key not in bars]:
            self.progress.remove_task(self._shown.pop(key))
        for key, bar in bars.items():
            run = attempts.get(key[0], {})
            fields = {"job": key[0], "node": run.get("node", "?"), "attempt": run.get("attempt", 1)}
            again = f", attempt {fields['attempt']}" if fields["attempt"] > 1 else ""
            description = f"  {escape(key[0])}: {escape(bar['description'])} [dim]@ {fields['node']}{again}[/]"
            if key not in self._shown:
                self._shown[key] = self.progress.add_task(description, total=bar["total"], **fields)
            self.progress.update(self._shown[key], description=description, completed=bar["completed"],
                                 total=bar["total"], **fields)

    def clear(self) -> None:
        self.show({}, {})


# ------------------------------------------------------------------------------------- cluster

@dataclass(frozen=True)
class TaskOutcome:
    """How one task ended: its value, or the one line that says why it has none."""

    job: str
    value: Any = None
    error: str | None = None
    attempts: int = 1  # attempts that started (more than one: a worker or node died under it)
    node: str | None = None  # where the last attempt ran


class RayCluster:
    """A connection to a Ray cluster for one run (context manager): submit tasks, gather outcomes."""

    def __init__(self, config: ClusterConfig = ClusterConfig()) -> None:
        self.config = config
        self.ray: ModuleType | None = None
        self.board: Any = None
        self._remotes: dict[Callable[..., Any], Any] = {}
        self._alive: dict[str, str] = {}  # node id -> name, of the nodes seen alive
        self._nodes_checked = 0.0
        self._printer: Callable[..., None] | None = None  # Ray's printer of raylet messages, while ours replaces it

    # ---- connection
    def __enter__(self) -> RayCluster:
        config = self.config
        ray = import_ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if ray.is_initialized():
            raise InputError("Ray is already initialised in this process; pass the open RayCluster instead")
        address = config.address
        if address == "auto":
            address = _auto_address(ray)
        if address != "local":
            probe(address, config.connect_timeout_s)
        common = {"log_to_driver": config.log_to_driver, "logging_level": logging.WARNING,
                  "namespace": "dianet-mer", "_node_ip_address": _driver_ip(config, address)}
        try:
            if address == "local":
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves this machine
                ray.init(address="local", num_cpus=config.num_cpus, object_store_memory=config.object_store_bytes,
                         include_dashboard=False,
                         _temp_dir=str(config.temp_dir) if config.temp_dir is not None else None, **common)
            else:
                ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:  # version, token, ...
            ray.shutdown()
            hint = ("" if os.environ.get("RAY_AUTH_MODE") == "token" else
                    " (a cluster with token authentication also needs RAY_AUTH_MODE=token and its token here)")
            raise InputError(f"--ray {config.address}: cannot join the Ray cluster: {_first_line(exc)}{hint}") from exc
        self.ray = ray
        if not config.log_to_driver:
            self._quiet_raylet_messages()
        try:
            self.board = ray.remote(num_cpus=0, max_restarts=0)(ProgressBoard).options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(
                    node_id=ray.get_runtime_context().get_node_id(), soft=False)).remote()
            self._alive = self._alive_nodes()
            resources = ray.cluster_resources()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        log.info("Ray %s at %s: %d node(s), %g CPUs, %g GPUs", ray.__version__,
                 "a local instance" if address == "local" else address, len(self._alive),
                 resources.get("CPU", 0), resources.get("GPU", 0))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.ray is not None:
            self.ray.shutdown()  # a local instance stops with it; a cluster stays up
            if self._printer is not None:
                self.ray._private.worker.print_to_stdstream = self._printer
                self._printer = None
            self.ray = None

    def _quiet_raylet_messages(self) -> None:
        """Ray prints every raylet error (a worker died, a node was marked dead) to stdout as a
        paragraph; gather() says the same in one line, so Ray's go to the debug log instead
        (--verbose shows both). Ray 2.x's driver looks its printer up as the module's global
        `print_to_stdstream` for each message; the original is put back on exit."""
        worker = self._ray._private.worker
        self._printer = original = worker.print_to_stdstream

        def to_debug_log(data: dict, ignore_prefix: bool) -> None:
            if data.get("pid") != "raylet":
                original(data, ignore_prefix=ignore_prefix)
                return
            for line in data.get("lines", []):
                log.debug("raylet: %s", line)

        worker.print_to_stdstream = to_debug_log

    def check(self, resources: TaskResources) -> None:
        """One line, before anything is submitted, when no node could ever run such a task (Ray would wait forever)."""
        nodes = [n["Resources"] for n in self._ray.nodes() if n["Alive"]]
        if not any(r.get("CPU", 0) >= resources.cpus and r.get("GPU", 0) >= resources.gpus for r in nodes):
            largest = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)), default={})
            raise InputError(f"no node of the cluster offers {resources.cpus:g} CPUs and {resources.gpus:g} GPUs per "
                             f"task (the largest has {largest.get('CPU', 0):g} CPUs, {largest.get('GPU', 0):g} GPUs); "
                             f"lower --ray-cpus / --ray-gpus")

    # ---- tasks
    def submit(self, function: Callable[..., Any], *args: Any, resources: TaskResources, job: str) -> Any:
        """Run `function(*args, board, job)` as a Ray task; returns its ObjectRef."""
        if function not in self._remotes:
            self._remotes[function] = self._ray.remote(function)
        return self._remotes[function].options(**resources.options(), name=job).remote(*args, self.board, job)

    def put(self, value: Any) -> Any:
        """Into the object store once, shared by every task that gets the returned ref."""
        return self._ray.put(value)

    def gather(self, pending: dict[Any, str], *, progress: Progress | None = None) -> Iterator[TaskOutcome]:
        """Outcomes of the tasks {ObjectRef: job} as they end (each popped from `pending`), while the
        display follows their bars.

        A task that failed after its retries, or on our own error, comes back with `error` set
        (one line); a node that leaves the cluster gets one warning line. The caller may add refs
        to `pending` between outcomes (a run's last step once its folds are done).
        """
        ray = self._ray
        display = _Display(progress)
        announced: dict[str, int] = {}  # job -> attempt last reported
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                attempts = self._refresh(display)
                for job, attempt in attempts.items():
                    if attempt["attempt"] > announced.get(job, 1):
                        announced[job] = attempt["attempt"]
                        log.warning("%s: started again on %s (attempt %d): its worker or node died", job,
                                    attempt["node"], attempt["attempt"])
                for ref in done:
                    job = pending.pop(ref)
                    outcome = self._outcome(ref, job, attempts.get(job, {}))
                    self.board.finish.remote(job)
                    yield outcome
            self._refresh(display, nodes_now=True)  # a node lost near the end, if the head knows it by now
        finally:
            display.clear()

    def cancel(self, refs: list[Any], *, wait_s: float = 30.0) -> None:
        """Ctrl-C: interrupt the running tasks (a KeyboardInterrupt in each, so that they close their files) and
        wait for them a little."""
        ray = self._ray
        for ref in refs:
            ray.cancel(ref, force=False, recursive=True)
        ray.wait(refs, num_returns=len(refs), timeout=wait_s)

    # ---- internals
    @property
    def _ray(self) -> ModuleType:
        if self.ray is None:
            raise RuntimeError("RayCluster used outside its `with` block")
        return self.ray

    def _alive_nodes(self) -> dict[str, str]:
        return {n["NodeID"]: f"{n['NodeManagerAddress']} ({n['NodeID'][:8]})" for n in self._ray.nodes() if n["Alive"]}

    def _refresh(self, display: _Display, *, nodes_now: bool = False) -> dict[str, dict]:
        ray = self._ray
        now = time.monotonic()
        if nodes_now or now - self._nodes_checked >= NODES_POLL_S:
            self._nodes_checked = now
            alive = self._alive_nodes()
            for node_id, name in self._alive.items():
                if node_id not in alive:
                    log.warning("node %s left the cluster; the tasks it was running start again on the other "
                                "nodes (each up to its retry limit)", name)
            for node_id in alive.keys() - self._alive.keys():
                log.info("node %s joined the cluster", alive[node_id])
            self._alive = alive
        try:
            attempts, bars = ray.get(self.board.snapshot.remote(), timeout=5.0)
        except ray.exceptions.RayError as exc:  # the board is on the driver's node: only a sick node loses it
            log.debug("progress board unavailable: %s", _first_line(exc))
            return {}
        display.show(attempts, bars)
        return attempts

    def _outcome(self, ref: Any, job: str, attempt: dict) -> TaskOutcome:
        ray = self._ray
        attempts, node = attempt.get("attempt", 1), attempt.get("node")
        try:
            return TaskOutcome(job, value=ray.get(ref), attempts=attempts, node=node)
        except ray.exceptions.RayTaskError as exc:  # raised by our code in the task: not retried
            cause = exc.cause  # MerError messages name their file; anything else gets the job's name
            line = str(cause) if isinstance(cause, MerError) else f"{job}: {type(cause).__name__}: {_first_line(cause)}"
            return TaskOutcome(job, error=line, attempts=attempts, node=node)
        except ray.exceptions.TaskCancelledError:
            return TaskOutcome(job, error=f"{job}: interrupted", attempts=attempts, node=node)
        except ray.exceptions.RayError as exc:  # worker or node died on every attempt, object lost, ...
            return TaskOutcome(job, error=f"{job}: its task died {attempts} time(s), last on "
                                          f"{node or 'an unknown node'} ({type(exc).__name__}: {_first_line(exc)})",
                               attempts=attempts, node=node)


def joined(cluster: RayCluster | ClusterConfig) -> AbstractContextManager[RayCluster]:
    """An open RayCluster for a `with` block: the one given, or one joined for the block and left after it."""
    return nullcontext(cluster) if isinstance(cluster, RayCluster) else RayCluster(cluster)


def _driver_ip(config: ClusterConfig, address: str) -> str | None:
    """The node IP this driver attaches to: as configured; else a head reached on a loopback address
    runs on this machine, so this node is the head's; else Ray's own guess (None)."""
    if config.node_ip_address is not None or address == "local":
        return config.node_ip_address
    host = _host_port(address)[0]
    try:
        return host if ipaddress.ip_address(host).is_loopback else None
    except ValueError:  # a host name
        return None


def _auto_address(ray: ModuleType) -> str:
    """HOST:PORT of the cluster `ray.init(address="auto")` would join ($RAY_ADDRESS, or the last `ray start` here)."""
    try:
        # Ray's own resolution; private, but it is exactly what "auto" means to Ray.
        from ray._private.services import canonicalize_bootstrap_address_or_die
        return canonicalize_bootstrap_address_or_die("auto")
    except ConnectionError as exc:
        raise InputError(f"--ray auto: no Ray cluster found on this machine ({_first_line(exc)}); "
                         f"join one with `ray start --address=HEAD:PORT` or give the head's address") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
