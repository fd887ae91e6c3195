"""Command tasks on this agent: launch, kill, exit, and the statuses each produces.

The agent plays Mesos's command executor itself: it starts the task's process (through the
Containerizer) and reports TASK_RUNNING, then TASK_FINISHED, TASK_FAILED or TASK_KILLED when the
process ends. What Mesos would refuse or this agent cannot run yet is answered with TASK_ERROR;
a kill for a task the agent does not know with TASK_LOST. Nothing a master sends raises here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Protocol

from pydcos.core.clock import Clock
from pydcos.core.log import get_logger
from pydcos.mesos import internal
from pydcos.mesos.agent.config import AgentConfig
from pydcos.mesos.agent.containerizer import Containerizer, ExitCallback
from pydcos.mesos.agent.environment import TaskContext, task_environment
from pydcos.mesos.agent.errors import InvalidTask, LaunchFailed
from pydcos.mesos.agent.state import AgentState
from pydcos.mesos.agent.task_launch import (
    build_spec,
    check_task,
    effective_user,
    sandbox_path,
    task_user,
)
from pydcos.mesos.agent.task_status import exit_outcome, make_status
from pydcos.mesos.v1.messages import TERMINAL_STATES, KillPolicy, StatusSource, TaskState, TaskStatus

log = get_logger("pydcos.agent.tasks")

# Starting a process blocks the loop for about half a millisecond; a big RunTasks burst yields
# to the loop every this many launches so HTTP and the master link stay responsive.
LAUNCHES_PER_YIELD = 50
TaskKey = tuple[str, str]  # (framework_id, task_id)


class TaskHost(Protocol):
    """What the task runner needs from the agent."""

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
    ) -> None:
        self._config = config
        self._clock = clock
        self._agent = agent
        self._containers = containerizer_factory(self._on_exit)
        self._by_container: dict[str, TaskKey] = {}
        self._container_of: dict[TaskKey, str] = {}
        self._agent_user = agent.agent_user
        self._is_root = os.geteuid() == 0
        self._exits = asyncio.Event()

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
        try:
            check_task(framework, task)
            container_id = self._agent.new_container_id()
            agent_id = self._agent.agent_id or ""
            sandbox = sandbox_path(self._config.work_dir, agent_id, fw_id, task_id, container_id)
            state.add_command_task(framework, task, container_id=container_id, directory=sandbox)
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
        spec = build_spec(task=task, sandbox=sandbox, env=task_environment(task, ctx), user=user)
        try:
            pid = self._containers.launch(container_id, spec)
        except LaunchFailed as exc:
            log.event("task_launch_failed", framework_id=fw_id, task_id=task_id, reason=exc.message)
            _note_in_stderr(sandbox, exc.message)
            self._status(fw_id, task_id, "TASK_FAILED", message=exc.message,
                         reason="REASON_CONTAINER_LAUNCH_FAILED", container_id=container_id)
            state.executor_terminated(fw_id, task_id)
            return
        self._by_container[container_id] = (fw_id, task_id)
        self._container_of[(fw_id, task_id)] = container_id
        log.event("task_started", framework_id=fw_id, task_id=task_id, pid=pid, container_id=container_id)
        self._status(fw_id, task_id, "TASK_RUNNING", container_id=container_id)

    # --- exit ---------------------------------------------------------------------------

    def _on_exit(self, container_id: str, returncode: int | None, killed: bool) -> None:
        key = self._by_container.pop(container_id, None)
        if key is None:
            return
        del self._container_of[key]
        fw_id, task_id = key
        state, message, reason = exit_outcome(returncode, killed=killed)
        log.event("task_exited", framework_id=fw_id, task_id=task_id, state=state, returncode=returncode)
        self._status(fw_id, task_id, state, message=message, reason=reason, container_id=container_id)
        self._agent.state.executor_terminated(fw_id, task_id)
        self._exits.set()

    # --- kill ---------------------------------------------------------------------------

    def kill_task(self, framework_id: str, task_id: str, policy: KillPolicy | None = None) -> None:
        cid = self._container_of.get((framework_id, task_id))
        if cid is not None:
            entry = self._agent.state.find_task(framework_id, task_id)
            grace = grace_seconds(policy, entry.info.kill_policy if entry else None,
                                  default=self._config.kill_grace_s)
            log.event("task_kill", framework_id=framework_id, task_id=task_id, grace_s=grace)
            self._containers.kill(cid, grace)
            return
        if self._agent.state.knows_task(framework_id, task_id):
            log.event("task_kill_ignored", framework_id=framework_id, task_id=task_id, reason="already terminal")
            return
        log.event("task_kill_unknown", framework_id=framework_id, task_id=task_id)
        self._status(framework_id, task_id, "TASK_LOST", message="Task is unknown to the agent",
                     source="SOURCE_AGENT", reason="REASON_TASK_UNKNOWN", executor=False)

    def shutdown_framework(self, framework_id: str) -> None:
        for fw_id, task_id in [k for k in self._container_of if k[0] == framework_id]:
            self.kill_task(fw_id, task_id)

    def shutdown_executor(self, framework_id: str, executor_id: str) -> None:
        # A command executor's id is its task's id.
        if (framework_id, executor_id) in self._container_of:
            self.kill_task(framework_id, executor_id)
        else:
            log.event("executor_shutdown_ignored", framework_id=framework_id, executor_id=executor_id)

    async def shutdown(self, grace_s: float) -> None:
        """Kill every task and wait for them to end (SIGKILL after the grace period)."""
        for fw_id, task_id in list(self._container_of):
            cid = self._container_of[(fw_id, task_id)]
            self._containers.kill(cid, min(grace_s, self._config.kill_grace_s))
        deadline = asyncio.get_running_loop().time() + grace_s + 2.0
        while self._by_container and asyncio.get_running_loop().time() < deadline:
            self._exits.clear()
            try:
                async with asyncio.timeout(max(0.0, deadline - asyncio.get_running_loop().time())):
                    await self._exits.wait()
            except TimeoutError:
                break
        if self._by_container:
            log.warning("tasks_left_running_at_shutdown", count=len(self._by_container))

    def close(self) -> None:
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
        self._agent.produce(fw_id, status)


def _note_in_stderr(sandbox: str, message: str) -> None:
    """Put a launch failure where `dcos task log --stderr` looks (if the sandbox exists)."""
    try:
        fd = os.open(os.path.join(sandbox, "stderr"), os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.write(fd, (message + "\n").encode("utf-8", "replace"))
    except OSError:
        pass
    finally:
        os.close(fd)

