"""The agent daemon: wires the master link, the containerizer, the status update manager, the
bookkeeping and the HTTP API together. The only place here that owns sockets and tasks.

    master --RunTasks/KillTask(s)/Acks--> MasterLink --> Agent.on_message
        RunTask  -> task_launch (pure) -> [Fetcher] -> Containerizer.launch -> TASK_RUNNING
        exit     -> task_status (pure) -> TASK_FINISHED/FAILED/KILLED
        RunTask with an executor -> ExecutorRunner (+ executor_core, pure) -> executor process
        executor -> POST /api/v1/executor -> ExecutorRunner -> statuses, messages to the master
        statuses -> AgentState (pure) + StatusUpdateManager (pure) -> Forward -> one frame per turn
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from pydcos.core.clock import Clock, SystemClock
from pydcos.core.ids import new_uuid, status_uuid
from pydcos.core.log import get_logger
from pydcos.mesos import internal
from pydcos.mesos.agent import status_updates as su
from pydcos.mesos.agent.cgroups import CgroupIsolator
from pydcos.mesos.agent.checkpoint import ContainerRecord, encode_ack, encode_update
from pydcos.mesos.agent.checkpoint_store import CheckpointStore, Write, write_batch
from pydcos.mesos.agent.config import (
    MESOS_VERSION,
    AgentConfig,
    agent_resources,
    attributes_json,
    detect_resources,
    flags_json,
    parse_attributes,
)
from pydcos.mesos.agent.containerizer import Containerizer, agent_user
from pydcos.mesos.agent.errors import IsolationError, LaunchFailed
from pydcos.mesos.agent.executor_api import ExecutorEndpoint
from pydcos.mesos.agent.fetcher import Fetcher
from pydcos.mesos.agent.files import FileRoots
from pydcos.mesos.agent.http_api import make_app
from pydcos.mesos.agent.master_link import MasterLink
from pydcos.mesos.agent.recovery import recover
from pydcos.mesos.agent.state import AgentState
from pydcos.mesos.agent.state_json import AgentIdentity, metrics_json, state_json
from pydcos.mesos.agent.task_launch import sandboxes_root
from pydcos.mesos.agent.tasks import TaskRunner
from pydcos.mesos.resources import Resources
from pydcos.mesos.v1.messages import AgentInfo, Id, TaskStatus

log = get_logger("pydcos.agent")

# A burst of status updates is split into frames of at most this many updates, so one frame
# stays well under the WebSocket message limits of the master.
MAX_UPDATES_PER_FRAME = 1000
# Threads writing one round of checkpoint lines at once (open, append, close per log, off the
# event loop). A pool of their own, so removals of finished runs never hold them up.
SYNC_THREADS = 4


class Agent:
    """One agent. `start()` binds HTTP and starts the master link; `close()` kills the tasks
    (there is no recovery of running tasks across restarts yet) and stops everything."""

    def __init__(self, config: AgentConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        if config.resources is not None and {"cpus", "mem", "disk", "ports"} <= _names(config.resources):
            detected = Resources()
        else:
            detected = detect_resources(config.work_dir)
        self.total = agent_resources(config.resources, detected)
        self.attributes = parse_attributes(config.attributes)
        self.state = AgentState(
            max_completed_frameworks=config.max_completed_frameworks,
            max_completed_executors_per_framework=config.max_completed_executors_per_framework,
            max_completed_tasks_per_executor=config.max_completed_tasks_per_executor,
        )
        self.updates = su.StatusUpdateManager(
            clock=self.clock,
            first_retry_s=config.status_update_retry_s,
            max_retry_s=config.status_update_retry_max_s,
        )
        self.link = MasterLink(config, self)
        self.master_id: str | None = None
        self.registered = asyncio.Event()
        self.start_time = self.clock.wall()
        self.counters: dict[str, float] = {
            "agent/unhandled_errors_total": 0.0,
            "slave/valid_status_updates": 0.0,
            "slave/status_update_retries": 0.0,
            "slave/invalid_framework_messages": 0.0,
        }
        self._agent_id: str | None = None
        self._recorded_id: str | None = None  # the agent id in the checkpoint's slaves/latest
        self._port = config.port
        self._closed = False
        self._runner: web.AppRunner | None = None
        self._tasks: TaskRunner | None = None
        self._outgoing: list[internal.StatusUpdate] = []
        self._flush_scheduled = False
        self._retry_wake = asyncio.Event()
        self._retry_task: asyncio.Task[None] | None = None
        self._roots = FileRoots.make(sandboxes_root(config.work_dir))
        self.isolator: CgroupIsolator | None = None
        self.isolation = "none"
        self.checkpoints = CheckpointStore(config.work_dir) if config.checkpoint else None
        self._unsynced: list[Write] = []
        self._writes_in_flight = 0  # handed to the sync thread, not yet on disk
        self._syncer: asyncio.Task[None] | None = None  # writes checkpoint lines, then sends updates
        self._sync_pool = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="agent-checkpoint-sync")
        # Off the updates' path, in order: container records to rewrite, finished runs to remove.
        self._chores: list[Write | tuple[tuple[str, str], ContainerRecord]] = []
        self._chore_worker: asyncio.Task[None] | None = None
        self._records_pending = 0  # records handed to `rewrite_record`, not yet written
        self._syncs: set[asyncio.Task[None]] = set()

    # --- public surface -----------------------------------------------------------------

    @property
    def agent_id(self) -> str | None:
        return self._agent_id

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.config.ip}:{self._port}"

    @property
    def tasks(self) -> TaskRunner:
        assert self._tasks is not None, "start() first"
        return self._tasks

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.isolator = self._isolation()
        os.makedirs(sandboxes_root(self.config.work_dir), exist_ok=True)
        # Resolved once the directory exists, so a symlinked work dir is checked by its real path.
        log_file = self.config.log_file
        self._roots = FileRoots.make(
            sandboxes_root(self.config.work_dir), {"/slave/log": log_file} if log_file else {}
        )
        sock = _bind(self.config.ip, self.config.port)
        self._port = sock.getsockname()[1]
        self._tasks = TaskRunner(
            config=self.config,
            clock=self.clock,
            agent=self,
            containerizer_factory=lambda on_exit: Containerizer(
                loop, on_exit, reap_orphans=self.config.reap_orphans, isolator=self.isolator
            ),
            fetcher=Fetcher(timeout_s=self.config.fetch_timeout_s, cache_dir=self.config.cache_dir),
            checkpoints=self.checkpoints,
        )
        if self.checkpoints is not None:
            try:  # checkpointed tasks are started by the task launcher (launcher.py), recovery asks it
                self._tasks.containers.use_launcher(self.config.work_dir)
            except LaunchFailed as exc:
                log.warning("launcher_unavailable", reason=exc.message,
                            consequence="checkpointed tasks are started by the agent itself")
        # Before the HTTP API answers: a re-attached executor's SUBSCRIBE must find its record.
        await recover(self)
        self._runner = web.AppRunner(make_app(self), access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self._retry_task = asyncio.create_task(self._retry_loop(), name="agent-update-retries")
        await self.link.start()
        log.event("agent_started", url=self.url, master=self.config.master, work_dir=self.config.work_dir,
                  resources=self.total.render(), role=self.config.role, isolation=self.isolation)

    def _isolation(self) -> CgroupIsolator | None:
        """The cgroups isolator, or None (process groups only), said once at start."""
        mode = self.config.isolation
        if mode == "none":
            return None
        found = CgroupIsolator.detect(root_name=self.config.cgroups_root, cpu_quota=self.config.cgroups_cpu_quota)
        if isinstance(found, str):
            if mode == "cgroups":
                raise IsolationError(f"--isolation cgroups: {found}")
            log.warning("cgroups_unavailable", reason=found, isolation="process groups only")
            return None
        self.isolation = f"cgroups_v{found.layout.version}"
        log.event("cgroups_isolation", version=found.layout.version,
                  parent=found.layout.base(found.layout.controllers()[-1], found.root_name),
                  spawn_inside=found.spawn_inside, stale_cgroups_removed=found.collect_garbage())
        return found

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._tasks is not None:
            await self._tasks.shutdown(self.config.executor_shutdown_grace_s)
        if self._outgoing or self._unsynced:  # the final updates reach the checkpoint (and master)
            self._flush()
        while self._syncs:  # a sync round may hand its removals to a task of their own
            for sync in list(self._syncs):
                with contextlib.suppress(asyncio.CancelledError):
                    await sync
        self._sync_pool.shutdown(wait=False)
        await self.link.close()
        if self._retry_task is not None:
            self._retry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry_task
            self._retry_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tasks is not None:
            self._tasks.close()
            await self._tasks.fetcher.close()
        log.event("agent_stopped", agent_id=self._agent_id or "")

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- status updates -----------------------------------------------------------------

    def produce(self, framework_id: str, status: TaskStatus) -> None:
        """Record a new status of a task and queue it for the master (called by TaskRunner)."""
        self.state.update_status(framework_id, status)
        self.counters["slave/valid_status_updates"] += 1
        if self.checkpoints is not None:
            path = self.checkpoints.logs.get((framework_id, status.task_id.value))
            if path is not None:  # written down before it is sent (see _flush)
                self._unsynced.append(Write(path, encode_update(internal.StatusUpdate(framework_id, status))))
        self._apply(self.updates.handle(su.UpdateProduced(internal.StatusUpdate(framework_id, status))))

    def new_status_uuid(self) -> str:
        return status_uuid()

    def new_container_id(self) -> str:
        return new_uuid()

    def send_to_master(self, msg: internal.AgentToMaster) -> None:
        self.link.send(msg)

    def agent_info(self) -> AgentInfo:
        return AgentInfo(
            hostname=self.config.advertised_hostname,
            port=self._port,
            id=Id(self._agent_id) if self._agent_id else None,
            resources=self.total.to_v1(self.config.role),
            attributes=self.attributes,
        )

    def _apply(self, instructions: list[su.Instruction]) -> None:
        for instruction in instructions:
            if isinstance(instruction, su.Forward):
                self._outgoing.append(instruction.update)
            elif isinstance(instruction, su.StreamCompleted):
                self.state.terminal_acknowledged(instruction.framework_id, instruction.task_id)
                if self.checkpoints is not None:
                    run_dir = self.checkpoints.task_done((instruction.framework_id, instruction.task_id))
                    if run_dir is not None:
                        self._unsynced.append(Write(run_dir, None))
            else:
                log.debug("status_update_event_ignored", reason=instruction.reason,
                          framework_id=instruction.framework_id, task_id=instruction.task_id)
        self._schedule_flush()
        self._retry_wake.set()

    def rewrite_record(self, key: tuple[str, str], record: ContainerRecord) -> None:
        """A checkpointed container's record changed (a kill was requested). Written in a thread,
        ahead of the removal of its run directory (which can only come later: after its terminal
        update), not by the event loop on the spot: a file created and one deleted per kill."""
        self._records_pending += 1
        self._add_chores([(key, record)])

    def _schedule_flush(self) -> None:
        if (self._outgoing or self._unsynced) and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Everything forwarded during one loop turn goes out together."""
        self._flush_scheduled = False
        if not self._unsynced and self._syncer is None:
            outgoing, self._outgoing = self._outgoing, []
            self._send_updates(outgoing)
            if self._tasks is not None:
                self._tasks.containers.release(self._tasks.containers.take_releasable())
            return
        # Checkpointed updates are written (in a thread) before the master sees them: a crash of
        # the agent never loses an update it sent (see write_batch on why not fsynced). One
        # writer: what arrives while it writes goes out in its next round.
        if self._syncer is None:
            self._syncer = asyncio.create_task(self._sync_rounds(), name="agent-checkpoint-sync")
            self._syncs.add(self._syncer)
            self._syncer.add_done_callback(self._syncs.discard)

    async def _sync_rounds(self) -> None:
        try:
            while self._outgoing or self._unsynced:
                # The task launcher keeps the exits handled so far until this round is on disk
                # (their updates are in it, or in an earlier one).
                exits = self._tasks.containers.take_releasable() if self._tasks is not None else []
                outgoing, self._outgoing = self._outgoing, []
                writes, self._unsynced = self._unsynced, []
                appends = [w for w in writes if w.data is not None]
                self._writes_in_flight += len(appends)
                try:
                    if appends:
                        loop = asyncio.get_running_loop()
                        await asyncio.gather(*(loop.run_in_executor(self._sync_pool, write_batch, part)
                                               for part in split_by_path(appends)))
                finally:
                    self._writes_in_flight -= len(appends)
                self._send_updates(outgoing)
                if exits and self._tasks is not None:
                    self._tasks.containers.release(exits)
                # Removing finished runs' directories is housekeeping: no later round waits for it
                # (nothing is written to a run once its last task's terminal update is acknowledged).
                self._add_chores([w for w in writes if w.data is None])
        finally:
            self._syncer = None

    def _add_chores(self, chores: list[Write | tuple[tuple[str, str], ContainerRecord]]) -> None:
        if not chores:
            return
        self._chores.extend(chores)
        if self._chore_worker is None:
            self._chore_worker = asyncio.create_task(self._chore_rounds(), name="agent-checkpoint-chores")
            self._syncs.add(self._chore_worker)
            self._chore_worker.add_done_callback(self._syncs.discard)

    async def _chore_rounds(self) -> None:
        try:
            while self._chores:
                chores, self._chores = self._chores, []
                records = sum(isinstance(c, tuple) for c in chores)
                try:
                    await asyncio.to_thread(self._do_chores, chores)
                finally:
                    self._records_pending -= records
        finally:
            self._chore_worker = None

    def _do_chores(self, chores: list[Write | tuple[tuple[str, str], ContainerRecord]]) -> None:
        """In a thread, in order: rewrite records (of runs still tracked), remove run directories."""
        for chore in chores:
            if isinstance(chore, Write):
                write_batch([chore])
            elif self.checkpoints is not None:
                key, record = chore
                try:
                    self.checkpoints.rewrite(key, record)
                except OSError as exc:  # the record keeps its older content: a restart sees no kill requested
                    log.warning("checkpoint_write_failed", task_id=key[1], error=exc.strerror or str(exc))

    def _send_updates(self, outgoing: list[internal.StatusUpdate]) -> None:
        for i in range(0, len(outgoing), MAX_UPDATES_PER_FRAME):
            self.link.send(internal.StatusUpdates(outgoing[i : i + MAX_UPDATES_PER_FRAME]))

    async def _retry_loop(self) -> None:
        while True:
            deadline = self.updates.next_deadline()
            self._retry_wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - self.clock.monotonic())
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # arrives as the event is set, and close() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._retry_wake.wait()
            try:
                instructions = self.updates.handle(su.Tick())
            except Exception:  # a bug here must not stop all future retries
                log.exception("status_update_tick_failed")
                continue
            self.counters["slave/status_update_retries"] += sum(isinstance(i, su.Forward) for i in instructions)
            self._apply(instructions)

    # --- master link handler ------------------------------------------------------------

    def registration(self) -> internal.RegisterAgent:
        return internal.RegisterAgent(
            info=self.agent_info(),
            ip=self.config.ip,
            port=self._port,
            zone=self.config.zone,
            version=MESOS_VERSION,
            agent_id=self._agent_id,
            frameworks=[fw.info for fw in self.state.frameworks.values()],
            executors=[
                internal.ExecutorRecord(framework_id=fw.id, executor=e.info)
                for fw in self.state.frameworks.values()
                for e in fw.executors.values()
                if e.info is not None and not e.terminated
            ],
            tasks=[
                internal.TaskRecord(
                    framework_id=t.framework_id,
                    executor_id=t.executor_id,
                    task=t.info,
                    state=t.state,
                    status=t.statuses[-1] if t.statuses else None,
                )
                for t in self.state.live_tasks()
            ],
        )

    def on_registered(self, msg: internal.AgentRegistered) -> None:
        if self._agent_id is not None and msg.agent_id != self._agent_id:
            log.warning("agent_id_changed", old=self._agent_id, new=msg.agent_id)
        reregistered = self._agent_id is not None
        self._agent_id = msg.agent_id
        self.master_id = msg.master_id
        if self.checkpoints is not None and msg.agent_id != self._recorded_id:
            self._record_agent_id(msg.agent_id)
        if self.isolator is not None:
            self.isolator.agent_key = msg.agent_id
        self.registered.set()
        log.event("agent_registered", agent_id=msg.agent_id, master_id=msg.master_id,
                  master=self.link.master or "", reregistered=reregistered)
        self._apply(self.updates.handle(su.Connected()))

    def set_recovered_agent_id(self, agent_id: str) -> None:
        """Recovery found this agent's id: it re-registers with it (and its cgroups live there)."""
        self._agent_id = self._recorded_id = agent_id
        if self.isolator is not None:
            self.isolator.agent_key = agent_id

    def _record_agent_id(self, agent_id: str) -> None:
        if self.checkpoints is None:
            return
        try:
            self.checkpoints.set_latest_agent_id(agent_id)
            self._recorded_id = agent_id
        except OSError as exc:
            log.warning("checkpoint_write_failed", path=self.checkpoints.latest_path(), error=exc.strerror or str(exc))

    def on_disconnected(self) -> None:
        self.registered.clear()
        log.event("agent_disconnected", agent_id=self._agent_id or "")
        self._apply(self.updates.handle(su.Disconnected()))

    async def on_message(self, msg: internal.MasterToAgent) -> None:
        tasks = self.tasks
        if isinstance(msg, internal.RunTasks):
            await tasks.run_tasks(msg.launches)
        elif isinstance(msg, (internal.KillTask, internal.KillTasks)):
            for kill in msg.kills if isinstance(msg, internal.KillTasks) else [msg]:
                tasks.kill_task(kill.framework_id, kill.task_id, kill.kill_policy)
            # The link reads buffered messages without yielding: without this a burst of kills
            # would hold back the exits it causes and the TASK_KILLED updates they produce.
            await asyncio.sleep(0)
        elif isinstance(msg, internal.AcknowledgeUpdates):
            if self.checkpoints is not None and self.checkpoints.logs:
                self._log_acks(msg.acks)
            if len(tasks.executors):  # tell executors about acks of their own updates (the heads)
                for a in msg.acks:
                    head = self.updates.head(a.framework_id, a.task_id)
                    if head is not None and head.status.uuid == a.uuid:
                        tasks.acknowledged(a.framework_id, a.task_id, a.uuid)
            self._apply(self.updates.handle(*(su.AckReceived(a.framework_id, a.task_id, a.uuid) for a in msg.acks)))
        elif isinstance(msg, internal.ShutdownFramework):
            tasks.shutdown_framework(msg.framework_id)
        elif isinstance(msg, internal.ShutdownExecutor):
            tasks.shutdown_executor(msg.framework_id, msg.executor_id)
        elif isinstance(msg, internal.FrameworkToExecutor):
            if tasks.framework_message(msg.framework_id, msg.executor_id, msg.data):
                self.counters["slave/valid_framework_messages"] = self.counters.get("slave/valid_framework_messages", 0) + 1
            else:
                self.counters["slave/invalid_framework_messages"] += 1
                log.event("framework_message_dropped", framework_id=msg.framework_id,
                          executor_id=msg.executor_id, reason="no running custom executor with that id")
        elif isinstance(msg, internal.Refused):
            log.warning("agent_refused_while_registered", message=msg.message)
        else:
            log.event("master_message_ignored", type=type(msg).__name__)

    def _log_acks(self, acks: list[internal.Ack]) -> None:
        assert self.checkpoints is not None
        for a in acks:
            path = self.checkpoints.logs.get((a.framework_id, a.task_id))
            head = self.updates.head(a.framework_id, a.task_id) if path is not None else None
            if path is not None and head is not None and head.status.uuid == a.uuid:
                self._unsynced.append(Write(path, encode_ack(a.uuid)))

    # --- HTTP view ----------------------------------------------------------------------

    def identity(self) -> AgentIdentity:
        master = self.link.master or (self.config.masters[0] if self.config.masters else "")
        return AgentIdentity(
            agent_id=self._agent_id or "",
            ip=self.config.ip,
            port=self._port,
            hostname=self.config.advertised_hostname,
            role=self.config.role,
            total=self.total,
            attributes=attributes_json(self.attributes),
            flags=flags_json(self.config, self.total, self._port),
            master_hostname=master.rsplit(":", 1)[0],
            start_time=self.start_time,
            log_file=self.config.log_file,
        )

    def state_document(self) -> dict[str, Any]:
        return state_json(self.identity(), self.state)

    def metrics_snapshot(self) -> dict[str, float]:
        counters = dict(self.counters)
        counters["agent/status_updates_pending"] = float(self.updates.pending_count())
        # Checkpoint lines (updates, acks) accepted but not yet written: 0 means a SIGKILL now loses none.
        counters["agent/checkpoint_writes_pending"] = float(
            len(self._unsynced) + self._writes_in_flight + self._records_pending)
        counters["agent/master_connections"] = float(self.link.connections)
        counters["agent/bad_master_frames"] = float(self.link.bad_frames)
        if self._tasks is not None:
            phases = [r.phase for r in self._tasks.executors.core.records.values()]
            counters["slave/executors_registering"] = float(sum(p in ("launching", "registering") for p in phases))
            counters["slave/executors_terminating"] = float(phases.count("terminating"))
            counters["agent/uris_fetched"] = float(self._tasks.fetcher.fetched)
            counters["agent/fetcher_cache_hits"] = float(self._tasks.fetcher.cache_hits)
        return metrics_json(self.identity(), self.state, registered=self.registered.is_set(),
                            now=self.clock.wall(), counters=counters)

    def executor_endpoint(self) -> ExecutorEndpoint:
        return self.tasks.executors

    def file_roots(self) -> FileRoots:
        return self._roots

    def executor_directories(self) -> list[str]:
        return [e.directory for fw in self.state.frameworks.values() for e in fw.executors.values()]

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0.0) + 1

    @property
    def agent_user(self) -> str:
        return agent_user()


def split_by_path(writes: list[Write], parts: int = SYNC_THREADS, min_paths: int = 8) -> list[list[Write]]:
    """Up to `parts` lists to write at once, each file's lines in one of them and in order.

    >>> [[w.path for w in part] for part in split_by_path([Write("a", b""), Write("b", b""), Write("a", b"")], 2, 1)]
    [['a', 'a'], ['b']]
    """
    by_path: dict[str, list[Write]] = {}
    for w in writes:
        by_path.setdefault(w.path, []).append(w)
    count = min(parts, max(1, len(by_path) // min_paths))
    if count <= 1:
        return [writes]
    out: list[list[Write]] = [[] for _ in range(count)]
    for i, lines in enumerate(by_path.values()):
        out[i % count].extend(lines)
    return out


def _names(resources: str) -> set[str]:
    parsed = Resources.parse(resources)
    return set(parsed.scalars) | set(parsed.ranges) | set(parsed.sets)


def _bind(ip: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
