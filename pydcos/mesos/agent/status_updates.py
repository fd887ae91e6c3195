"""The status update manager: at-least-once delivery of task status updates. Pure.

Per task, a FIFO of updates; only its head is in flight. The head is forwarded, then resent with
backoff until an acknowledgement carrying its uuid arrives; then the next update goes out. While
no master is registered nothing is in flight; on (re)registration every head is resent at once.
Once a task's terminal update is acknowledged its stream ends (`StreamCompleted`).

Changed only through `handle()`; time comes from the injected clock.

>>> from pydcos.core.clock import FakeClock
>>> m = StatusUpdateManager(clock=FakeClock(), first_retry_s=2.0)
>>> m.handle(Connected())
[]
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field

from pydcos.core.clock import Clock
from pydcos.mesos.internal import StatusUpdate
from pydcos.mesos.v1.messages import TERMINAL_STATES

StreamKey = tuple[str, str]  # (framework_id, task_id)


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpdateProduced:
    update: StatusUpdate


@dataclass(frozen=True, slots=True)
class AckReceived:
    framework_id: str
    task_id: str
    uuid: str


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: resend the heads whose retry time has come."""


@dataclass(frozen=True, slots=True)
class Connected:
    """Registered (again) with a master: every head is resent now."""


@dataclass(frozen=True, slots=True)
class Disconnected:
    pass


Event = UpdateProduced | AckReceived | Tick | Connected | Disconnected


# --- instructions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Forward:
    update: StatusUpdate


@dataclass(frozen=True, slots=True)
class StreamCompleted:
    """The task's terminal update was acknowledged: nothing more will be sent for it."""

    framework_id: str
    task_id: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event that changed nothing (duplicate ack, update after a terminal one); for the log."""

    reason: str
    framework_id: str
    task_id: str


Instruction = Forward | StreamCompleted | Ignored


@dataclass(slots=True)
class _Stream:
    pending: deque[StatusUpdate] = field(default_factory=deque)
    retry_at: float | None = None  # None = the head is not in flight
    backoff: float = 0.0
    generation: int = 0  # bumps whenever retry_at changes, so stale heap entries are skipped
    terminal_queued: bool = False


class StatusUpdateManager:
    """Invariants: a stream exists only while it has pending updates; only heads are sent;
    nothing is in flight while disconnected; nothing is queued after a terminal update."""

    def __init__(self, *, clock: Clock, first_retry_s: float = 2.0, max_retry_s: float = 60.0) -> None:
        if first_retry_s <= 0 or max_retry_s < first_retry_s:
            raise ValueError("need 0 < first_retry_s <= max_retry_s")
        self._clock = clock
        self._first = first_retry_s
        self._max = max_retry_s
        self._streams: dict[StreamKey, _Stream] = {}
        self._timers: list[tuple[float, int, StreamKey, int]] = []
        self._seq = itertools.count()
        self.connected = False

    # --- queries ------------------------------------------------------------------------

    def pending_count(self) -> int:
        """Updates not yet acknowledged, over all tasks."""
        return sum(len(s.pending) for s in self._streams.values())

    def pending(self, framework_id: str, task_id: str) -> list[StatusUpdate]:
        stream = self._streams.get((framework_id, task_id))
        return list(stream.pending) if stream else []

    def head(self, framework_id: str, task_id: str) -> StatusUpdate | None:
        """The task's update in flight (or waiting to be), if any."""
        stream = self._streams.get((framework_id, task_id))
        return stream.pending[0] if stream else None

    def next_deadline(self) -> float | None:
        """The monotonic time of the next resend, for the shell's timer."""
        while self._timers:
            at, _, key, generation = self._timers[0]
            stream = self._streams.get(key)
            if stream is not None and stream.generation == generation and stream.retry_at is not None:
                return at
            heapq.heappop(self._timers)
        return None

    # --- events -------------------------------------------------------------------------

    def handle(self, *events: Event) -> list[Instruction]:
        out: list[Instruction] = []
        for event in events:
            if isinstance(event, UpdateProduced):
                self._handle_update_produced(event, out)
            elif isinstance(event, AckReceived):
                self._handle_ack_received(event, out)
            elif isinstance(event, Tick):
                self._handle_tick(out)
            elif isinstance(event, Connected):
                self._handle_connected(out)
            else:
                self._handle_disconnected()
        return out

    def _handle_update_produced(self, event: UpdateProduced, out: list[Instruction]) -> None:
        update = event.update
        key = (update.framework_id, update.status.task_id.value)
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = _Stream()
        elif stream.terminal_queued:
            out.append(Ignored("update after a terminal update", *key))
            return
        stream.pending.append(update)
        stream.terminal_queued = update.status.state in TERMINAL_STATES
        if len(stream.pending) == 1 and self.connected:
            self._send_head(key, stream, out, first=True)

    def _handle_ack_received(self, event: AckReceived, out: list[Instruction]) -> None:
        key = (event.framework_id, event.task_id)
        stream = self._streams.get(key)
        if stream is None or stream.pending[0].status.uuid != event.uuid:
            out.append(Ignored("acknowledgement for no update in flight", *key))
            return
        acked = stream.pending.popleft()
        stream.retry_at = None
        stream.generation += 1
        if acked.status.state in TERMINAL_STATES or not stream.pending:
            del self._streams[key]
            if acked.status.state in TERMINAL_STATES:
                out.append(StreamCompleted(*key))
            return
        if self.connected:
            self._send_head(key, stream, out, first=True)

    def _handle_tick(self, out: list[Instruction]) -> None:
        if not self.connected:
            return
        now = self._clock.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, key, generation = heapq.heappop(self._timers)
            stream = self._streams.get(key)
            if stream is None or stream.generation != generation or stream.retry_at is None:
                continue
            self._send_head(key, stream, out, first=False)

    def _handle_connected(self, out: list[Instruction]) -> None:
        self.connected = True
        for key, stream in self._streams.items():
            self._send_head(key, stream, out, first=True)

    def _handle_disconnected(self) -> None:
        self.connected = False
        for stream in self._streams.values():
            stream.retry_at = None
            stream.generation += 1
        self._timers.clear()

    def _send_head(self, key: StreamKey, stream: _Stream, out: list[Instruction], *, first: bool) -> None:
        # Cap the backoff: after a long partition every task resends at once, and uncapped
        # doubling would leave updates undelivered for hours once the master is back.
        stream.backoff = self._first if first else min(stream.backoff * 2, self._max)
        stream.retry_at = self._clock.monotonic() + stream.backoff
        stream.generation += 1
        heapq.heappush(self._timers, (stream.retry_at, next(self._seq), key, stream.generation))
        out.append(Forward(stream.pending[0]))
