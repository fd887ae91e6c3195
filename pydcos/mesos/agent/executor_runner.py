"""The shell around the custom executors' core: processes, streams, timers, the master.

    RunTask with `executor` --TaskArrived--> ExecutorCore (pure) --Spawn--> fetch + start process
    POST /api/v1/executor  --SubscribeReceived/UpdateReceived/...--> core --Send/Forward/...--> here
    master: kill, shutdown, framework message, acks --> core --> events on the executor's stream

Every instruction of the core is carried out in `_apply`, the only place here with side effects.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable
from typing import Protocol

import msgspec

from pydcos.core.clock import Clock
from pydcos.core.log import get_logger
from pydcos.mesos import internal
from pydcos.mesos.agent import checkpoint as ck
from pydcos.mesos.agent import executor_messages as em
from pydcos.mesos.agent.checkpoint_store import CheckpointStore, read_start_time
from pydcos.mesos.agent.config import AgentConfig
from pydcos.mesos.agent.containerizer import Containerizer, lookup_user
from pydcos.mesos.agent.environment import ExecutorContext, executor_environment
from pydcos.mesos.agent.errors import FetchFailed, LaunchFailed
from pydcos.mesos.agent.executor_api import ExecutorStream
from pydcos.mesos.agent.executor_core import ExecutorCore, ExecutorRecord
from pydcos.mesos.agent.executor_events import (
    CallRefused,
    CloseStream,
    Event,
    Exited,
    Forward,
    FrameworkMessage,
    Ignored,
    Instruction,
    Key,
    KillContainer,
    KillRequested,
    MessageReceived,
    RegistrationTimedOut,
    Send,
    SendSubscribed,
    ShutdownRequested,
    Spawn,
    Started,
    StartFailed,
    StartRegistrationTimer,
    Status,
    StreamClosed,
    SubscribeReceived,
    TaskArrived,
    Terminated,
    ToFramework,
    UpdateAcknowledged,
    UpdateLimits,
    UpdateReceived,
)
from pydcos.mesos.agent.fetcher import Fetcher
from pydcos.mesos.agent.isolation import limits_for
from pydcos.mesos.agent.state import AgentState
from pydcos.mesos.agent.task_launch import LaunchSpec, command_argv, effective_user, sandbox_path
from pydcos.mesos.agent.task_status import container_status, make_status
from pydcos.mesos.v1.messages import AgentInfo, Id, KillPolicy, TaskStatus

log = get_logger("pydcos.agent.executors")


class ExecutorHost(Protocol):
    """What the executor runner needs from the agent."""

    @property
    def agent_id(self) -> str | None: ...

    @property
    def port(self) -> int: ...

    @property
    def state(self) -> AgentState: ...

    @property
    def agent_user(self) -> str: ...

    def produce(self, framework_id: str, status: TaskStatus) -> None: ...

    def new_status_uuid(self) -> str: ...

    def new_container_id(self) -> str: ...

    def send_to_master(self, msg: internal.AgentToMaster) -> None: ...

    def agent_info(self) -> AgentInfo: ...


class ExecutorRunner:
    """Owns the executors' processes (through the shared Containerizer), their streams and timers."""

    def __init__(self, *, config: AgentConfig, clock: Clock, agent: ExecutorHost, containers: Containerizer,
                 fetcher: Fetcher, note_in_stderr: Callable[[str, str], None],
                 checkpoints: CheckpointStore | None = None) -> None:
        self._config = config
        self._clock = clock
        self._agent = agent
        self._containers = containers
        self._fetcher = fetcher
        self._note = note_in_stderr
        self.core = ExecutorCore(agent.state, shutdown_grace_s=config.executor_shutdown_grace_s)
        self.heartbeat_s = config.executor_heartbeat_s
        self._stream_ids = itertools.count(1)
        self._streams: dict[int, ExecutorStream] = {}
        self._starting: dict[Key, asyncio.Task[None]] = {}
        self._container_of: dict[Key, str] = {}
        self._by_container: dict[str, Key] = {}
        self._timers: dict[Key, list[asyncio.TimerHandle]] = {}
        self._is_root = os.geteuid() == 0
        self._checkpoints = checkpoints
        self._records: dict[Key, ck.ContainerRecord] = {}  # checkpointed executors

    def __len__(self) -> int:
        return len(self.core.records)

    def pid(self, framework_id: str, executor_id: str) -> int | None:
        cid = self._container_of.get((framework_id, executor_id))
        return self._containers.pid(cid) if cid else None

    # --- from the task runner (the master's messages) ------------------------------------

    def run_task(self, run: internal.RunTask) -> None:
        framework, task = run.framework, run.task
        assert task.executor is not None
        fw_id = framework.id.value if framework.id else ""
        container_id = self._agent.new_container_id()
        directory = sandbox_path(self._config.work_dir, self._agent.agent_id or "", fw_id,
                                 task.executor.executor_id.value, container_id)
        self._apply(TaskArrived(framework, task, container_id, directory))
        key = (fw_id, task.executor.executor_id.value)
        record = self._records.get(key)
        entry = self._agent.state.find_task(fw_id, task.task_id.value) if record is not None else None
        if record is not None and entry is not None and entry.executor_id == key[1]:
            self._checkpoint(key, msgspec.structs.replace(record, tasks=[*record.tasks, task]))

    def _checkpoint(self, key: Key, record: ck.ContainerRecord) -> None:
        assert self._checkpoints is not None
        self._records[key] = record
        try:
            self._checkpoints.container_started(self._agent.agent_id or "", record)
        except OSError as exc:
            log.warning("checkpoint_write_failed", executor_id=key[1], error=exc.strerror or str(exc))

    def recovered_failure(self, framework_id: str, executor_id: str, task_id: str) -> None:
        """A task of a checkpointed executor that died while the agent was down."""
        self._status(Status(framework_id, task_id, executor_id, "TASK_FAILED",
                            "Executor terminated while the agent was down", "REASON_EXECUTOR_TERMINATED"))

    def adopt(self, record: ck.ContainerRecord, pid: int, uuids: dict[str, tuple[str, bool]]) -> bool:
        """Watch a checkpointing framework's executor left running by the previous run of the
        agent; it has `executor_reregistration_timeout_s` to subscribe again. False when gone."""
        assert record.executor is not None
        key = (record.framework_id, record.executor_id)
        executor = self._agent.state.executor(*key)
        limits = None
        if self._containers.isolator is not None and executor is not None:
            limits = limits_for(executor.resources(), cpu_quota=self._config.cgroups_cpu_quota)
        if not self._containers.adopt(record.container_id, pid, exit_file=None, limits=limits):
            return False
        info = record.executor
        if info.framework_id is None:
            info = msgspec.structs.replace(info, framework_id=Id(key[0]))
        rec = ExecutorRecord(record.framework, info, record.container_id, record.sandbox, phase="registering")
        rec.uuids.update(uuids)
        self.core.records[key] = rec
        self._container_of[key] = record.container_id
        self._by_container[record.container_id] = key
        self._records[key] = record
        timeout = self._config.executor_reregistration_timeout_s
        self._timer(key, timeout, RegistrationTimedOut(key, timeout))
        log.event("executor_reattached", framework_id=key[0], executor_id=key[1], pid=pid,
                  container_id=record.container_id)
        return True

    def kill_task(self, framework_id: str, task_id: str, policy: KillPolicy | None) -> bool:
        """Route a kill to the task's executor; False when no custom executor has the task."""
        if self.core.executor_of_task(framework_id, task_id) is None:
            return False
        self._apply(KillRequested(framework_id, task_id, policy))
        return True

    def shutdown_executor(self, framework_id: str, executor_id: str) -> bool:
        if (framework_id, executor_id) not in self.core.records:
            return False
        self._apply(ShutdownRequested((framework_id, executor_id)))
        return True

    def shutdown_framework(self, framework_id: str) -> None:
        for key in [k for k in self.core.records if k[0] == framework_id]:
            self._apply(ShutdownRequested(key))

    def framework_message(self, framework_id: str, executor_id: str, data: str) -> bool:
        if (framework_id, executor_id) not in self.core.records:
            return False
        self._apply(FrameworkMessage((framework_id, executor_id), data))
        return True

    def acknowledged(self, framework_id: str, task_id: str, uuid: str) -> None:
        if self.core.records:
            self._apply(UpdateAcknowledged(framework_id, task_id, uuid))

    def on_exit(self, container_id: str, returncode: int | None, limitation: str | None) -> bool:
        key = self._by_container.pop(container_id, None)
        if key is None:
            return False
        self._container_of.pop(key, None)
        self._records.pop(key, None)
        log.event("executor_exited", framework_id=key[0], executor_id=key[1], returncode=returncode,
                  limitation=limitation or "")
        self._apply(Exited(key, returncode, limitation))
        return True

    def shutdown_all(self) -> None:
        for key in list(self.core.records):
            self._apply(ShutdownRequested(key))

    def close(self) -> None:
        for task in self._starting.values():
            task.cancel()
        for stream in self._streams.values():
            stream.close()
        for handles in self._timers.values():
            for handle in handles:
                handle.cancel()
        self._timers.clear()

    # --- from the HTTP API ---------------------------------------------------------------

    def new_stream_id(self) -> int:
        return next(self._stream_ids)

    def subscribe_problem(self, key: Key) -> tuple[int, str] | None:
        return self.core.subscribe_problem(key)

    def call_problem(self, key: Key) -> tuple[int, str] | None:
        return self.core.call_problem(key)

    def subscribed(self, stream: ExecutorStream, subscribe: em.Subscribe) -> None:
        self._streams[stream.stream_id] = stream
        log.event("executor_subscribed", framework_id=stream.key[0], executor_id=stream.key[1],
                  stream=stream.stream_id, unacknowledged_tasks=len(subscribe.unacknowledged_tasks),
                  unacknowledged_updates=len(subscribe.unacknowledged_updates))
        self._apply(SubscribeReceived(stream.key, stream.stream_id, list(subscribe.unacknowledged_tasks),
                                      [u.status for u in subscribe.unacknowledged_updates]))
        rec = self.core.record(stream.key)
        if rec is None or rec.stream != stream.stream_id:
            stream.close()

    def stream_ended(self, stream: ExecutorStream) -> None:
        self._streams.pop(stream.stream_id, None)
        rec = self.core.record(stream.key)
        if rec is not None and rec.stream == stream.stream_id:
            log.event("executor_disconnected", framework_id=stream.key[0], executor_id=stream.key[1])
        self._apply(StreamClosed(stream.key, stream.stream_id))

    def call(self, key: Key, call: em.Call) -> None:
        if call.type == "UPDATE" and call.update is not None:
            self._apply(UpdateReceived(key, call.update.status))
        elif call.type == "MESSAGE" and call.message is not None:
            self._apply(MessageReceived(key, call.message.data))

    def refused(self, key: Key, reason: str) -> None:
        self._apply(CallRefused(key, reason))

    # --- instructions --------------------------------------------------------------------

    def _apply(self, *events: Event) -> None:
        for instruction in self.core.handle(*events):
            try:
                self._execute(instruction)
            except Exception:  # one failed instruction must not lose the others
                log.exception("executor_instruction_failed", instruction=type(instruction).__name__)

    def _execute(self, ins: Instruction) -> None:
        if isinstance(ins, Send):
            stream = self._streams.get(ins.stream)
            if stream is not None:
                stream.send(ins.event)
        elif isinstance(ins, Forward):
            self._agent.produce(ins.framework_id, self._completed(ins.framework_id, ins.executor_id, ins.status))
        elif isinstance(ins, Status):
            self._status(ins)
        elif isinstance(ins, SendSubscribed):
            self._send_subscribed(ins.key, ins.stream)
        elif isinstance(ins, ToFramework):
            self._agent.send_to_master(internal.ExecutorToFramework(ins.framework_id, ins.executor_id, ins.data))
        elif isinstance(ins, Spawn):
            self._starting[ins.key] = asyncio.create_task(self._start(ins.key), name=f"executor-start-{ins.key[1]}")
        elif isinstance(ins, CloseStream):
            stream = self._streams.get(ins.stream)
            if stream is not None:
                stream.close()
        elif isinstance(ins, KillContainer):
            self._kill(ins.key, ins.grace_s)
        elif isinstance(ins, StartRegistrationTimer):
            timeout = self._config.executor_registration_timeout_s
            self._timer(ins.key, timeout, RegistrationTimedOut(ins.key, timeout))
        elif isinstance(ins, UpdateLimits):
            self._update_limits(ins.key)
        elif isinstance(ins, Terminated):
            self._terminated(ins)
        elif isinstance(ins, Ignored):
            log.event("executor_event_ignored", framework_id=ins.key[0], executor_id=ins.key[1], reason=ins.reason)

    def _completed(self, framework_id: str, executor_id: str, status: TaskStatus) -> TaskStatus:
        """The executor's status as the agent forwards it: its uuid, message and data kept, the
        agent's and executor's ids (and the container, when missing) filled in."""
        cid = self._container_of.get((framework_id, executor_id))
        return msgspec.structs.replace(
            status,
            agent_id=Id(self._agent.agent_id or ""),
            executor_id=Id(executor_id),
            source=status.source or "SOURCE_EXECUTOR",
            timestamp=status.timestamp if status.timestamp is not None else self._clock.wall(),
            container_status=status.container_status or container_status(cid, self._config.ip),
        )

    def _status(self, ins: Status) -> None:
        log.event("executor_task_status", framework_id=ins.framework_id, executor_id=ins.executor_id,
                  task_id=ins.task_id, state=ins.state, reason=ins.reason or "")
        self._agent.produce(ins.framework_id, make_status(
            task_id=ins.task_id,
            state=ins.state,
            agent_id=self._agent.agent_id or "",
            executor_id=ins.executor_id,
            uuid=self._agent.new_status_uuid(),
            timestamp=self._clock.wall(),
            source=ins.source,
            message=ins.message,
            reason=ins.reason,
        ))

    def _send_subscribed(self, key: Key, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        rec = self.core.record(key)
        if stream is None or rec is None:
            return
        stream.send(em.ExecutorEvent(type="SUBSCRIBED", subscribed=em.Subscribed(
            executor_info=rec.info,
            framework_info=rec.framework,
            agent_info=self._agent.agent_info(),
            container_id=Id(rec.container_id),
        )))
        stream.send(em.HEARTBEAT)

    def _timer(self, key: Key, delay: float, event: Event) -> None:
        handle = asyncio.get_running_loop().call_later(delay, self._apply, event)
        self._timers.setdefault(key, []).append(handle)

    def _kill(self, key: Key, grace_s: float) -> None:
        starting = self._starting.pop(key, None)
        if starting is not None:  # still fetching: nothing runs yet
            starting.cancel()
            self._apply(Exited(key, None))
            return
        cid = self._container_of.get(key)
        if cid is None:
            return
        log.event("executor_kill", framework_id=key[0], executor_id=key[1], grace_s=grace_s)
        if grace_s <= 0:
            self._containers.kill(cid, 0.0)
        else:
            handle = asyncio.get_running_loop().call_later(grace_s, self._containers.kill, cid, 0.0)
            self._timers.setdefault(key, []).append(handle)

    def _update_limits(self, key: Key) -> None:
        cid = self._container_of.get(key)
        executor = self._agent.state.executor(*key)
        if cid is not None and executor is not None and self._containers.isolator is not None:
            self._containers.update_limits(cid, limits_for(executor.resources(), cpu_quota=self._config.cgroups_cpu_quota))

    def _terminated(self, ins: Terminated) -> None:
        key = (ins.framework_id, ins.executor_id)
        for handle in self._timers.pop(key, []):
            handle.cancel()
        log.event("executor_terminated", framework_id=key[0], executor_id=key[1], status=ins.status)
        self._agent.send_to_master(internal.ExecutorTerminated(ins.framework_id, ins.executor_id, ins.status))

    # --- starting an executor -------------------------------------------------------------

    async def _start(self, key: Key) -> None:
        try:
            outcome = await self._fetch_and_launch(key)
        except asyncio.CancelledError:
            raise
        except Exception:  # our bug: the executor's tasks must still be answered
            log.exception("executor_start_crashed", framework_id=key[0], executor_id=key[1])
            outcome = StartFailed(key, "Agent error while starting the executor", "REASON_CONTAINER_LAUNCH_FAILED")
        finally:
            self._starting.pop(key, None)
        self._apply(outcome)

    async def _fetch_and_launch(self, key: Key) -> Started | StartFailed:
        rec = self.core.record(key)
        executor = self._agent.state.executor(*key)
        assert rec is not None and executor is not None and rec.info.command is not None
        command = rec.info.command
        requested = command.user or rec.framework.user or None
        user = effective_user(requested, self._agent.agent_user, switch_user=self._config.switch_user,
                              is_root=self._is_root)
        try:
            owner = lookup_user(user) if user else None
            if command.uris:
                await self._fetcher.fetch(list(command.uris), rec.directory,
                                          (owner.uid, owner.gid) if owner else None)
        except (FetchFailed, LaunchFailed) as exc:
            self._note(rec.directory, exc.message)
            reason = "REASON_FETCHER_FAILED" if isinstance(exc, FetchFailed) else "REASON_CONTAINER_LAUNCH_FAILED"
            log.event("executor_start_failed", framework_id=key[0], executor_id=key[1], reason=exc.message)
            return StartFailed(key, _for_executor(exc.message), reason)
        ctx = ExecutorContext(
            agent_id=self._agent.agent_id or "",
            framework_id=key[0],
            executor_id=key[1],
            sandbox=rec.directory,
            agent_ip=self._config.ip,
            agent_port=self._agent.port,
            hostname=self._config.advertised_hostname,
            checkpoint=rec.framework.checkpoint,
            shutdown_grace_s=self._config.executor_shutdown_grace_s,
            recovery_timeout_s=self._config.executor_recovery_timeout_s,
            path=self._config.task_path,
        )
        executable, argv = command_argv(command)
        limits = None
        if self._containers.isolator is not None:
            limits = limits_for(executor.resources(), cpu_quota=self._config.cgroups_cpu_quota)
        spec = LaunchSpec(executable=executable, argv=argv, env=executor_environment(command, ctx),
                          sandbox=rec.directory, user=user, limits=limits)
        try:
            pid = self._containers.launch(rec.container_id, spec)
        except LaunchFailed as exc:
            self._note(rec.directory, exc.message)
            log.event("executor_start_failed", framework_id=key[0], executor_id=key[1], reason=exc.message)
            return StartFailed(key, _for_executor(exc.message), "REASON_CONTAINER_LAUNCH_FAILED")
        self._container_of[key] = rec.container_id
        self._by_container[rec.container_id] = key
        if self._checkpoints is not None and rec.framework.checkpoint:
            given = [*executor.queued_tasks.values(), *executor.tasks.values()]
            self._checkpoint(key, ck.ContainerRecord(
                framework=rec.framework, executor_id=key[1], container_id=rec.container_id, sandbox=rec.directory,
                tasks=[t.info for t in given], pid=pid, start_time=read_start_time(pid), executor=rec.info))
        log.event("executor_started", framework_id=key[0], executor_id=key[1], pid=pid,
                  container_id=rec.container_id, directory=rec.directory)
        return Started(key)


def _for_executor(message: str) -> str:
    """The containerizer words its errors for tasks."""
    return message.replace("Failed to launch task", "Failed to launch executor", 1)
