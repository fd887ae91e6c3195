"""The Mesos v1 messages, as typed structs in their JSON form (the shared model).

Field names are Mesos's own. Unknown fields are ignored on decode (clients send `slave_id`,
`command.environment`, `subscribe.credentials`), and free-form parts that we only carry
(container, health checks, discovery, labels) are kept as plain JSON objects so they reach the
agent and the state endpoints unchanged.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec
from msgspec import Struct

JsonObject = dict[str, Any]


class Id(Struct, frozen=True):
    """FrameworkID, AgentID, OfferID, TaskID, ExecutorID, ContainerID: all `{"value": str}`."""

    value: str


# --- resources and attributes -------------------------------------------------------------


class Scalar(Struct, frozen=True):
    value: float


class Range(Struct, frozen=True):
    begin: int
    end: int


class Ranges(Struct, frozen=True):
    range: list[Range] = []


class ValueSet(Struct, frozen=True):
    item: list[str] = []


class Text(Struct, frozen=True):
    value: str


ValueType = Literal["SCALAR", "RANGES", "SET", "TEXT"]


class Resource(Struct, frozen=True, omit_defaults=True):
    name: str
    type: ValueType = "SCALAR"
    scalar: Scalar | None = None
    ranges: Ranges | None = None
    set: ValueSet | None = None
    role: str = "*"
    reservation: JsonObject | None = None
    disk: JsonObject | None = None


class Attribute(Struct, frozen=True, omit_defaults=True):
    name: str
    type: ValueType = "TEXT"
    scalar: Scalar | None = None
    ranges: Ranges | None = None
    set: ValueSet | None = None
    text: Text | None = None


# --- frameworks, masters, agents ----------------------------------------------------------


class Capability(Struct, frozen=True):
    type: str


class FrameworkInfo(Struct, omit_defaults=True):
    user: str = ""
    name: str = ""
    id: Id | None = None
    failover_timeout: float = 0.0
    checkpoint: bool = False
    role: str = "*"
    roles: list[str] = []
    hostname: str | None = None
    principal: str | None = None
    webui_url: str | None = None
    capabilities: list[Capability] = []
    labels: JsonObject | None = None

    def all_roles(self) -> list[str]:
        """MULTI_ROLE frameworks give `roles`; older ones a single `role`."""
        return list(self.roles) if self.roles else [self.role or "*"]


class Address(Struct, frozen=True, omit_defaults=True):
    ip: str
    port: int
    hostname: str | None = None


class MasterInfo(Struct, frozen=True, omit_defaults=True):
    id: str
    ip: int
    port: int
    pid: str
    hostname: str
    version: str
    address: Address


class AgentInfo(Struct, omit_defaults=True):
    hostname: str
    port: int = 5051
    id: Id | None = None
    resources: list[Resource] = []
    attributes: list[Attribute] = []
    checkpoint: bool = True


# --- tasks and executors ------------------------------------------------------------------


class EnvironmentVariable(Struct, frozen=True, omit_defaults=True):
    name: str
    value: str = ""
    type: str | None = None


class Environment(Struct, frozen=True):
    variables: list[EnvironmentVariable] = []


class CommandURI(Struct, frozen=True, omit_defaults=True):
    value: str
    executable: bool = False
    extract: bool = True
    cache: bool = False
    output_file: str | None = None


class CommandInfo(Struct, frozen=True, omit_defaults=True):
    value: str | None = None
    shell: bool = True
    arguments: list[str] = []
    environment: Environment | None = None
    uris: list[CommandURI] = []
    user: str | None = None


class DurationInfo(Struct, frozen=True):
    nanoseconds: int


class KillPolicy(Struct, frozen=True, omit_defaults=True):
    grace_period: DurationInfo | None = None


class ExecutorInfo(Struct, frozen=True, omit_defaults=True):
    executor_id: Id
    framework_id: Id | None = None
    command: CommandInfo | None = None
    resources: list[Resource] = []
    name: str | None = None
    source: str | None = None
    data: str | None = None
    type: str | None = None
    container: JsonObject | None = None
    labels: JsonObject | None = None


class TaskInfo(Struct, frozen=True, omit_defaults=True):
    name: str
    task_id: Id
    agent_id: Id | None = None
    # mesoshttp sends the pre-1.0 name; treated as an alias of agent_id.
    slave_id: Id | None = None
    resources: list[Resource] = []
    executor: ExecutorInfo | None = None
    command: CommandInfo | None = None
    container: JsonObject | None = None
    data: str | None = None
    health_check: JsonObject | None = None
    check: JsonObject | None = None
    kill_policy: KillPolicy | None = None
    labels: JsonObject | None = None
    discovery: JsonObject | None = None

    def target_agent(self) -> str | None:
        chosen = self.agent_id or self.slave_id
        return chosen.value if chosen else None


TaskState = Literal[
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_UNREACHABLE",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
]

TERMINAL_STATES: frozenset[str] = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_ERROR",
        "TASK_LOST",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)

StatusSource = Literal["SOURCE_MASTER", "SOURCE_AGENT", "SOURCE_EXECUTOR"]


class TaskStatus(Struct, frozen=True, omit_defaults=True):
    task_id: Id
    state: TaskState
    message: str | None = None
    source: StatusSource | None = None
    reason: str | None = None
    data: str | None = None
    agent_id: Id | None = None
    executor_id: Id | None = None
    timestamp: float | None = None
    uuid: str | None = None
    healthy: bool | None = None
    labels: JsonObject | None = None
    container_status: JsonObject | None = None


# --- offers and filters -------------------------------------------------------------------


class Offer(Struct, frozen=True, omit_defaults=True):
    id: Id
    framework_id: Id
    agent_id: Id
    hostname: str
    resources: list[Resource] = []
    attributes: list[Attribute] = []
    executor_ids: list[Id] = []
    url: JsonObject | None = None


class Filters(Struct, frozen=True, omit_defaults=True):
    refuse_seconds: float = 5.0


class Launch(Struct, frozen=True):
    task_infos: list[TaskInfo] = []


class TaskGroupInfo(Struct, frozen=True):
    tasks: list[TaskInfo] = []


class LaunchGroup(Struct, frozen=True):
    executor: ExecutorInfo
    task_group: TaskGroupInfo


class Operation(Struct, frozen=True, omit_defaults=True):
    type: str
    launch: Launch | None = None
    launch_group: LaunchGroup | None = None


# --- scheduler calls ----------------------------------------------------------------------


class Subscribe(Struct, frozen=True):
    framework_info: FrameworkInfo
    suppressed_roles: list[str] = []


class Accept(Struct, frozen=True):
    offer_ids: list[Id] = []
    operations: list[Operation] = []
    filters: Filters | None = None


class Decline(Struct, frozen=True):
    offer_ids: list[Id] = []
    filters: Filters | None = None


class Revive(Struct, frozen=True):
    roles: list[str] = []
    role: str | None = None


class Suppress(Struct, frozen=True):
    roles: list[str] = []
    role: str | None = None


class Kill(Struct, frozen=True):
    task_id: Id
    agent_id: Id | None = None
    kill_policy: KillPolicy | None = None


class Shutdown(Struct, frozen=True):
    executor_id: Id
    agent_id: Id


class Acknowledge(Struct, frozen=True):
    agent_id: Id
    task_id: Id
    uuid: str


class ReconcileTask(Struct, frozen=True):
    task_id: Id
    agent_id: Id | None = None


class Reconcile(Struct, frozen=True):
    tasks: list[ReconcileTask] = []


class Message(Struct, frozen=True):
    agent_id: Id
    executor_id: Id
    data: str = ""


class Request(Struct, frozen=True):
    requests: list[JsonObject] = []


class InverseOffers(Struct, frozen=True):
    inverse_offer_ids: list[Id] = []
    filters: Filters | None = None


CallType = Literal[
    "SUBSCRIBE",
    "TEARDOWN",
    "ACCEPT",
    "DECLINE",
    "ACCEPT_INVERSE_OFFERS",
    "DECLINE_INVERSE_OFFERS",
    "REVIVE",
    "KILL",
    "SHUTDOWN",
    "ACKNOWLEDGE",
    "RECONCILE",
    "MESSAGE",
    "REQUEST",
    "SUPPRESS",
]


class Call(Struct, frozen=True):
    """A scheduler call: `type` plus the payload under its lower-cased name."""

    type: CallType
    framework_id: Id | None = None
    subscribe: Subscribe | None = None
    accept: Accept | None = None
    decline: Decline | None = None
    accept_inverse_offers: InverseOffers | None = None
    decline_inverse_offers: InverseOffers | None = None
    revive: Revive | None = None
    kill: Kill | None = None
    shutdown: Shutdown | None = None
    acknowledge: Acknowledge | None = None
    reconcile: Reconcile | None = None
    message: Message | None = None
    request: Request | None = None
    suppress: Suppress | None = None


# Which calls must carry which payload; a call without its payload is malformed (400).
REQUIRED_PAYLOAD: dict[str, str] = {
    "SUBSCRIBE": "subscribe",
    "ACCEPT": "accept",
    "DECLINE": "decline",
    "KILL": "kill",
    "SHUTDOWN": "shutdown",
    "ACKNOWLEDGE": "acknowledge",
    "RECONCILE": "reconcile",
    "MESSAGE": "message",
    "REQUEST": "request",
    "ACCEPT_INVERSE_OFFERS": "accept_inverse_offers",
    "DECLINE_INVERSE_OFFERS": "decline_inverse_offers",
}


def call_problem(call: Call) -> str | None:
    """What is wrong with a decoded call's shape, or None. Pure; used for the 400 answer."""
    payload = REQUIRED_PAYLOAD.get(call.type)
    if payload is not None and getattr(call, payload) is None:
        return f"Expecting '{payload}' to be present"
    if call.type != "SUBSCRIBE" and call.framework_id is None:
        return "Expecting 'framework_id' to be present"
    return None


# --- scheduler events ---------------------------------------------------------------------


class Subscribed(Struct, frozen=True, omit_defaults=True):
    framework_id: Id
    heartbeat_interval_seconds: float
    master_info: MasterInfo


class Offers(Struct, frozen=True):
    offers: list[Offer] = []
    inverse_offers: list[JsonObject] = []


class Rescind(Struct, frozen=True):
    offer_id: Id


class Update(Struct, frozen=True):
    status: TaskStatus


class EventMessage(Struct, frozen=True):
    agent_id: Id
    executor_id: Id
    data: str


class Failure(Struct, frozen=True, omit_defaults=True):
    agent_id: Id | None = None
    executor_id: Id | None = None
    status: int | None = None


class Error(Struct, frozen=True):
    message: str


class Event(Struct, frozen=True, omit_defaults=True):
    type: Literal[
        "SUBSCRIBED", "OFFERS", "INVERSE_OFFERS", "RESCIND", "RESCIND_INVERSE_OFFER",
        "UPDATE", "MESSAGE", "FAILURE", "ERROR", "HEARTBEAT",
    ]
    subscribed: Subscribed | None = None
    offers: Offers | None = None
    rescind: Rescind | None = None
    update: Update | None = None
    message: EventMessage | None = None
    failure: Failure | None = None
    error: Error | None = None


HEARTBEAT = Event(type="HEARTBEAT")

CALL_DECODER = msgspec.json.Decoder(Call)
EVENT_DECODER = msgspec.json.Decoder(Event)
_ENCODER = msgspec.json.Encoder()


def encode(obj: object) -> bytes:
    """Compact JSON, ASCII only: mesoshttp cuts records by character count (COMPAT §4.3)."""
    data = _ENCODER.encode(obj)
    if data.isascii():
        return data
    return json.dumps(msgspec.json.decode(data), ensure_ascii=True, separators=(",", ":")).encode()


def scalar(name: str, value: float, role: str = "*") -> Resource:
    return Resource(name=name, type="SCALAR", scalar=Scalar(value), role=role)


def ranges(name: str, spans: list[tuple[int, int]], role: str = "*") -> Resource:
    return Resource(
        name=name, type="RANGES", ranges=Ranges([Range(b, e) for b, e in spans]), role=role
    )


def value_set(name: str, items: list[str], role: str = "*") -> Resource:
    return Resource(name=name, type="SET", set=ValueSet(sorted(items)), role=role)

