"""The agent's bookkeeping of frameworks, executors and tasks. Pure.

Every task lives under exactly one executor (a command task under its own command executor, whose
id is the task id; a custom executor's tasks under that executor), in exactly one of its lists:

    queued (custom executor not subscribed yet) --sent to the executor--> launched (`tasks`)
    queued or launched --terminal status--> terminated --terminal update acked--> completed

An executor moves to its framework's completed executors once it has terminated and holds no
launched or terminated task; a framework moves to the completed frameworks once it has no executor
left. Histories are bounded (oldest dropped first). Changed only through the methods below.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pydcos.mesos import resources as res
from pydcos.mesos.resources import Resources
from pydcos.mesos.v1.messages import (
    TERMINAL_STATES,
    ExecutorInfo,
    FrameworkInfo,
    TaskInfo,
    TaskState,
    TaskStatus,
)

MAX_STATUSES_PER_TASK = 100
TaskKey = tuple[str, str]  # (framework_id, task_id)


@dataclass(slots=True)
class TaskEntry:
    info: TaskInfo
    framework_id: str
    executor_id: str
    resources: Resources
    state: TaskState = "TASK_STAGING"
    statuses: list[TaskStatus] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.info.task_id.value


@dataclass(slots=True)
class ExecutorEntry:
    id: str
    framework_id: str
    name: str
    source: str
    container_id: str
    directory: str
    command_task: bool = True  # a command executor run by the agent itself
    info: ExecutorInfo | None = None  # a custom executor's ExecutorInfo
    executor_resources: Resources = field(default_factory=Resources)
    tasks: dict[str, TaskEntry] = field(default_factory=dict)
    queued_tasks: dict[str, TaskEntry] = field(default_factory=dict)
    terminated_tasks: dict[str, TaskEntry] = field(default_factory=dict)
    completed_tasks: deque[TaskEntry] = field(default_factory=deque)
    terminated: bool = False

    def all_tasks(self) -> Iterator[TaskEntry]:
        yield from self.tasks.values()
        yield from self.queued_tasks.values()
        yield from self.terminated_tasks.values()
        yield from self.completed_tasks

    def resources(self) -> Resources:
        """What the executor holds: its own resources and those of its queued and launched tasks."""
        total = self.executor_resources
        for task in self.tasks.values():
            total = total + task.resources
        for task in self.queued_tasks.values():
            total = total + task.resources
        return total


@dataclass(slots=True)
class FrameworkEntry:
    info: FrameworkInfo
    executors: dict[str, ExecutorEntry] = field(default_factory=dict)
    completed_executors: deque[ExecutorEntry] = field(default_factory=deque)

    @property
    def id(self) -> str:
        return self.info.id.value if self.info.id else ""


def command_executor_name(task: TaskInfo) -> str:
    """The name Mesos gives a command task's executor (long shell commands shortened as Mesos does).

    >>> from pydcos.mesos.v1.messages import CommandInfo, Id
    >>> command_executor_name(TaskInfo(name="t", task_id=Id("t1"), command=CommandInfo(value="echo hi")))
    "Command Executor (Task: t1) (Command: sh -c 'echo hi')"
    """
    command = task.command
    if command is None or command.value is None:
        shown = ""
    elif command.shell:
        value = command.value if len(command.value) <= 15 else command.value[:12] + "..."
        shown = "sh -c '" + value + "'"
    else:
        shown = "[" + ", ".join([command.value, *command.arguments[1:]]) + "]"
    return f"Command Executor (Task: {task.task_id.value}) (Command: {shown})"


def task_resources(task: TaskInfo) -> Resources:
    """The task's resources over all roles; raises ValueError on malformed resources."""
    return res.flatten(res.from_v1(task.resources))


class AgentState:
    """Frameworks, executors and tasks on this agent, with bounded histories.

    Two indexes keep every lookup O(1) however many tasks run: `_live` maps each launched or
    terminated task to its executor, `_history` counts the task's entries in the histories.
    """

    def __init__(
        self,
        *,
        max_completed_frameworks: int = 50,
        max_completed_executors_per_framework: int = 1000,
        max_completed_tasks_per_executor: int = 200,
    ) -> None:
        self.frameworks: dict[str, FrameworkEntry] = {}
        self.completed_frameworks: deque[FrameworkEntry] = deque()
        self._max_frameworks = max_completed_frameworks
        self._max_executors = max_completed_executors_per_framework
        self._max_tasks = max_completed_tasks_per_executor
        self._live: dict[TaskKey, ExecutorEntry] = {}
        self._history: dict[TaskKey, int] = {}
        # Cumulative counters for /metrics/snapshot, by terminal state.
        self.terminal_counts: dict[str, int] = {}

    # --- queries ------------------------------------------------------------------------

    def framework(self, framework_id: str) -> FrameworkEntry | None:
        return self.frameworks.get(framework_id)

    def executor(self, framework_id: str, executor_id: str) -> ExecutorEntry | None:
        fw = self.frameworks.get(framework_id)
        return fw.executors.get(executor_id) if fw else None

    def find_task(self, framework_id: str, task_id: str) -> TaskEntry | None:
        """A queued, launched or terminated (not yet acknowledged) task."""
        executor = self._live.get((framework_id, task_id))
        if executor is None:
            return None
        return (executor.tasks.get(task_id) or executor.queued_tasks.get(task_id)
                or executor.terminated_tasks.get(task_id))

    def knows_task(self, framework_id: str, task_id: str) -> bool:
        """Launched, terminated, or still in some history."""
        key = (framework_id, task_id)
        return key in self._live or key in self._history

    def live_tasks(self) -> Iterator[TaskEntry]:
        """Tasks not yet completed (queued, launched, or terminated with the update unacknowledged)."""
        for fw in self.frameworks.values():
            for executor in fw.executors.values():
                yield from executor.queued_tasks.values()
                yield from executor.tasks.values()
                yield from executor.terminated_tasks.values()

    def used_resources(self) -> Resources:
        total = Resources()
        for fw in self.frameworks.values():
            for executor in fw.executors.values():
                total = total + executor.resources()
        return total

    def count_by_state(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for task in self.live_tasks():
            counts[task.state] = counts.get(task.state, 0) + 1
        return counts

    # --- changes ------------------------------------------------------------------------

    def add_command_task(
        self, framework: FrameworkInfo, task: TaskInfo, *, container_id: str, directory: str
    ) -> TaskEntry:
        """Record a launched command task under its own command executor. Raises ValueError on
        malformed resources (nothing is recorded then)."""
        resources = task_resources(task)
        fw = self._framework_entry(framework)
        fw_id = fw.id
        executor_id = task.task_id.value
        if executor_id in fw.executors:
            raise ValueError(f"Executor id '{executor_id}' is already in use on this agent")
        executor = ExecutorEntry(
            id=executor_id,
            framework_id=fw_id,
            name=command_executor_name(task),
            source=executor_id,
            container_id=container_id,
            directory=directory,
        )
        fw.executors[executor_id] = executor
        entry = TaskEntry(info=task, framework_id=fw_id, executor_id=executor_id, resources=resources)
        executor.tasks[entry.id] = entry
        self._live[(fw_id, entry.id)] = executor
        return entry

    def _framework_entry(self, framework: FrameworkInfo) -> FrameworkEntry:
        fw_id = framework.id.value if framework.id else ""
        fw = self.frameworks.get(fw_id)
        if fw is None:
            fw = self.frameworks[fw_id] = FrameworkEntry(framework)
            self._forget_completed_framework(fw_id)
        else:
            fw.info = framework
        return fw

    def add_executor_task(
        self, framework: FrameworkInfo, task: TaskInfo, *, container_id: str, directory: str
    ) -> TaskEntry:
        """Queue a task for its custom executor (`task.executor`), recording the executor on its
        first task. Raises ValueError on malformed resources or an executor id taken by a
        command task (nothing is recorded then)."""
        assert task.executor is not None
        info = task.executor
        resources = task_resources(task)
        fw_id = framework.id.value if framework.id else ""
        existing = self.executor(fw_id, info.executor_id.value)
        if existing is not None and (existing.command_task or existing.terminated):
            raise ValueError(f"Executor id '{info.executor_id.value}' is in use by another executor")
        executor_resources = res.flatten(res.from_v1(info.resources)) if existing is None else Resources()
        fw = self._framework_entry(framework)
        executor = fw.executors.get(info.executor_id.value)
        if executor is None:
            executor = fw.executors[info.executor_id.value] = ExecutorEntry(
                id=info.executor_id.value,
                framework_id=fw_id,
                name=info.name or "",
                source=info.source or "",
                container_id=container_id,
                directory=directory,
                command_task=False,
                info=info,
                executor_resources=executor_resources,
            )
        entry = TaskEntry(info=task, framework_id=fw_id, executor_id=executor.id, resources=resources)
        executor.queued_tasks[entry.id] = entry
        self._live[(fw_id, entry.id)] = executor
        return entry

    def launch_queued(self, framework_id: str, task_id: str) -> TaskEntry | None:
        """A queued task was handed to its executor: it is launched now."""
        executor = self._live.get((framework_id, task_id))
        task = executor.queued_tasks.pop(task_id, None) if executor else None
        if executor is None or task is None:
            return None
        executor.tasks[task_id] = task
        return task

    def update_status(self, framework_id: str, status: TaskStatus) -> TaskEntry | None:
        """Apply a status to a launched task; a terminal one moves it to terminated."""
        task_id = status.task_id.value
        executor = self._live.get((framework_id, task_id))
        if executor is None:
            return None
        task = executor.tasks.get(task_id)
        where = executor.tasks
        if task is None:
            task = executor.queued_tasks.get(task_id)
            where = executor.queued_tasks
        if task is None:
            task = executor.terminated_tasks[task_id]
            task.statuses.append(status)  # kept for the record; a terminal state is final
        else:
            task.statuses.append(status)
            task.state = status.state
            if status.state in TERMINAL_STATES:
                del where[task_id]
                executor.terminated_tasks[task_id] = task
                self.terminal_counts[status.state] = self.terminal_counts.get(status.state, 0) + 1
        del task.statuses[:-MAX_STATUSES_PER_TASK]
        return task

    def terminal_acknowledged(self, framework_id: str, task_id: str) -> None:
        """The terminal update of the task was acknowledged: it becomes history."""
        key = (framework_id, task_id)
        executor = self._live.get(key)
        if executor is None or task_id not in executor.terminated_tasks:
            return
        del self._live[key]
        executor.completed_tasks.append(executor.terminated_tasks.pop(task_id))
        self._history[key] = self._history.get(key, 0) + 1
        while len(executor.completed_tasks) > self._max_tasks:
            self._forget_tasks([executor.completed_tasks.popleft()])
        fw = self.frameworks.get(framework_id)
        if fw is not None:
            self._maybe_complete_executor(fw, executor)

    def executor_terminated(self, framework_id: str, executor_id: str) -> None:
        fw = self.frameworks.get(framework_id)
        executor = fw.executors.get(executor_id) if fw else None
        if fw is None or executor is None:
            return
        executor.terminated = True
        self._maybe_complete_executor(fw, executor)

    def _maybe_complete_executor(self, fw: FrameworkEntry, executor: ExecutorEntry) -> None:
        if not executor.terminated or executor.tasks or executor.queued_tasks or executor.terminated_tasks:
            return
        del fw.executors[executor.id]
        fw.completed_executors.append(executor)
        self._trim_executors(fw)
        if not fw.executors:
            del self.frameworks[fw.id]
            self.completed_frameworks.append(fw)
            while len(self.completed_frameworks) > self._max_frameworks:
                old = self.completed_frameworks.popleft()
                self._forget_tasks(t for e in old.completed_executors for t in e.completed_tasks)

    def _trim_executors(self, fw: FrameworkEntry) -> None:
        while len(fw.completed_executors) > self._max_executors:
            self._forget_tasks(fw.completed_executors.popleft().completed_tasks)

    def _forget_tasks(self, tasks: Iterable[TaskEntry]) -> None:
        for task in tasks:
            key = (task.framework_id, task.id)
            left = self._history.get(key, 0) - 1
            if left > 0:
                self._history[key] = left
            else:
                self._history.pop(key, None)

    def _forget_completed_framework(self, framework_id: str) -> None:
        """A framework that comes back takes its history with it out of the completed list."""
        for old in list(self.completed_frameworks):
            if old.id == framework_id:
                self.completed_frameworks.remove(old)
                fw = self.frameworks[framework_id]
                fw.completed_executors.extend(old.completed_executors)
                self._trim_executors(fw)

    # --- checks -------------------------------------------------------------------------

    def validate(self) -> list[str]:
        """Broken invariants, for tests (empty when all hold)."""
        problems: list[str] = []
        seen: set[TaskKey] = set()
        for fw_id, fw in self.frameworks.items():
            if fw.id != fw_id:
                problems.append(f"framework {fw_id} keyed under another id {fw.id}")
            if not fw.executors:
                problems.append(f"framework {fw_id} has no executor but is not completed")
            for ex_id, executor in fw.executors.items():
                if executor.id != ex_id or executor.framework_id != fw_id:
                    problems.append(f"executor {ex_id} keyed wrongly")
                lists = (("tasks", executor.tasks), ("queued", executor.queued_tasks),
                         ("terminated", executor.terminated_tasks))
                for where, tasks in lists:
                    for task_id, task in tasks.items():
                        if (fw_id, task_id) in seen:
                            problems.append(f"task {task_id} appears twice")
                        seen.add((fw_id, task_id))
                        if self._live.get((fw_id, task_id)) is not executor:
                            problems.append(f"task {task_id} missing from the live index")
                        terminal = task.state in TERMINAL_STATES
                        if terminal != (where == "terminated"):
                            problems.append(f"task {task_id} in {where} has state {task.state}")
        if set(self._live) != seen:
            problems.append(f"live index has stale entries: {sorted(set(self._live) - seen)}")
        history: dict[TaskKey, int] = {}
        fws = [*self.frameworks.values(), *self.completed_frameworks]
        for executor in [e for fw in fws for e in [*fw.executors.values(), *fw.completed_executors]]:
            for task in executor.completed_tasks:
                history[(task.framework_id, task.id)] = history.get((task.framework_id, task.id), 0) + 1
        if history != self._history:
            problems.append("history index does not match the histories")
        return problems
