"""The master's records of agents, frameworks, tasks and offers, and the instructions it emits. Pure.

These are plain mutable records owned by `MasterState`; nothing else changes them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pydcos.mesos import internal
from pydcos.mesos.resources import RoleResources
from pydcos.mesos.v1.messages import AgentInfo, Event, FrameworkInfo, TaskInfo, TaskStatus


@dataclass(slots=True)
class TaskEntry:
    framework_id: str
    agent_id: str
    executor_id: str
    task: TaskInfo
    resources: RoleResources
    state: str = "TASK_STAGING"
    statuses: list[TaskStatus] = field(default_factory=list)
    # The newest update sent to the framework that still waits for its acknowledgement.
    pending_update: TaskStatus | None = None
    # True once the framework has been told the task is gone (LOST/UNREACHABLE by the master).
    reported_gone: bool = False

    @property
    def task_id(self) -> str:
        return self.task.task_id.value

    @property
    def latest_status(self) -> TaskStatus | None:
        return self.statuses[-1] if self.statuses else None


@dataclass(slots=True)
class AgentEntry:
    id: str
    info: AgentInfo
    ip: str
    port: int
    zone: str
    version: str
    total: RoleResources
    registered_time: float
    connected: bool = True
    disconnected_at: float | None = None
    reregistered_time: float | None = None
    # (framework_id, task_id) of the tasks placed on this agent.
    task_keys: set[tuple[str, str]] = field(default_factory=set)

    @property
    def pid(self) -> str:
        return f"slave(1)@{self.ip}:{self.port}"


@dataclass(slots=True)
class OfferEntry:
    id: str
    framework_id: str
    agent_id: str
    resources: RoleResources
    created_at: float


@dataclass(slots=True)
class FrameworkEntry:
    id: str
    info: FrameworkInfo
    registered_time: float
    connected: bool = False
    active: bool = False
    stream_id: str | None = None
    reregistered_time: float | None = None
    disconnected_at: float | None = None
    unregistered_time: float | None = None
    # A framework learnt only from agents after a master restart, not yet re-subscribed.
    recovered: bool = False
    tasks: dict[str, TaskEntry] = field(default_factory=dict)
    completed_tasks: deque[TaskEntry] = field(default_factory=deque)
    offers: set[str] = field(default_factory=set)

    @property
    def partition_aware(self) -> bool:
        return any(c.type == "PARTITION_AWARE" for c in self.info.capabilities)


# --- instructions (what the shell must do) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendEvent:
    framework_id: str
    event: Event


@dataclass(frozen=True, slots=True)
class SendToAgent:
    agent_id: str
    message: internal.MasterToAgent


@dataclass(frozen=True, slots=True)
class CloseStream:
    """End a framework's event stream (teardown, failover to a new connection, removal)."""

    framework_id: str
    stream_id: str


@dataclass(frozen=True, slots=True)
class DisconnectAgent:
    agent_id: str
    reason: str


Instruction = SendEvent | SendToAgent | CloseStream | DisconnectAgent
