"""The master's records of agents, frameworks, tasks and offers, and the instructions it emits. Pure.

These are plain mutable records owned by `MasterState`; nothing else changes them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import msgspec

from pydcos.mesos import internal
from pydcos.mesos.master.registry_records import (
    AgentRecord,
    CompletedTaskRecord,
    FrameworkRecord,
    RegistryOp,
    RemovedFrameworkRecord,
)
from pydcos.mesos.master.resource_sums import Usage
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
    # Its place in the persisted completed-task history (registry_records.history_id), once completed.
    history_seq: int | None = None
    # Its `/master/state` JSON, kept until the task changes (MasterState.task_changed).
    rendered: msgspec.Raw | None = None
    # Counted in its framework's `usage` (active and not terminal).
    in_use: bool = False

    @property
    def task_id(self) -> str:
        return self.task.task_id.value

    @property
    def latest_status(self) -> TaskStatus | None:
        return self.statuses[-1] if self.statuses else None

    def history_record(self) -> CompletedTaskRecord:
        return CompletedTaskRecord(framework_id=self.framework_id, agent_id=self.agent_id,
                                   executor_id=self.executor_id, task=self.task, state=self.state,
                                   statuses=list(self.statuses))


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
    # Known from the registry after a master restart, not re-registered yet: inactive, tasks
    # unknown, unreachable after `agent_reregister_timeout`.
    recovered: bool = False
    # (framework_id, task_id) of the tasks placed on this agent, and the sum of their resources.
    # Changed only through MasterState.place_task / unplace_task.
    task_keys: set[tuple[str, str]] = field(default_factory=set)
    used: RoleResources = field(default_factory=dict)
    # Outstanding offers of this agent's resources (MasterState.add_offer / take_offer).
    offers: set[str] = field(default_factory=set)
    # Rendered state rows by kind ("state", "summary"), dropped whenever the agent changes, and the
    # part of the row the entry never changes (state_json), kept for the entry's life.
    rendered: dict[str, msgspec.Raw] = field(default_factory=dict)
    static_json: dict[str, object] | None = None

    @property
    def pid(self) -> str:
        return f"slave(1)@{self.ip}:{self.port}"

    def record(self) -> AgentRecord:
        return AgentRecord(id=self.id, info=self.info, ip=self.ip, port=self.port,
                           registered_time=self.registered_time, zone=self.zone, version=self.version)


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
    # Known from the registry or from agents after a master restart, not re-subscribed yet.
    recovered: bool = False
    # Known only from agents' reports (not from the registry, nor a SUBSCRIBE to this master).
    learnt_from_agents: bool = False
    tasks: dict[str, TaskEntry] = field(default_factory=dict)
    completed_tasks: deque[TaskEntry] = field(default_factory=deque)
    offers: set[str] = field(default_factory=set)
    # What its active, non-terminal tasks use (MasterState.task_changed keeps it).
    usage: Usage = field(default_factory=Usage)
    # Rendered state rows by kind, dropped whenever the framework, its tasks or its offers change.
    rendered: dict[str, msgspec.Raw] = field(default_factory=dict)

    @property
    def partition_aware(self) -> bool:
        return any(c.type == "PARTITION_AWARE" for c in self.info.capabilities)

    def record(self, disconnected_time: float | None = None) -> FrameworkRecord:
        return FrameworkRecord(info=self.info, registered_time=self.registered_time,
                               disconnected_time=disconnected_time)

    def removed_record(self, seq: int) -> RemovedFrameworkRecord:
        return RemovedFrameworkRecord(info=self.info, registered_time=self.registered_time,
                                      unregistered_time=self.unregistered_time or 0.0, seq=seq)


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


@dataclass(frozen=True, slots=True)
class Persist:
    """Write these registry changes. With `wait`, the instructions after this one (and everything
    the master sends later) leave only once the write is durable: write-ahead, as Mesos's
    registrar does it. Without, the write is merely queued (history, disconnection times)."""

    ops: tuple[RegistryOp, ...]
    wait: bool = True


Instruction = Persist | SendEvent | SendToAgent | CloseStream | DisconnectAgent
