"""The master <-> agent protocol: the project's own (docs/agent-protocol.md).

One WebSocket per agent, opened by the agent to `GET /internal/agent` on the master; each frame
is one JSON object with a `type` tag. Messages that come in bursts (launches, status updates,
acknowledgements) carry lists, so a burst costs one frame rather than one per task. Liveness is
the WebSocket's own ping/pong on both ends.

Agent -> master: RegisterAgent, StatusUpdates, ExecutorToFramework, ExecutorTerminated.
Master -> agent: AgentRegistered, RunTasks, KillTask(s), AcknowledgeUpdates, FrameworkToExecutor,
ShutdownFramework, ShutdownExecutor, Refused.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct

from pydcos.mesos.v1.messages import (
    AgentInfo,
    ExecutorInfo,
    FrameworkInfo,
    KillPolicy,
    TaskInfo,
    TaskState,
    TaskStatus,
)

AGENT_PATH = "/internal/agent"
# 2: master -> agent `kill_tasks` (several KillTasks in one frame), sent only to agents at 2 or above.
PROTOCOL_VERSION = 2
KILL_TASKS_SINCE = 2


class TaskRecord(Struct, frozen=True, omit_defaults=True):
    """A task as the agent knows it, sent on (re)registration so the master learns the truth."""

    framework_id: str
    executor_id: str
    task: TaskInfo
    state: TaskState
    # The latest status, so a master that restarted can show timestamps and reasons.
    status: TaskStatus | None = None


class ExecutorRecord(Struct, frozen=True, omit_defaults=True):
    framework_id: str
    executor: ExecutorInfo


# --- agent -> master ----------------------------------------------------------------------


class RegisterAgent(Struct, frozen=True, tag="register", tag_field="type", omit_defaults=True):
    """First frame on every connection. `agent_id` None = a new agent; set = reregistration."""

    info: AgentInfo
    ip: str
    port: int
    zone: str = "private"
    version: str = ""
    protocol: int = PROTOCOL_VERSION
    agent_id: str | None = None
    frameworks: list[FrameworkInfo] = []
    executors: list[ExecutorRecord] = []
    tasks: list[TaskRecord] = []


class StatusUpdate(Struct, frozen=True):
    framework_id: str
    status: TaskStatus  # carries uuid, agent_id and executor_id as Mesos sends them


class StatusUpdates(Struct, frozen=True, tag="status_updates", tag_field="type"):
    updates: list[StatusUpdate]


class ExecutorToFramework(Struct, frozen=True, tag="executor_message", tag_field="type"):
    framework_id: str
    executor_id: str
    data: str  # base64


class ExecutorTerminated(Struct, frozen=True, tag="executor_terminated", tag_field="type", omit_defaults=True):
    framework_id: str
    executor_id: str
    status: int | None = None


AgentToMaster = RegisterAgent | StatusUpdates | ExecutorToFramework | ExecutorTerminated


# --- master -> agent ----------------------------------------------------------------------


class AgentRegistered(Struct, frozen=True, tag="registered", tag_field="type"):
    agent_id: str
    master_id: str


class Refused(Struct, frozen=True, tag="refused", tag_field="type"):
    """The master will not take this agent (bad registration). The agent logs it and retries later."""

    message: str


class RunTask(Struct, frozen=True, omit_defaults=True):
    framework: FrameworkInfo  # with `id` set
    task: TaskInfo  # with `agent_id` set


class RunTasks(Struct, frozen=True, tag="run_tasks", tag_field="type"):
    launches: list[RunTask]


class KillTask(Struct, frozen=True, tag="kill_task", tag_field="type", omit_defaults=True):
    framework_id: str
    task_id: str
    kill_policy: KillPolicy | None = None


class KillTasks(Struct, frozen=True, tag="kill_tasks", tag_field="type"):
    """Several KillTasks in one frame (a scale-down kills hundreds at once)."""

    kills: list[KillTask]


class Ack(Struct, frozen=True):
    framework_id: str
    task_id: str
    uuid: str


class AcknowledgeUpdates(Struct, frozen=True, tag="acks", tag_field="type"):
    acks: list[Ack]


class FrameworkToExecutor(Struct, frozen=True, tag="framework_message", tag_field="type"):
    framework_id: str
    executor_id: str
    data: str  # base64


class ShutdownFramework(Struct, frozen=True, tag="shutdown_framework", tag_field="type"):
    framework_id: str


class ShutdownExecutor(Struct, frozen=True, tag="shutdown_executor", tag_field="type"):
    framework_id: str
    executor_id: str


MasterToAgent = (
    AgentRegistered
    | Refused
    | RunTasks
    | KillTask
    | KillTasks
    | AcknowledgeUpdates
    | FrameworkToExecutor
    | ShutdownFramework
    | ShutdownExecutor
)

AGENT_TO_MASTER = msgspec.json.Decoder(AgentToMaster)
MASTER_TO_AGENT = msgspec.json.Decoder(MasterToAgent)
ENCODER = msgspec.json.Encoder()


def encode(msg: AgentToMaster | MasterToAgent) -> bytes:
    return ENCODER.encode(msg)
