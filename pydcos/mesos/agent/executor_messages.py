"""The Mesos v1 executor HTTP API messages (`POST /api/v1/executor`), as typed structs. Pure.

Calls (executor -> agent): SUBSCRIBE, UPDATE, MESSAGE. Events (agent -> executor): SUBSCRIBED,
LAUNCH, LAUNCH_GROUP, KILL, ACKNOWLEDGED, MESSAGE, SHUTDOWN, ERROR, HEARTBEAT, each with its
payload under the lower-cased type name (COMPAT §5.3). Unknown fields are ignored on decode.

>>> call = CALL_DECODER.decode(b'{"type": "MESSAGE", "framework_id": {"value": "F"},'
...                            b' "executor_id": {"value": "E"}, "message": {"data": "aGk="}}')
>>> call_problem(call) is None, call.message.data if call.message else None
(True, 'aGk=')
>>> encode_event(ExecutorEvent(type="KILL", kill=Kill(task_id=Id("t1"))))
b'{"type":"KILL","kill":{"task_id":{"value":"t1"}}}'
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

import msgspec
from msgspec import Struct

from pydcos.mesos.v1.messages import (
    AgentInfo,
    ExecutorInfo,
    FrameworkInfo,
    Id,
    KillPolicy,
    TaskGroupInfo,
    TaskInfo,
    TaskStatus,
    encode,
)

# --- calls --------------------------------------------------------------------------------


class Update(Struct, frozen=True):
    status: TaskStatus


class Subscribe(Struct, frozen=True):
    unacknowledged_tasks: list[TaskInfo] = []
    unacknowledged_updates: list[Update] = []


class Message(Struct, frozen=True):
    data: str = ""


CallType = Literal["SUBSCRIBE", "UPDATE", "MESSAGE"]


class Call(Struct, frozen=True):
    type: CallType
    framework_id: Id
    executor_id: Id
    subscribe: Subscribe | None = None
    update: Update | None = None
    message: Message | None = None


CALL_DECODER = msgspec.json.Decoder(Call)


def valid_uuid(value: str | None) -> bool:
    """A status uuid as Mesos requires it: base64 of exactly 16 bytes."""
    if not value:
        return False
    try:
        return len(base64.b64decode(value, validate=True)) == 16
    except (binascii.Error, ValueError):
        return False


def status_problem(status: TaskStatus) -> str | None:
    if not status.task_id.value:
        return "'status.task_id' is empty"
    if not valid_uuid(status.uuid):
        return "'status.uuid' must be base64 of exactly 16 bytes"
    if status.state == "TASK_STAGING":
        return "executors may not send TASK_STAGING"
    return None


def call_problem(call: Call) -> str | None:
    """What is wrong with a decoded call's shape, or None (the text of the 400 answer)."""
    if not call.framework_id.value or not call.executor_id.value:
        return "Expecting 'framework_id' and 'executor_id' to be non-empty"
    if call.type == "UPDATE":
        if call.update is None:
            return "Expecting 'update' to be present"
        return status_problem(call.update.status)
    if call.type == "MESSAGE" and call.message is None:
        return "Expecting 'message' to be present"
    if call.type == "SUBSCRIBE" and call.subscribe is not None:
        for update in call.subscribe.unacknowledged_updates:
            problem = status_problem(update.status)
            if problem is not None:
                return "In 'subscribe.unacknowledged_updates': " + problem
    return None


# --- events -------------------------------------------------------------------------------


class Subscribed(Struct, frozen=True, omit_defaults=True):
    executor_info: ExecutorInfo
    framework_info: FrameworkInfo
    agent_info: AgentInfo
    container_id: Id | None = None


class Launch(Struct, frozen=True):
    task: TaskInfo


class LaunchGroup(Struct, frozen=True):
    task_group: TaskGroupInfo


class Kill(Struct, frozen=True, omit_defaults=True):
    task_id: Id
    kill_policy: KillPolicy | None = None


class Acknowledged(Struct, frozen=True):
    task_id: Id
    uuid: str


class EventMessage(Struct, frozen=True):
    data: str


class Error(Struct, frozen=True):
    message: str


EventType = Literal[
    "SUBSCRIBED", "LAUNCH", "LAUNCH_GROUP", "KILL", "ACKNOWLEDGED", "MESSAGE", "SHUTDOWN", "ERROR", "HEARTBEAT",
]


class ExecutorEvent(Struct, frozen=True, omit_defaults=True):
    type: EventType
    subscribed: Subscribed | None = None
    launch: Launch | None = None
    launch_group: LaunchGroup | None = None
    kill: Kill | None = None
    acknowledged: Acknowledged | None = None
    message: EventMessage | None = None
    error: Error | None = None


HEARTBEAT = ExecutorEvent(type="HEARTBEAT")
SHUTDOWN = ExecutorEvent(type="SHUTDOWN")


def encode_event(event: ExecutorEvent) -> bytes:
    """Compact, ASCII-only JSON, as on the scheduler stream."""
    return encode(event)


def launch_event(task: TaskInfo) -> ExecutorEvent:
    return ExecutorEvent(type="LAUNCH", launch=Launch(task))


def kill_event(task_id: str, policy: KillPolicy | None = None) -> ExecutorEvent:
    return ExecutorEvent(type="KILL", kill=Kill(Id(task_id), policy))


def acknowledged_event(task_id: str, uuid: str) -> ExecutorEvent:
    return ExecutorEvent(type="ACKNOWLEDGED", acknowledged=Acknowledged(Id(task_id), uuid))


def message_event(data: str) -> ExecutorEvent:
    return ExecutorEvent(type="MESSAGE", message=EventMessage(data))


def error_event(message: str) -> ExecutorEvent:
    return ExecutorEvent(type="ERROR", error=Error(message))
