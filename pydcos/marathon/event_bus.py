"""The event stream's fan-out: each `/v2/events` client has a bounded queue and a type filter.

Events are rendered once, and only when some client wants their type (`listening`), so a busy
Marathon with nobody listening builds no event at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

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


def sse_chunk(event_type: str, data: bytes) -> bytes:
    return b"event: " + event_type.encode() + b"\ndata: " + data + b"\n\n"


class EventBus:
    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.subscribers: set[Subscriber] = set()
        self.dropped = 0

    def listening(self, event_type: str) -> bool:
        return any(s.wants(event_type) for s in self.subscribers)

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
        chunk: bytes | None = None
        for sub in list(self.subscribers):
            if not sub.wants(emit.event_type):
                continue
            if chunk is None:
                chunk = sse_chunk(emit.event_type, encode_json(emit.render()))
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
