"""The event fan-out: each `/v2/events` client has a bounded queue and a type filter; sinks
(the HTTP callbacks, callbacks.py) take every event as JSON.

Events are rendered and encoded once, and only when some client or sink wants their type
(`listening`), so a busy Marathon with nobody listening builds no event at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from pydcos.marathon.events import EVENT_TYPES, Emit
from pydcos.marathon.model import format_time
from pydcos.marathon.wire import encode_json


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[bytes | None]
    types: frozenset[str] | None  # None = every type
    remote: str

    def wants(self, event_type: str) -> bool:
        return self.types is None or event_type in self.types


class EventSink(Protocol):
    """Takes every event, as compact JSON, without blocking (it queues and delivers on its own)."""

    @property
    def active(self) -> bool: ...  # wants events now (has somewhere to send them)

    def put(self, event_type: str, data: bytes) -> None: ...


def sse_chunk(event_type: str, data: bytes) -> bytes:
    return b"event: " + event_type.encode() + b"\ndata: " + data + b"\n\n"


class EventBus:
    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.subscribers: set[Subscriber] = set()
        self.sinks: list[EventSink] = []
        self.dropped = 0

    def listening(self, event_type: str) -> bool:
        return any(s.active for s in self.sinks) or any(s.wants(event_type) for s in self.subscribers)

    def subscribe(self, types: frozenset[str] | None, remote: str, wall: float) -> Subscriber:
        sub = Subscriber(asyncio.Queue(self.max_queue), types, remote)
        self.subscribers.add(sub)
        self.publish(Emit("event_stream_attached", wall, lambda: {"remoteAddress": remote}))
        return sub

    def unsubscribe(self, sub: Subscriber, wall: float) -> None:
        if sub in self.subscribers:
            self.subscribers.discard(sub)
            self.publish(Emit("event_stream_detached", wall, lambda: {"remoteAddress": sub.remote}))

    def publish(self, emit: Emit) -> None:
        if emit.event_type not in EVENT_TYPES:
            return
        data: bytes | None = None
        chunk: bytes | None = None
        for sink in self.sinks:
            if sink.active:
                data = data or encode_json(emit.render())
                sink.put(emit.event_type, data)
        for sub in list(self.subscribers):
            if not sub.wants(emit.event_type):
                continue
            if chunk is None:
                chunk = sse_chunk(emit.event_type, data or encode_json(emit.render()))
            try:
                sub.queue.put_nowait(chunk)
            except asyncio.QueueFull:
                # A client this far behind would only see stale events: cut it off.
                self.dropped += 1
                self._end(sub)

    def _end(self, sub: Subscriber) -> None:
        """Stop a client's stream: its handler reads None next and returns."""
        self.subscribers.discard(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)

    def close(self) -> None:
        for sub in list(self.subscribers):
            self._end(sub)


def now_text(wall: float) -> str:
    return format_time(wall)
