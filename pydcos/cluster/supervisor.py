"""The process shell around a `ClusterPlan`: start its daemons stage by stage, wait until each
answers its health check (and each agent has registered), write cluster.json; report on them;
stop them in reverse order, leaving no process behind.

    plan_cluster(options, facts) ──> Supervisor.start() ──> cluster.json, pids.json
                                      Supervisor.watch()    (foreground: until Ctrl-C)
                                      Supervisor.stop()  /  stop_cluster(dir)  (another process)
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

import aiohttp

from pydcos.cluster import processes
from pydcos.cluster.cluster_files import (
    ClusterInfo,
    DaemonRecord,
    PidsFile,
    daemon_record,
    decode_pids,
    encode_json,
    render_cluster_info,
    tail_lines,
)
from pydcos.cluster.errors import AddressInUse, ClusterRunning, DaemonFailed, NoCluster
from pydcos.cluster.plan import ClusterPlan, DaemonSpec
from pydcos.cluster.probes import agent_id, is_healthy, new_session
from pydcos.core.log import get_logger
from pydcos.core.waiting import WaitTimeout, wait_until

log = get_logger(__name__)

DEFAULT_START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
_POLL_INTERVAL_S = 0.05
_WATCH_INTERVAL_S = 0.5

ExitCallback = Callable[[DaemonRecord, int, str], None]


class Supervisor:
    """Runs one plan's daemons. Owns pids.json (rewritten as each daemon starts) and cluster.json
    (written once all are up); `stop()` removes both. Holds the directory's lock while it lives,
    so that two `up`s on one directory never race."""

    def __init__(
        self,
        plan: ClusterPlan,
        *,
        detach: bool,
        start_timeout: float = DEFAULT_START_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.plan = plan
        self.detach = detach
        self.start_timeout = start_timeout
        self._env = processes.daemon_env(str(plan.dir), os.environ if env is None else env)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._records: list[DaemonRecord] = []
        self._lock: IO[str] | None = None

    @property
    def records(self) -> Sequence[DaemonRecord]:
        return tuple(self._records)

    async def start(self) -> ClusterInfo:
        """Start everything; on any failure (or cancellation) stop what was started, then raise."""
        self._take_lock()
        try:
            _refuse_if_running(self.plan.dir)
            _refuse_if_addresses_taken(self.plan.daemons)
        except BaseException:
            self._release_lock()
            raise
        try:
            info = await self._start_stages()
        except BaseException:
            self.stop()
            raise
        if self.detach:
            self._release_lock()  # a detached cluster lives on without its supervisor
        return info

    async def _start_stages(self) -> ClusterInfo:
        deadline = time.monotonic() + self.start_timeout
        async with new_session() as http:
            for stage in self.plan.stages():
                for spec in stage:
                    self._spawn(spec)
                await self._wait_for(stage, partial(_health_answer, http), "healthy", deadline)
            agents = self.plan.of_kind("agent")
            ids = await self._wait_for(agents, lambda s: agent_id(http, s.url), "registered", deadline)
        info = render_cluster_info(self.plan, ids)
        _write_atomically(self.plan.cluster_json, encode_json(info))
        log.event("cluster_started", dir=self.plan.dir, daemons=len(self._records))
        return info

    async def watch(self, on_exit: ExitCallback) -> None:
        """Until cancelled: report each daemon that exits, once, with its exit code and log tail."""
        reported: set[str] = set()
        while True:
            for record in self._records:
                code = self._procs[record.key].poll()
                if code is not None and record.key not in reported:
                    reported.add(record.key)
                    on_exit(record, code, _log_tail(record.log_file))
            await asyncio.sleep(_WATCH_INTERVAL_S)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every daemon this supervisor started, later stages first; remove the cluster's files."""
        stop_daemons(self._records, self.plan.dir, timeout=timeout)
        for proc in self._procs.values():
            proc.poll()  # reap, so no zombie outlives the supervisor's bookkeeping
        for path in (self.plan.cluster_json, self.plan.pids_json):
            path.unlink(missing_ok=True)
        self._records.clear()
        self._release_lock()

    def _spawn(self, spec: DaemonSpec) -> None:
        proc = processes.spawn(spec, env=self._env, die_with_parent=not self.detach)
        self._procs[spec.key] = proc
        # The child stays in /proc (if only as a zombie) until we reap it, so this cannot miss.
        ticks = processes.start_ticks_of(proc.pid)
        self._records.append(daemon_record(spec, pid=proc.pid, start_ticks=ticks))
        self._write_pids()
        log.event("daemon_started", daemon=spec.key, pid=proc.pid)

    async def _wait_for(
        self,
        specs: Sequence[DaemonSpec],
        probe: Callable[[DaemonSpec], Awaitable[str]],
        what: str,
        deadline: float,
    ) -> dict[str, str]:
        """Probe each daemon until it answers non-empty; fail on the first that exits, or at the deadline."""
        answers: dict[str, str] = {}

        async def all_answered() -> bool:
            pending = [s for s in specs if s.key not in answers]
            for spec in pending:
                code = self._procs[spec.key].poll()
                if code is not None:
                    raise DaemonFailed(
                        spec.key,
                        f"exited with code {code} before it was {what}",
                        log_file=str(spec.log_file),
                        log_tail=_log_tail(str(spec.log_file)),
                    )
            results = await asyncio.gather(*(probe(s) for s in pending))
            answers.update((s.key, r) for s, r in zip(pending, results, strict=True) if r)
            return len(answers) == len(specs)

        try:
            condition: Callable[[], bool | Awaitable[bool]] = all_answered
            await wait_until(
                condition,
                timeout=max(0.0, deadline - time.monotonic()),
                interval=_POLL_INTERVAL_S,
                what=f"daemons to be {what}",
            )
        except WaitTimeout:
            late = next(s for s in specs if s.key not in answers)
            raise DaemonFailed(
                late.key,
                f"was not {what} within {self.start_timeout:g}s ({late.health_url})",
                log_file=str(late.log_file),
                log_tail=_log_tail(str(late.log_file)),
            ) from None
        return answers

    def _write_pids(self) -> None:
        pids = PidsFile(
            supervisor_pid=os.getpid(),
            supervisor_start_ticks=processes.start_ticks_of(os.getpid()),
            detached=self.detach,
            daemons=list(self._records),
        )
        _write_atomically(self.plan.pids_json, encode_json(pids))

    def _take_lock(self) -> None:
        self.plan.dir.mkdir(parents=True, exist_ok=True)
        lock = (self.plan.dir / "up.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ClusterRunning(
                f"another `pydcos cluster up` is running in {self.plan.dir}; "
                f"see `pydcos cluster status --dir {self.plan.dir}`"
            ) from None
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


# --- from any process: status and down ------------------------------------------------------


@dataclass(frozen=True)
class DaemonStatus:
    key: str
    pid: int
    url: str
    running: bool
    healthy: bool


def read_pids(cluster_dir: Path) -> PidsFile | None:
    try:
        return decode_pids((cluster_dir / "pids.json").read_bytes())
    except FileNotFoundError:
        return None


async def cluster_status(cluster_dir: Path) -> list[DaemonStatus]:
    pids = read_pids(cluster_dir)
    if pids is None:
        raise NoCluster(f"no cluster recorded in {cluster_dir} (no pids.json)")
    async with new_session() as http:
        healthy = await asyncio.gather(*(is_healthy(http, r.health_url) for r in pids.daemons))
    return [
        DaemonStatus(
            key=r.key,
            pid=r.pid,
            url=r.url,
            running=processes.is_ours(r.pid, r.start_ticks),
            healthy=h,
        )
        for r, h in zip(pids.daemons, healthy, strict=True)
    ]


def stop_cluster(cluster_dir: Path, *, timeout: float = STOP_TIMEOUT_S) -> list[str]:
    """Stop the cluster recorded in `cluster_dir`, from any process. Idempotent. Returns what it
    stopped, as NODE/DAEMON keys (plus "supervisor" for a foreground `up`)."""
    stopped: list[str] = []
    pids = read_pids(cluster_dir)
    if pids is not None:
        stopped = [r.key for r in pids.daemons if processes.is_ours(r.pid, r.start_ticks)]
        sup = pids.supervisor_pid
        if sup != os.getpid() and processes.is_ours(sup, pids.supervisor_start_ticks):
            # A foreground `up` stops its daemons in order when told to: give it the time for
            # every stage, then stop whatever it left.
            stages = len({r.stage for r in pids.daemons})
            processes.terminate([sup], timeout=timeout * (stages + 1))
            stopped.append("supervisor")
        stop_daemons(pids.daemons, cluster_dir, timeout=timeout)
    else:
        stop_daemons([], cluster_dir, timeout=timeout)
    for name in ("pids.json", "cluster.json"):
        (cluster_dir / name).unlink(missing_ok=True)
    return stopped


def stop_daemons(records: Sequence[DaemonRecord], cluster_dir: Path, *, timeout: float) -> None:
    """SIGTERM our daemons, later stages first (agents before masters), SIGKILL what outlives
    `timeout`; then the same for anything they left behind (tasks, helpers)."""
    for stage in sorted({r.stage for r in records}, reverse=True):
        ours = [r.pid for r in records if r.stage == stage and processes.is_ours(r.pid, r.start_ticks)]
        killed = processes.terminate(ours, timeout=timeout)
        if killed:
            log.warning("daemons_killed", pids=",".join(map(str, killed)))
    leftovers = processes.left_behind(str(cluster_dir), sessions=[r.pid for r in records])
    if leftovers:
        log.event("stopping_leftovers", pids=",".join(map(str, leftovers)))
        processes.terminate(leftovers, timeout=timeout)


def _refuse_if_running(cluster_dir: Path) -> None:
    pids = read_pids(cluster_dir)
    if pids is None:
        return
    live = [r.key for r in pids.daemons if processes.is_ours(r.pid, r.start_ticks)]
    if live or processes.is_ours(pids.supervisor_pid, pids.supervisor_start_ticks):
        raise ClusterRunning(
            f"a cluster is already running in {cluster_dir} ({', '.join(live) or 'starting'}); "
            f"stop it first with `pydcos cluster down --dir {cluster_dir}`"
        )
    # A stale record of a cluster that is gone (the machine rebooted, or it was killed).
    (cluster_dir / "pids.json").unlink(missing_ok=True)


def _refuse_if_addresses_taken(daemons: Sequence[DaemonSpec]) -> None:
    taken = [f"{d.ip}:{d.port} ({d.key})" for d in daemons if processes.address_in_use(d.ip, d.port)]
    if taken:
        raise AddressInUse(
            "already in use: " + ", ".join(taken) + ". Is another cluster running on these addresses? "
            "Stop it, or choose another block with --net."
        )


async def _health_answer(http: aiohttp.ClientSession, spec: DaemonSpec) -> str:
    return "ok" if await is_healthy(http, spec.health_url) else ""


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _log_tail(log_file: str, lines: int = 40) -> str:
    try:
        return tail_lines(Path(log_file).read_text(errors="replace"), lines)
    except FileNotFoundError:
        return ""


def install_stop_signals(task: asyncio.Task[object]) -> None:
    """SIGINT, SIGTERM and SIGHUP cancel `task` (whose cleanup stops the cluster)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, task.cancel)
