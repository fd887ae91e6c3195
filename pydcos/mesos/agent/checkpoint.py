"""Checkpoint records and recovery decisions. Pure (no file system, no clock).

Layout under `WORK/meta/` (written by `checkpoint_store.py`):

    slaves/latest                                        the agent id, for re-registration
    slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>/
        container.json                                   ContainerRecord (framework, tasks, pid, ...)
        tasks/<task>/updates                             append-only log: one JSON line per update
                                                         (written before it is sent), one per ack

Recovery replays each log into the StatusUpdateManager (what is unacknowledged is pending again)
and decides, per container, from what the machine says now (`decide`):

    a terminal update is logged          -> Done: nothing runs, resend what is unacknowledged
    running (under the task launcher,
      or pid alive with its start time)  -> Reattach
    ended, its status known (launcher's
      unreleased exit; an older agent's
      wrapper file)                      -> Ended with the real status
    gone, status unknown                 -> Ended TASK_FAILED / TASK_KILLED (kill requested)
    never started (no pid recorded)      -> Ended TASK_FAILED

>>> parse_log(encode_ack("u1") + b'{"type":"upd')        # a torn last line is ignored
[AckLine(uuid='u1')]
>>> exit_returncode(137), exit_returncode(3)
(-9, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from pydcos.mesos import internal
from pydcos.mesos.agent import status_updates as su
from pydcos.mesos.agent.task_status import exit_outcome
from pydcos.mesos.v1.messages import TERMINAL_STATES, ExecutorInfo, FrameworkInfo, TaskInfo, TaskState

EXIT_FILE = ".pydcos_exit"


class ContainerRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """One checkpointed command task's container."""

    framework: FrameworkInfo
    executor_id: str
    container_id: str
    sandbox: str
    tasks: list[TaskInfo]
    pid: int | None = None
    start_time: int | None = None  # field 22 of /proc/PID/stat: tells a reused pid apart
    cgroups: dict[str, str] = {}
    kill_requested: bool = False
    executor: ExecutorInfo | None = None  # a custom executor's container (tasks: those given to it)

    @property
    def framework_id(self) -> str:
        return self.framework.id.value if self.framework.id else ""


class UpdateLine(msgspec.Struct, frozen=True, tag="update", tag_field="type"):
    update: internal.StatusUpdate


class AckLine(msgspec.Struct, frozen=True, tag="ack", tag_field="type"):
    uuid: str


LogLine = UpdateLine | AckLine
_LINE_DECODER = msgspec.json.Decoder(LogLine)
_RECORD_DECODER = msgspec.json.Decoder(ContainerRecord)
_ENCODER = msgspec.json.Encoder()


def encode_record(record: ContainerRecord) -> bytes:
    return _ENCODER.encode(record)


def decode_record(data: bytes) -> ContainerRecord | None:
    """None when the file is not a record (torn, from another version)."""
    try:
        return _RECORD_DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def encode_update(update: internal.StatusUpdate) -> bytes:
    return _ENCODER.encode(UpdateLine(update)) + b"\n"


def encode_ack(uuid: str) -> bytes:
    return _ENCODER.encode(AckLine(uuid)) + b"\n"


def parse_log(data: bytes) -> list[LogLine]:
    """The lines of an update log; a line that does not decode (torn by a crash) is skipped."""
    out: list[LogLine] = []
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            out.append(_LINE_DECODER.decode(raw))
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
    return out


@dataclass(frozen=True, slots=True)
class Replayed:
    updates: list[internal.StatusUpdate]  # every logged update, in order
    completed: bool  # the terminal update was acknowledged: the stream is over
    latest: TaskState | None  # the state of the newest logged update

    @property
    def terminal(self) -> bool:
        return self.latest in TERMINAL_STATES


def replay(manager: su.StatusUpdateManager, lines: list[LogLine]) -> Replayed:
    """Feed a task's log into the (disconnected) manager: unacknowledged updates become pending."""
    updates: list[internal.StatusUpdate] = []
    completed = False
    for line in lines:
        if isinstance(line, UpdateLine):
            updates.append(line.update)
            manager.handle(su.UpdateProduced(line.update))
        elif updates:
            out = manager.handle(su.AckReceived(updates[-1].framework_id, updates[-1].status.task_id.value, line.uuid))
            completed = completed or any(isinstance(i, su.StreamCompleted) for i in out)
    latest = updates[-1].status.state if updates else None
    return Replayed(updates, completed, latest)


# --- what to do with a recovered container -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    """Its terminal update is already logged: only delivery is left."""


@dataclass(frozen=True, slots=True)
class Reattach:
    pid: int


@dataclass(frozen=True, slots=True)
class Ended:
    state: TaskState
    message: str
    reason: str | None


Decision = Done | Reattach | Ended


def exit_returncode(code: int) -> int:
    """An older agent's wrapper recorded the shell's `$?` (EXIT_FILE): above 128 means killed by
    signal code - 128. Read only for tasks such an agent started (upgrades)."""
    return -(code - 128) if 128 < code < 128 + 65 else code


def decide(record: ContainerRecord, replayed: Replayed, *, alive: bool, returncode: int | None) -> Decision:
    """`alive`: the task's process runs; `returncode` (negative: killed by that signal): how it
    ended, when known (from the task launcher, or an older agent's wrapper file)."""
    if replayed.terminal:
        return Done()
    if record.pid is not None and alive:
        return Reattach(record.pid)
    if record.pid is None:
        return Ended("TASK_FAILED", "Task was not started before the agent went down",
                     "REASON_CONTAINER_LAUNCH_FAILED")
    if returncode is not None:
        state, message, reason = exit_outcome(returncode, killed=record.kill_requested)
        return Ended(state, message, reason)
    if record.kill_requested:
        return Ended("TASK_KILLED", "Command terminated while the agent was down", None)
    return Ended("TASK_FAILED", "Executor terminated while the agent was down", "REASON_EXECUTOR_TERMINATED")


def proc_start_time(stat: str) -> int | None:
    """Field 22 (starttime, clock ticks since boot) of a /proc/PID/stat line.

    >>> proc_start_time("42 (a b) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1 2")
    98765
    """
    _, sep, rest = stat.rpartition(")")
    fields = rest.split()
    if not sep or len(fields) < 20:
        return None
    value = fields[19]  # field 3 is fields[0]
    return int(value) if value.isdigit() else None
