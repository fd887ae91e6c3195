"""Events into and instructions out of the custom executors' core (executor_core.py). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydcos.mesos.agent import executor_messages as em
from pydcos.mesos.v1.messages import FrameworkInfo, KillPolicy, TaskInfo, TaskState, TaskStatus

Key = tuple[str, str]  # (framework_id, executor_id)


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskArrived:
    framework: FrameworkInfo
    task: TaskInfo  # with `executor`
    container_id: str  # used when this task starts the executor
    directory: str


@dataclass(frozen=True, slots=True)
class Started:
    key: Key


@dataclass(frozen=True, slots=True)
class StartFailed:
    key: Key
    message: str
    reason: str


@dataclass(frozen=True, slots=True)
class SubscribeReceived:
    key: Key
    stream: int
    unacknowledged_tasks: list[TaskInfo]
    unacknowledged_updates: list[TaskStatus]


@dataclass(frozen=True, slots=True)
class StreamClosed:
    key: Key
    stream: int


@dataclass(frozen=True, slots=True)
class UpdateReceived:
    key: Key
    status: TaskStatus


@dataclass(frozen=True, slots=True)
class MessageReceived:
    key: Key
    data: str


@dataclass(frozen=True, slots=True)
class CallRefused:
    key: Key
    reason: str


@dataclass(frozen=True, slots=True)
class FrameworkMessage:
    key: Key
    data: str


@dataclass(frozen=True, slots=True)
class UpdateAcknowledged:
    framework_id: str
    task_id: str
    uuid: str


@dataclass(frozen=True, slots=True)
class KillRequested:
    framework_id: str
    task_id: str
    kill_policy: KillPolicy | None = None


@dataclass(frozen=True, slots=True)
class ShutdownRequested:
    key: Key


@dataclass(frozen=True, slots=True)
class RegistrationTimedOut:
    key: Key
    after_s: float


@dataclass(frozen=True, slots=True)
class Exited:
    key: Key
    returncode: int | None  # as subprocess: negative = killed by that signal, None = never ran
    limitation: str | None = None


Event = (TaskArrived | Started | StartFailed | SubscribeReceived | StreamClosed | UpdateReceived
         | MessageReceived | CallRefused | FrameworkMessage | UpdateAcknowledged | KillRequested
         | ShutdownRequested | RegistrationTimedOut | Exited)


# --- instructions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spawn:
    """Fetch the executor's URIs and start its process; answer Started or StartFailed."""

    key: Key


@dataclass(frozen=True, slots=True)
class SendSubscribed:
    key: Key
    stream: int


@dataclass(frozen=True, slots=True)
class Send:
    key: Key
    stream: int
    event: em.ExecutorEvent


@dataclass(frozen=True, slots=True)
class CloseStream:
    key: Key
    stream: int


@dataclass(frozen=True, slots=True)
class Status:
    """A status the agent makes for a task of the executor."""

    framework_id: str
    task_id: str
    executor_id: str
    state: TaskState
    message: str
    reason: str | None
    source: Literal["SOURCE_AGENT", "SOURCE_EXECUTOR"] = "SOURCE_AGENT"


@dataclass(frozen=True, slots=True)
class Forward:
    """A status the executor sent: into the status update manager."""

    framework_id: str
    executor_id: str
    status: TaskStatus


@dataclass(frozen=True, slots=True)
class ToFramework:
    framework_id: str
    executor_id: str
    data: str


@dataclass(frozen=True, slots=True)
class KillContainer:
    """SIGKILL the executor's container after `grace_s` (0: now). Before its process started:
    stop the start and answer Exited with no return code."""

    key: Key
    grace_s: float


@dataclass(frozen=True, slots=True)
class StartRegistrationTimer:
    key: Key


@dataclass(frozen=True, slots=True)
class UpdateLimits:
    key: Key


@dataclass(frozen=True, slots=True)
class Terminated:
    framework_id: str
    executor_id: str
    status: int | None  # the wait status, as Mesos reports it


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str
    key: Key


Instruction = (Spawn | SendSubscribed | Send | CloseStream | Status | Forward | ToFramework | KillContainer
               | StartRegistrationTimer | UpdateLimits | Terminated | Ignored)
