"""Tasks on this agent: launch, kill, exit, and the statuses each produces.

The agent plays Mesos's command executor itself: it fetches the task's `uris` (if any), starts
its process (through the Containerizer) and reports TASK_RUNNING, then TASK_FINISHED,
TASK_FAILED or TASK_KILLED when the process ends. Tasks for a custom executor are handed to the
ExecutorRunner (executor_runner.py), which shares the Containerizer and the Fetcher. What Mesos
would refuse or this agent cannot run yet is answered with TASK_ERROR; a kill for a task the
agent does not know with TASK_LOST. Nothing a master sends raises here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Protocol

import msgspec

from pydcos.core.clock import Clock
from pydcos.core.log import get_logger
from pydcos.mesos import internal
from pydcos.mesos.agent import checkpoint as ck
from pydcos.mesos.agent.checkpoint_store import CheckpointStore, read_start_time
from pydcos.mesos.agent.config import AgentConfig
from pydcos.mesos.agent.containerizer import Containerizer, ExitCallback, lookup_user
from pydcos.mesos.agent.environment import TaskContext, task_environment
from pydcos.mesos.agent.errors import FetchFailed, InvalidTask, LaunchFailed
from pydcos.mesos.agent.executor_runner import ExecutorHost, ExecutorRunner
from pydcos.mesos.agent.fetcher import Fetcher
from pydcos.mesos.agent.health_runner import HealthChecks
from pydcos.mesos.agent.isolation import limits_for
from pydcos.mesos.agent.task_launch import (
    LaunchSpec,
    build_spec,
    check_task,
    effective_user,
    sandbox_path,
    task_user,
)
from pydcos.mesos.agent.task_status import exit_outcome, make_status
from pydcos.mesos.v1.messages import TERMINAL_STATES, CommandURI, KillPolicy, StatusSource, TaskState

log = get_logger("pydcos.agent.tasks")

# Starting a process blocks the loop for about half a millisecond; a big RunTasks burst yields
# to the loop every this many launches so HTTP and the master link stay responsive.
LAUNCHES_PER_YIELD = 50
TaskKey = tuple[str, str]  # (framework_id, task_id)


class TaskHost(ExecutorHost, Protocol):
    """What the task runner needs from the agent: the executor runner's, and a way to rewrite a
    checkpointed container's record in order with its status updates."""

    def rewrite_record(self, key: TaskKey, record: ck.ContainerRecord) -> None: ...


def grace_seconds(*policies: KillPolicy | None, default: float) -> float:
    """The first policy's grace period that is set, else the default.

    >>> from pydcos.mesos.v1.messages import DurationInfo
    >>> grace_seconds(None, KillPolicy(DurationInfo(1_500_000_000)), default=3.0)
    1.5
    """
    for policy in policies:
        if policy is not None and policy.grace_period is not None:
            return max(0.0, policy.grace_period.nanoseconds / 1e9)
    return default


class TaskRunner:
    def __init__(
        self,
        *,
        config: AgentConfig,
        clock: Clock,
        agent: TaskHost,
        containerizer_factory: Callable[[ExitCallback], Containerizer],
        fetcher: Fetcher | None = None,
        checkpoints: CheckpointStore | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._agent = agent
        self._containers = containerizer_factory(self._on_exit)
        self.fetcher = fetcher or Fetcher(timeout_s=config.fetch_timeout_s, cache_dir=config.cache_dir)
        self.executors = ExecutorRunner(config=config, clock=clock, agent=agent, containers=self._containers,
                                        fetcher=self.fetcher, note_in_stderr=_note_in_stderr, checkpoints=checkpoints)
        self._by_container: dict[str, TaskKey] = {}
        self._container_of: dict[TaskKey, str] = {}
        self._fetching: dict[TaskKey, asyncio.Task[None]] = {}
        self._agent_user = agent.agent_user
        self._is_root = os.geteuid() == 0
        self._isolated = self._containers.isolator is not None
        self._exits = asyncio.Event()
        self.checkpoints = checkpoints
        self._records: dict[str, ck.ContainerRecord] = {}  # checkpointed containers, by container id
        self.health = HealthChecks(config=config, clock=clock, agent=agent, isolator=self._containers.isolator,
                                   kill=self.kill_task)

    def __len__(self) -> int:
        """Running task processes."""
        return len(self._by_container)

    def container_id(self, framework_id: str, task_id: str) -> str | None:
        return self._container_of.get((framework_id, task_id))

    def pid(self, framework_id: str, task_id: str) -> int | None:
        cid = self._container_of.get((framework_id, task_id))
        return self._containers.pid(cid) if cid else None

    # --- launch -------------------------------------------------------------------------

    async def run_tasks(self, launches: list[internal.RunTask]) -> None:
        for i, run in enumerate(launches):
            if i and i % LAUNCHES_PER_YIELD == 0:
                await asyncio.sleep(0)
            try:
                self.run_task(run)
            except Exception:  # our bug: answer this task, go on with the others
                log.exception("task_launch_crashed", task_id=run.task.task_id.value)
                self._fail_crashed_launch(run)

    def _fail_crashed_launch(self, run: internal.RunTask) -> None:
        fw_id = run.framework.id.value if run.framework.id else ""
        task_id = run.task.task_id.value
        if (fw_id, task_id) in self._container_of:
            return  # it started; its exit will be reported
        entry = self._agent.state.find_task(fw_id, task_id)
        if entry is not None and entry.state in TERMINAL_STATES:
            return
        if run.task.executor is not None:
            if entry is None:  # its executor never took it
                self._status(fw_id, task_id, "TASK_FAILED", message="Agent error while launching the task",
                             reason="REASON_CONTAINER_LAUNCH_FAILED", source="SOURCE_AGENT", executor=False)
            return  # otherwise its executor answers for it
        self._status(fw_id, task_id, "TASK_FAILED", message="Agent error while launching the task",
                     reason="REASON_CONTAINER_LAUNCH_FAILED")
        self._agent.state.executor_terminated(fw_id, task_id)

    def run_task(self, run: internal.RunTask) -> None:
        framework, task = run.framework, run.task
        fw_id = framework.id.value if framework.id else ""
        task_id = task.task_id.value
        state = self._agent.state
        if (fw_id, task_id) in self._container_of or state.knows_task(fw_id, task_id):
            log.warning("duplicate_task_ignored", framework_id=fw_id, task_id=task_id)
            return
        if task.executor is not None and task.command is None:
            self.executors.run_task(run)
            return
        try:
            check_task(framework, task)
            container_id = self._agent.new_container_id()
            agent_id = self._agent.agent_id or ""
            sandbox = sandbox_path(self._config.work_dir, agent_id, fw_id, task_id, container_id)
            entry = state.add_command_task(framework, task, container_id=container_id, directory=sandbox)
        except (InvalidTask, ValueError) as exc:
            log.event("task_refused", framework_id=fw_id, task_id=task_id, reason=str(exc))
            self._status(fw_id, task_id, "TASK_ERROR", message=str(exc), source="SOURCE_AGENT",
                         reason="REASON_TASK_INVALID", executor=False)
            return
        ctx = TaskContext(
            agent_id=agent_id,
            framework_id=fw_id,
            executor_id=task_id,
            sandbox=sandbox,
            agent_ip=self._config.ip,
            agent_port=self._agent.port,
            hostname=self._config.advertised_hostname,
            path=self._config.task_path,
        )
        user = effective_user(task_user(framework, task), self._agent_user,
                              switch_user=self._config.switch_user, is_root=self._is_root)
        limits = limits_for(entry.resources, cpu_quota=self._config.cgroups_cpu_quota) if self._isolated else None
        spec = build_spec(task=task, sandbox=sandbox, env=task_environment(task, ctx), user=user, limits=limits)
        if self.checkpoints is not None and framework.checkpoint:
            self._records[container_id] = ck.ContainerRecord(
                framework=framework, executor_id=task_id, container_id=container_id, sandbox=sandbox, tasks=[task])
        if task.command is not None and task.command.uris:
            self._fetching[(fw_id, task_id)] = asyncio.create_task(
                self._fetch_then_launch(fw_id, task_id, container_id, spec, list(task.command.uris)),
                name=f"fetch-{task_id}")
            return
        self._launch(fw_id, task_id, container_id, spec)

    def _launch(self, fw_id: str, task_id: str, container_id: str, spec: LaunchSpec) -> None:
        record = self._records.get(container_id)
        try:  # a checkpointed task is started by the task launcher: it outlives an agent restart
            pid = self._containers.launch(container_id, spec, durable=record is not None)
        except LaunchFailed as exc:
            self._records.pop(container_id, None)
            self._fail_launch(fw_id, task_id, container_id, spec.sandbox, exc.message, "REASON_CONTAINER_LAUNCH_FAILED")
            return
        if record is not None and self.checkpoints is not None:
            record = msgspec.structs.replace(record, pid=pid, start_time=read_start_time(pid))
            self._records[container_id] = record
            try:
                self.checkpoints.container_started(self._agent.agent_id or "", record)
            except OSError as exc:  # the task runs; it will not survive an agent restart
                log.warning("checkpoint_write_failed", task_id=task_id, error=exc.strerror or str(exc))
        self._by_container[container_id] = (fw_id, task_id)
        self._container_of[(fw_id, task_id)] = container_id
        log.event("task_started", framework_id=fw_id, task_id=task_id, pid=pid, container_id=container_id)
        self._status(fw_id, task_id, "TASK_RUNNING", container_id=container_id)
        self.health.task_started(fw_id, task_id, container_id, spec)

    def _fail_launch(self, fw_id: str, task_id: str, container_id: str, sandbox: str, message: str,
                     reason: str) -> None:
        log.event("task_launch_failed", framework_id=fw_id, task_id=task_id, reason=message)
        _note_in_stderr(sandbox, message)
        self._status(fw_id, task_id, "TASK_FAILED", message=message, reason=reason, container_id=container_id)
        self._agent.state.executor_terminated(fw_id, task_id)

    async def _fetch_then_launch(self, fw_id: str, task_id: str, container_id: str, spec: LaunchSpec,
                                 uris: list[CommandURI]) -> None:
        """Fetch the task's URIs into its sandbox, then start it (unless killed meanwhile: a kill
        takes the task out of `_fetching` and cancels this)."""
        message = reason = None
        try:
            owner = lookup_user(spec.user) if spec.user else None
            await self.fetcher.fetch(uris, spec.sandbox, (owner.uid, owner.gid) if owner else None)
        except FetchFailed as exc:
            message, reason = exc.message, "REASON_FETCHER_FAILED"
        except LaunchFailed as exc:
            message, reason = exc.message, "REASON_CONTAINER_LAUNCH_FAILED"
        except Exception:  # our bug: the task must still be answered
            log.exception("task_fetch_crashed", framework_id=fw_id, task_id=task_id)
            message, reason = "Agent error while fetching the task's URIs", "REASON_FETCHER_FAILED"
        if self._fetching.pop((fw_id, task_id), None) is None:
            return  # killed meanwhile (and answered)
        if message is not None and reason is not None:
            self._fail_launch(fw_id, task_id, container_id, spec.sandbox, message, reason)
            return
        self._launch(fw_id, task_id, container_id, spec)

    # --- exit ---------------------------------------------------------------------------

    def _on_exit(self, container_id: str, returncode: int | None, killed: bool, limitation: str | None) -> None:
        key = self._by_container.pop(container_id, None)
        if key is None:
            self.executors.on_exit(container_id, returncode, limitation)
            self._exits.set()
            return
        del self._container_of[key]
        self._records.pop(container_id, None)
        fw_id, task_id = key
        source: StatusSource = "SOURCE_EXECUTOR"
        state, message, reason = exit_outcome(returncode, killed=killed)
        if limitation is not None:
            state, message, reason, source = "TASK_FAILED", limitation, "REASON_CONTAINER_LIMITATION_MEMORY", "SOURCE_AGENT"
        log.event("task_exited", framework_id=fw_id, task_id=task_id, state=state, returncode=returncode)
        healthy = self.health.task_ended(fw_id, task_id)  # False: its health checks killed it
        self._status(fw_id, task_id, state, message=message, reason=reason, container_id=container_id, source=source,
                     healthy=healthy)
        self._agent.state.executor_terminated(fw_id, task_id)
        self._exits.set()

    # --- kill ---------------------------------------------------------------------------

    def kill_task(self, framework_id: str, task_id: str, policy: KillPolicy | None = None) -> None:
        self.health.stop(framework_id, task_id)
        cid = self._container_of.get((framework_id, task_id))
        fetching = self._fetching.pop((framework_id, task_id), None)
        if fetching is not None:
            fetching.cancel()
            log.event("task_kill", framework_id=framework_id, task_id=task_id, phase="fetching")
            self._status(framework_id, task_id, "TASK_KILLED", message="Killed while fetching its URIs")
            self._agent.state.executor_terminated(framework_id, task_id)
            return
        if cid is not None:
            entry = self._agent.state.find_task(framework_id, task_id)
            grace = grace_seconds(policy, entry.info.kill_policy if entry else None,
                                  default=self._config.kill_grace_s)
            log.event("task_kill", framework_id=framework_id, task_id=task_id, grace_s=grace)
            record = self._records.get(cid)
            if record is not None and self.checkpoints is not None and not record.kill_requested:
                record = self._records[cid] = msgspec.structs.replace(record, kill_requested=True)
                if not self._containers.remembers_kills(cid):  # the task launcher does, for its tasks
                    self._agent.rewrite_record((framework_id, task_id), record)  # off the loop, in order
            self._containers.kill(cid, grace)
            return
        if self.executors.kill_task(framework_id, task_id, policy):
            return
        if self._agent.state.knows_task(framework_id, task_id):
            log.event("task_kill_ignored", framework_id=framework_id, task_id=task_id, reason="already terminal")
            return
        log.event("task_kill_unknown", framework_id=framework_id, task_id=task_id)
        self._status(framework_id, task_id, "TASK_LOST", message="Task is unknown to the agent",
                     source="SOURCE_AGENT", reason="REASON_TASK_UNKNOWN", executor=False)

    # --- recovery ------------------------------------------------------------------------

    def adopt(self, record: ck.ContainerRecord, pid: int) -> bool:
        """Watch a checkpointed task left running by the previous run; False when it is gone."""
        fw_id, task_id = record.framework_id, record.executor_id
        entry = self._agent.state.find_task(fw_id, task_id)
        limits = None
        if self._isolated and entry is not None:
            limits = limits_for(entry.resources, cpu_quota=self._config.cgroups_cpu_quota)
        if not self._containers.adopt(record.container_id, pid, exit_file=os.path.join(record.sandbox, ck.EXIT_FILE),
                                      kill_requested=record.kill_requested, limits=limits):
            return False
        self._by_container[record.container_id] = (fw_id, task_id)
        self._container_of[(fw_id, task_id)] = record.container_id
        self._records[record.container_id] = record
        log.event("task_reattached", framework_id=fw_id, task_id=task_id, pid=pid, container_id=record.container_id)
        self.health.task_reattached(record)
        if record.kill_requested:  # the kill was under way when the agent died: finish it
            grace = grace_seconds(entry.info.kill_policy if entry else None, default=self._config.kill_grace_s)
            self._containers.kill(record.container_id, grace)
        return True

    def recovered_running(self, fw_id: str, task_id: str, container_id: str) -> None:
        self._status(fw_id, task_id, "TASK_RUNNING", container_id=container_id)

    def recovered_status(self, fw_id: str, task_id: str, container_id: str, state: TaskState, message: str,
                         reason: str | None) -> None:
        """The final status of a checkpointed task that ended while the agent was down."""
        self._status(fw_id, task_id, state, message=message, reason=reason, container_id=container_id)
        self._agent.state.executor_terminated(fw_id, task_id)

    def shutdown_framework(self, framework_id: str) -> None:
        for fw_id, task_id in [k for k in [*self._container_of, *self._fetching] if k[0] == framework_id]:
            self.kill_task(fw_id, task_id)
        self.executors.shutdown_framework(framework_id)

    def shutdown_executor(self, framework_id: str, executor_id: str) -> None:
        # A command executor's id is its task's id.
        key = (framework_id, executor_id)
        if key in self._container_of or key in self._fetching:
            self.kill_task(framework_id, executor_id)
        elif not self.executors.shutdown_executor(framework_id, executor_id):
            log.event("executor_shutdown_ignored", framework_id=framework_id, executor_id=executor_id)

    def framework_message(self, framework_id: str, executor_id: str, data: str) -> bool:
        """Hand a scheduler's message to its executor; False when no custom executor takes it."""
        return self.executors.framework_message(framework_id, executor_id, data)

    def acknowledged(self, framework_id: str, task_id: str, uuid: str) -> None:
        """The scheduler acknowledged this update (the head of the task's stream)."""
        self.executors.acknowledged(framework_id, task_id, uuid)

    async def shutdown(self, grace_s: float) -> None:
        """Kill every task and executor and wait for them to end (SIGKILL after the grace period)."""
        await self.health.close()
        for fetching in self._fetching.values():
            fetching.cancel()
        self._fetching.clear()
        for fw_id, task_id in list(self._container_of):
            cid = self._container_of[(fw_id, task_id)]
            self._containers.kill(cid, min(grace_s, self._config.kill_grace_s))
        self.executors.shutdown_all()
        deadline = asyncio.get_running_loop().time() + grace_s + 2.0
        while len(self._containers) and asyncio.get_running_loop().time() < deadline:
            self._exits.clear()
            try:
                async with asyncio.timeout(max(0.0, deadline - asyncio.get_running_loop().time())):
                    await self._exits.wait()
            except TimeoutError:
                break
        if len(self._containers):
            log.warning("tasks_left_running_at_shutdown", count=len(self._containers))
        self.executors.close()

    @property
    def containers(self) -> Containerizer:
        return self._containers

    def close(self) -> None:
        self.executors.close()
        self._containers.close()

    # --- statuses -----------------------------------------------------------------------

    def _status(
        self,
        fw_id: str,
        task_id: str,
        state: TaskState,
        *,
        message: str | None = None,
        reason: str | None = None,
        source: StatusSource = "SOURCE_EXECUTOR",
        container_id: str | None = None,
        executor: bool = True,
        healthy: bool | None = None,
    ) -> None:
        status = make_status(
            task_id=task_id,
            state=state,
            agent_id=self._agent.agent_id or "",
            executor_id=task_id if executor else None,
            uuid=self._agent.new_status_uuid(),
            timestamp=self._clock.wall(),
            source=source,
            message=message,
            reason=reason,
            container_id=container_id,
            ip=self._config.ip if container_id else None,
        )
        if healthy is not None:
            status = msgspec.structs.replace(status, healthy=healthy)
        self._agent.produce(fw_id, status)


def _note_in_stderr(sandbox: str, message: str) -> None:
    """Put a launch failure where `dcos task log --stderr` looks (if the sandbox exists)."""
    try:
        fd = os.open(os.path.join(sandbox, "stderr"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return
    try:
        os.write(fd, (message + "\n").encode("utf-8", "replace"))
    except OSError:
        pass
    finally:
        os.close(fd)

