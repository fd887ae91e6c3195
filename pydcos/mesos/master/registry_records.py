"""What the master persists in its registry, and how it is keyed and encoded. Pure.

The registry is the part of the master's state that agents and frameworks cannot tell a
restarted master: which agents were admitted (and under which ids), which frameworks subscribed
(with their FrameworkInfo, so the failover timeout is known), which frameworks were removed (so a
removed id stays refused), which agents were declared unreachable, and the master's bounded
history of completed tasks. Running tasks are not here: re-registering agents report them.

Changes travel as `Put` / `Delete` operations inside a `Persist` instruction (registry.py); the
shell writes them through the store (`registrar.py`) and decodes a snapshot at start-up with
`decode_snapshot`. One key per record, so a change costs one row, not a rewrite of the registry:

    /mesos/registry/agents/<agent id>                  AgentRecord
    /mesos/registry/frameworks/<framework id>          FrameworkRecord
    /mesos/registry/removed_frameworks/<framework id>  RemovedFrameworkRecord
    /mesos/registry/unreachable/<agent id>             UnreachableRecord
    /mesos/registry/completed_tasks/<seq, 12 digits>   CompletedTaskRecord

>>> op = Put("unreachable", "S1", UnreachableRecord(time=5.0))
>>> encode_ops([op])
[('/mesos/registry/unreachable/S1', b'{"time":5.0}')]
>>> decode_snapshot(dict(encode_ops([op]))).unreachable
{'S1': UnreachableRecord(time=5.0)}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from pydcos.mesos.v1.messages import AgentInfo, FrameworkInfo, TaskInfo, TaskStatus

PREFIX = "/mesos/registry/"

Kind = Literal["agents", "frameworks", "removed_frameworks", "unreachable", "completed_tasks"]


class AgentRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    info: AgentInfo
    ip: str
    port: int
    registered_time: float
    zone: str = "private"
    version: str = ""


class FrameworkRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    info: FrameworkInfo
    registered_time: float
    # Wall-clock time the framework's stream ended; None while it is connected. The failover
    # timeout counts from here, and from the master's restart for a framework connected then.
    disconnected_time: float | None = None


class RemovedFrameworkRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    info: FrameworkInfo
    registered_time: float
    unregistered_time: float
    # Removal order: completed frameworks are shown oldest first, and clocks can tie.
    seq: int = 0


class UnreachableRecord(msgspec.Struct, frozen=True):
    time: float


class CompletedTaskRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    framework_id: str
    agent_id: str
    executor_id: str
    task: TaskInfo
    state: str
    statuses: list[TaskStatus] = []


Record = AgentRecord | FrameworkRecord | RemovedFrameworkRecord | UnreachableRecord | CompletedTaskRecord

_TYPES: dict[str, type[Record]] = {
    "agents": AgentRecord,
    "frameworks": FrameworkRecord,
    "removed_frameworks": RemovedFrameworkRecord,
    "unreachable": UnreachableRecord,
    "completed_tasks": CompletedTaskRecord,
}
_DECODERS = {kind: msgspec.json.Decoder(t) for kind, t in _TYPES.items()}
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Put:
    kind: Kind
    id: str
    record: Record


@dataclass(frozen=True, slots=True)
class Delete:
    kind: Kind
    id: str


RegistryOp = Put | Delete


def history_id(seq: int) -> str:
    """Completed tasks are keyed by their place in the history, so keys sort in completion order."""
    return f"{seq:012d}"


def key(kind: Kind, record_id: str) -> str:
    return f"{PREFIX}{kind}/{record_id}"


def encode_ops(ops: Iterable[RegistryOp]) -> list[tuple[str, bytes | None]]:
    """Store items for `Store.put_many`, in order (a `None` value deletes)."""
    return [
        (key(op.kind, op.id), _ENCODER.encode(op.record) if isinstance(op, Put) else None)
        for op in ops
    ]


@dataclass(slots=True)
class Snapshot:
    """The registry as read at start-up. Dicts keep the store's key order (sorted)."""

    agents: dict[str, AgentRecord] = field(default_factory=dict)
    frameworks: dict[str, FrameworkRecord] = field(default_factory=dict)
    removed_frameworks: dict[str, RemovedFrameworkRecord] = field(default_factory=dict)
    unreachable: dict[str, UnreachableRecord] = field(default_factory=dict)
    completed_tasks: dict[str, CompletedTaskRecord] = field(default_factory=dict)
    # Keys that are not ours or whose value did not decode: logged by the shell and left alone
    # (a newer master may have written them).
    bad_keys: list[str] = field(default_factory=list)

    def size(self) -> int:
        return (len(self.agents) + len(self.frameworks) + len(self.removed_frameworks)
                + len(self.unreachable) + len(self.completed_tasks))


def decode_snapshot(items: Mapping[str, bytes]) -> Snapshot:
    """Decode every registry key; a record that does not decode is set aside, never fatal."""
    snapshot = Snapshot()
    for full_key in sorted(items):
        kind, _, record_id = full_key.removeprefix(PREFIX).partition("/")
        decoder = _DECODERS.get(kind)
        if not full_key.startswith(PREFIX) or decoder is None or not record_id:
            snapshot.bad_keys.append(full_key)
            continue
        try:
            record = decoder.decode(items[full_key])
        except (msgspec.DecodeError, msgspec.ValidationError):
            snapshot.bad_keys.append(full_key)
            continue
        getattr(snapshot, kind)[record_id] = record
    return snapshot
