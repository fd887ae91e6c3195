"""Custom executors on this agent: their lifecycle and their tasks. Pure.

Per executor (framework id, executor id):

    launching --process started--> registering --SUBSCRIBE--> subscribed <--re-SUBSCRIBE--+
        |                              |                        |  stream closed          |
        |                              |                        +--------> disconnected --+
        +--- shutdown, timeout, fetch failure, exit: terminating --> (process exit) gone

Its first task starts it; tasks wait in `queued_tasks` until it subscribes and are then sent
as LAUNCH (or adopted, when the re-subscribing executor lists them as unacknowledged). Kills,
acknowledgements and framework messages that find no connected stream wait in an outbox
until the executor (re-)subscribes. The executor's updates are deduplicated by uuid and
handed to the status update manager; once the scheduler acknowledges one, the executor gets
ACKNOWLEDGED with its own uuid. When the process ends, every task it had not finished is
reported (TASK_FAILED, TASK_KILLED after a kill or shutdown, or the memory limitation) and the
master learns ExecutorTerminated.

Changed only through `handle()`, which returns instructions for the shell (executor_runner.py).
It also records task placement in the shared AgentState (queued, launched, executor ended);
statuses reach AgentState through the shell, as for command tasks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydcos.mesos.agent import executor_messages as em
from pydcos.mesos.agent.environment import format_duration
from pydcos.mesos.agent.errors import InvalidTask
from pydcos.mesos.agent.executor_events import (
    CallRefused,
    CloseStream,
    Event,
    Exited,
    Forward,
    FrameworkMessage,
    Ignored,
    Instruction,
    Key,
    KillContainer,
    KillRequested,
    MessageReceived,
    RegistrationTimedOut,
    Send,
    SendSubscribed,
    ShutdownRequested,
    Spawn,
    Started,
    StartFailed,
    StartRegistrationTimer,
    Status,
    StreamClosed,
    SubscribeReceived,
    TaskArrived,
    Terminated,
    ToFramework,
    UpdateAcknowledged,
    UpdateLimits,
    UpdateReceived,
)
from pydcos.mesos.agent.state import AgentState
from pydcos.mesos.agent.task_launch import check_executor_task
from pydcos.mesos.agent.task_status import signal_name
from pydcos.mesos.v1.messages import ExecutorInfo, FrameworkInfo, Id, TaskState

Phase = Literal["launching", "registering", "subscribed", "disconnected", "terminating"]

MAX_OUTBOX = 1000  # events kept for a disconnected executor; the oldest messages go first
MAX_UUIDS = 1000  # executor update uuids remembered per executor, for deduplication
LIMITATION = "REASON_CONTAINER_LIMITATION_MEMORY"


@dataclass(slots=True)
class ExecutorRecord:
    framework: FrameworkInfo
    info: ExecutorInfo  # with framework_id filled in
    container_id: str
    directory: str
    phase: Phase = "launching"
    stream: int | None = None
    killing: set[str] = field(default_factory=set)
    outbox: list[em.ExecutorEvent] = field(default_factory=list)
    uuids: OrderedDict[str, tuple[str, bool]] = field(default_factory=OrderedDict)  # uuid -> (task, acked)
    shutdown: bool = False
    failed: bool = False  # its tasks were already failed (registration timeout)
    last_refusal: str | None = None

    @property
    def key(self) -> Key:
        return (self.info.framework_id.value if self.info.framework_id else "", self.info.executor_id.value)


def wait_status(returncode: int | None) -> int | None:
    """The raw wait status Mesos reports for an executor (exit code << 8, or the signal).

    >>> wait_status(0), wait_status(3), wait_status(-9), wait_status(None)
    (0, 768, 9, None)
    """
    if returncode is None:
        return None
    return -returncode if returncode < 0 else returncode << 8


def how_it_ended(returncode: int | None) -> str:
    if returncode is None:
        return "ended before its process started"
    if returncode < 0:
        return f"terminated with signal {signal_name(-returncode)}"
    return f"exited with status {returncode}"


class ExecutorCore:
    """The custom executors of one agent. Invariants: a record exists from its first task until
    its process ended (or failed to start); a task sits in exactly one AgentState list; only a
    subscribed record has a stream that is sent to."""

    def __init__(self, state: AgentState, *, shutdown_grace_s: float) -> None:
        self.state = state
        self.shutdown_grace_s = shutdown_grace_s
        self.records: dict[Key, ExecutorRecord] = {}

    # --- queries ------------------------------------------------------------------------

    def record(self, key: Key) -> ExecutorRecord | None:
        return self.records.get(key)

    def executor_of_task(self, framework_id: str, task_id: str) -> Key | None:
        entry = self.state.find_task(framework_id, task_id)
        if entry is None or (framework_id, entry.executor_id) not in self.records:
            return None
        return (framework_id, entry.executor_id)

    def subscribe_problem(self, key: Key) -> tuple[int, str] | None:
        """Why a SUBSCRIBE from this executor is refused (HTTP status, text), or None."""
        rec = self.records.get(key)
        if rec is None:
            return 400, f"Executor '{key[1]}' of framework '{key[0]}' cannot be found on this agent"
        if rec.phase == "terminating":
            return 400, f"Executor '{key[1]}' is terminating"
        if rec.phase == "launching":
            return 400, f"Executor '{key[1]}' has not been started yet"
        return None

    def call_problem(self, key: Key) -> tuple[int, str] | None:
        """Why an UPDATE or MESSAGE from this executor is refused, or None."""
        rec = self.records.get(key)
        if rec is None:
            return 400, f"Executor '{key[1]}' of framework '{key[0]}' cannot be found on this agent"
        if rec.phase in ("launching", "registering"):
            return 403, "Executor is not subscribed"
        return None

    # --- events -------------------------------------------------------------------------

    def handle(self, *events: Event) -> list[Instruction]:
        out: list[Instruction] = []
        for event in events:
            _HANDLERS[type(event)](self, event, out)
        return out

    def _handle_task_arrived(self, event: TaskArrived, out: list[Instruction]) -> None:
        task, framework = event.task, event.framework
        assert task.executor is not None
        fw_id = framework.id.value if framework.id else ""
        key = (fw_id, task.executor.executor_id.value)
        task_id = task.task_id.value
        rec = self.records.get(key)
        existing = self.state.executor(*key)
        if (rec is not None and rec.phase == "terminating") or (rec is None and existing and existing.terminated):
            out.append(Status(fw_id, task_id, key[1], "TASK_LOST", f"Executor '{key[1]}' is terminating",
                              "REASON_EXECUTOR_TERMINATED"))
            return
        try:
            check_executor_task(framework, task)
            self.state.add_executor_task(framework, task, container_id=event.container_id, directory=event.directory)
        except (InvalidTask, ValueError) as exc:
            out.append(Status(fw_id, task_id, key[1], "TASK_ERROR", str(exc), "REASON_TASK_INVALID"))
            return
        if rec is None:
            info = task.executor
            if info.framework_id is None:
                fields = {f: getattr(info, f) for f in info.__struct_fields__}
                info = ExecutorInfo(**{**fields, "framework_id": Id(fw_id)})
            self.records[key] = ExecutorRecord(framework, info, event.container_id, event.directory)
            out.append(Spawn(key))
            return
        rec.framework = framework
        if rec.phase == "subscribed" and rec.stream is not None:
            self.state.launch_queued(fw_id, task_id)
            out.append(Send(key, rec.stream, em.launch_event(task)))
        if rec.phase != "launching":
            out.append(UpdateLimits(key))

    def _handle_started(self, event: Started, out: list[Instruction]) -> None:
        rec = self.records.get(event.key)
        if rec is not None and rec.phase == "launching":
            rec.phase = "registering"
            out.append(StartRegistrationTimer(event.key))

    def _handle_start_failed(self, event: StartFailed, out: list[Instruction]) -> None:
        rec = self.records.pop(event.key, None)
        if rec is None:
            return
        self._fail_tasks(rec, event.message, event.reason, out)
        self.state.executor_terminated(*event.key)
        out.append(Terminated(*event.key, status=None))

    def _handle_subscribe_received(self, event: SubscribeReceived, out: list[Instruction]) -> None:
        rec = self.records.get(event.key)
        if rec is None or rec.phase not in ("registering", "subscribed", "disconnected"):
            out.append(Ignored("subscribe from an executor that is not running", event.key))
            return
        if rec.stream is not None and rec.stream != event.stream:
            out.append(CloseStream(event.key, rec.stream))
        rec.stream, rec.phase = event.stream, "subscribed"
        out.append(SendSubscribed(event.key, event.stream))
        adopted = {t.task_id.value for t in event.unacknowledged_tasks}
        executor = self.state.executor(*event.key)
        for task_id, entry in list(executor.queued_tasks.items()) if executor else []:
            self.state.launch_queued(event.key[0], task_id)
            if task_id not in adopted:  # an executor that already has a task dies on a second LAUNCH
                out.append(Send(event.key, event.stream, em.launch_event(entry.info)))
        for status in event.unacknowledged_updates:
            self._handle_update_received(UpdateReceived(event.key, status), out)
        outbox, rec.outbox = rec.outbox, []
        out.extend(Send(event.key, event.stream, e) for e in outbox)

    def _handle_stream_closed(self, event: StreamClosed, out: list[Instruction]) -> None:
        rec = self.records.get(event.key)
        if rec is None or rec.stream != event.stream:
            return
        rec.stream = None
        if rec.phase == "subscribed":
            rec.phase = "disconnected"

    def _handle_update_received(self, event: UpdateReceived, out: list[Instruction]) -> None:
        rec = self.records.get(event.key)
        status = event.status
        task_id = status.task_id.value
        entry = self.state.find_task(event.key[0], task_id)
        executor = self.state.executor(*event.key)
        if rec is None or entry is None or executor is None or entry.executor_id != event.key[1]:
            out.append(Ignored(f"update for task '{task_id}', which is not on this executor", event.key))
            return
        if task_id in executor.queued_tasks:
            out.append(Ignored(f"update for task '{task_id}', which was not launched yet", event.key))
            return
        uuid = status.uuid or ""
        seen = rec.uuids.get(uuid)
        if seen is not None:
            if seen[1]:  # acknowledged while the executor did not hear it: say it again
                self._send(rec, em.acknowledged_event(task_id, uuid), out)
            return
        rec.uuids[uuid] = (task_id, False)
        while len(rec.uuids) > MAX_UUIDS:
            rec.uuids.popitem(last=False)
        out.append(Forward(event.key[0], event.key[1], status))

    def _handle_message_received(self, event: MessageReceived, out: list[Instruction]) -> None:
        if event.key in self.records:
            out.append(ToFramework(event.key[0], event.key[1], event.data))

    def _handle_call_refused(self, event: CallRefused, out: list[Instruction]) -> None:
        rec = self.records.get(event.key)
        if rec is not None:
            rec.last_refusal = event.reason

    def _handle_framework_message(self, event: FrameworkMessage, out: list[Instruction]) -> None:
        rec = self.records.get(event.key)
        if rec is None or rec.phase == "terminating":
            out.append(Ignored("framework message for an executor that is not running", event.key))
            return
        self._send(rec, em.message_event(event.data), out)

    def _handle_update_acknowledged(self, event: UpdateAcknowledged, out: list[Instruction]) -> None:
        key = self.executor_of_task(event.framework_id, event.task_id)
        rec = self.records.get(key) if key else None
        seen = rec.uuids.get(event.uuid) if rec else None
        if rec is None or seen is None or seen[0] != event.task_id:
            return  # not the executor's own update (the agent made it): nothing to tell
        rec.uuids[event.uuid] = (event.task_id, True)
        self._send(rec, em.acknowledged_event(event.task_id, event.uuid), out)

    def _handle_kill_requested(self, event: KillRequested, out: list[Instruction]) -> None:
        key = self.executor_of_task(event.framework_id, event.task_id)
        rec = self.records.get(key) if key else None
        executor = self.state.executor(*key) if key else None
        if rec is None or executor is None:
            return
        fw_id, ex_id = rec.key
        if event.task_id in executor.queued_tasks:
            out.append(Status(fw_id, event.task_id, ex_id, "TASK_KILLED",
                              "Killed before it reached its executor", None))
            others = [t for t in executor.queued_tasks if t != event.task_id]
            if not others and not executor.tasks and rec.phase in ("launching", "registering"):
                self._handle_shutdown_requested(ShutdownRequested(rec.key), out)  # nothing left to run
            return
        if event.task_id not in executor.tasks or rec.phase == "terminating":
            return
        rec.killing.add(event.task_id)
        self._send(rec, em.kill_event(event.task_id, event.kill_policy), out)

    def _handle_shutdown_requested(self, event: ShutdownRequested, out: list[Instruction]) -> None:
        rec = self.records.get(event.key)
        if rec is None or rec.phase == "terminating":
            return
        rec.shutdown = True
        if rec.phase in ("subscribed", "disconnected"):
            self._send(rec, em.SHUTDOWN, out)
            out.append(KillContainer(event.key, grace_s=self.shutdown_grace_s))
        else:
            out.append(KillContainer(event.key, grace_s=0.0))
        rec.phase = "terminating"

    def _handle_registration_timed_out(self, event: RegistrationTimedOut, out: list[Instruction]) -> None:
        rec = self.records.get(event.key)
        if rec is None or rec.phase != "registering":
            return
        message = f"Executor '{event.key[1]}' did not subscribe within {format_duration(event.after_s)}"
        if rec.last_refusal:
            message += f"; its last call was refused: {rec.last_refusal}"
        self._fail_tasks(rec, message, "REASON_EXECUTOR_REGISTRATION_TIMEOUT", out)
        rec.failed, rec.phase = True, "terminating"
        out.append(KillContainer(event.key, grace_s=0.0))

    def _handle_exited(self, event: Exited, out: list[Instruction]) -> None:
        rec = self.records.pop(event.key, None)
        if rec is None:
            return
        if rec.stream is not None:
            out.append(CloseStream(event.key, rec.stream))
        if event.limitation is not None:
            self._fail_tasks(rec, event.limitation, LIMITATION, out)
        else:
            message = f"Executor '{event.key[1]}' {how_it_ended(event.returncode)}"
            if rec.last_refusal:
                message += f"; its last call was refused: {rec.last_refusal}"
            self._fail_tasks(rec, message, "REASON_EXECUTOR_TERMINATED", out)
        self.state.executor_terminated(*event.key)
        out.append(Terminated(*event.key, status=wait_status(event.returncode)))

    # --- helpers ------------------------------------------------------------------------

    def _send(self, rec: ExecutorRecord, event: em.ExecutorEvent, out: list[Instruction]) -> None:
        if rec.phase == "subscribed" and rec.stream is not None:
            out.append(Send(rec.key, rec.stream, event))
            return
        rec.outbox.append(event)
        if len(rec.outbox) > MAX_OUTBOX:
            oldest = next((i for i, e in enumerate(rec.outbox) if e.type == "MESSAGE"), 0)
            del rec.outbox[oldest]

    def _fail_tasks(self, rec: ExecutorRecord, message: str, reason: str, out: list[Instruction]) -> None:
        """A terminal status for each task of the executor that has none yet: TASK_FAILED, or
        TASK_KILLED for a task being killed or after a shutdown (unless over a limit)."""
        executor = self.state.executor(*rec.key)
        if executor is None:
            return
        fw_id, ex_id = rec.key
        for task_id in [*executor.queued_tasks, *executor.tasks]:
            killed = (rec.shutdown or task_id in rec.killing) and reason != LIMITATION
            state: TaskState = "TASK_KILLED" if killed else "TASK_FAILED"
            out.append(Status(fw_id, task_id, ex_id, state, message, reason))


_HANDLERS: dict[type, Callable[[ExecutorCore, Any, list[Instruction]], None]] = {
    TaskArrived: ExecutorCore._handle_task_arrived,
    Started: ExecutorCore._handle_started,
    StartFailed: ExecutorCore._handle_start_failed,
    SubscribeReceived: ExecutorCore._handle_subscribe_received,
    StreamClosed: ExecutorCore._handle_stream_closed,
    UpdateReceived: ExecutorCore._handle_update_received,
    MessageReceived: ExecutorCore._handle_message_received,
    CallRefused: ExecutorCore._handle_call_refused,
    FrameworkMessage: ExecutorCore._handle_framework_message,
    UpdateAcknowledged: ExecutorCore._handle_update_acknowledged,
    KillRequested: ExecutorCore._handle_kill_requested,
    ShutdownRequested: ExecutorCore._handle_shutdown_requested,
    RegistrationTimedOut: ExecutorCore._handle_registration_timed_out,
    Exited: ExecutorCore._handle_exited,
}
