"""HTTP callback delivery: every event also POSTed as JSON to each subscribed URL, as Marathon's
`http_callback` event subscriber does.

Nothing here may hold up the event loop's other work or the API: `put()` only appends to each
subscriber's bounded queue (a full queue drops its oldest event, counted and logged), and one
task per subscriber posts its events one at a time, in order. A failed post (no connection, a
timeout, 5xx, 408 or 429) is tried again a bounded number of times with a doubling wait, which
also holds back that subscriber's later events: order is kept, and a dead subscriber costs one
task and its queue, nothing more. Unsubscribing cancels the task and drops what it held.

    callbacks = HttpCallbacks(CallbackConfig(), count=lambda name, n: None)
    callbacks.start()
    callbacks.subscribe("http://127.0.0.1:9000/events")
    callbacks.put("deployment_success", b'{"eventType": ...}')
    await callbacks.close()
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import aiohttp

from pydcos.core.log import get_logger
from pydcos.marathon.event_subscriptions import retry_delay

log = get_logger("pydcos.marathon.callbacks")
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
Outcome = Literal["delivered", "retry", "rejected"]


@dataclass(frozen=True)
class CallbackConfig:
    queue_size: int = 1000  # events waiting per subscriber; beyond, the oldest is dropped
    timeout: float = 10.0  # per POST, connecting included
    retries: int = 2  # further tries of a failed POST before the event is given up
    backoff: float = 0.5  # wait before the first retry, doubling for each next one
    backoff_max: float = 5.0
    max_subscribers: int = 100


@dataclass(eq=False)
class _Subscriber:
    url: str
    queue: collections.deque[bytes] = field(default_factory=collections.deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    dropping: int = 0  # events dropped since its queue was last empty


class HttpCallbacks:
    """The subscribed URLs and their delivery tasks; an `EventSink` of the event bus.
    Owned by the service: `start()`, then `close()`."""

    def __init__(self, config: CallbackConfig, count: Callable[[str, int], None]) -> None:
        self.config = config
        self._count = count
        self._subs: dict[str, _Subscriber] = {}  # in subscription order
        self._session: aiohttp.ClientSession | None = None

    # --- the sink ---------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return bool(self._subs)

    def put(self, event_type: str, data: bytes) -> None:
        for sub in self._subs.values():
            if len(sub.queue) >= self.config.queue_size:
                sub.queue.popleft()
                sub.dropping += 1
                self._count("event_callbacks_dropped", 1)
                if sub.dropping == 1:
                    log.warning("event_callback_dropping", url=sub.url, queued=len(sub.queue) + 1,
                                event_type=event_type)
            sub.queue.append(data)
            sub.wake.set()

    # --- subscriptions ----------------------------------------------------------------------

    @property
    def urls(self) -> list[str]:
        return list(self._subs)

    def queued(self, url: str) -> int:
        sub = self._subs.get(url)
        return len(sub.queue) if sub is not None else 0

    def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.config.max_subscribers),
                timeout=aiohttp.ClientTimeout(total=self.config.timeout))

    def subscribe(self, url: str) -> bool:
        """Start delivering to `url`; False if it is subscribed already."""
        if url in self._subs:
            return False
        sub = _Subscriber(url)
        sub.task = asyncio.ensure_future(self._deliver(sub))
        self._subs[url] = sub
        log.event("event_callback_subscribed", url=url)
        return True

    async def unsubscribe(self, url: str) -> bool:
        """Stop delivering to `url` (what it had queued is dropped); False if it was not subscribed."""
        sub = self._subs.pop(url, None)
        if sub is None:
            return False
        await self._stop(sub)
        log.event("event_callback_unsubscribed", url=url, dropped=len(sub.queue))
        return True

    async def close(self) -> None:
        subs, self._subs = list(self._subs.values()), {}
        for sub in subs:
            await self._stop(sub)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _stop(self, sub: _Subscriber) -> None:
        if sub.task is not None:
            sub.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sub.task
            sub.task = None

    # --- delivery ---------------------------------------------------------------------------

    async def _deliver(self, sub: _Subscriber) -> None:
        while True:
            if not sub.queue:
                if sub.dropping:
                    log.event("event_callback_caught_up", url=sub.url, dropped=sub.dropping)
                    sub.dropping = 0
                sub.wake.clear()
                await sub.wake.wait()
                continue
            data = sub.queue.popleft()
            try:
                await self._deliver_one(sub, data)
            except Exception:
                # Our bug or the HTTP client's (an address it cannot handle, say): this event is
                # lost, the subscriber is not.
                self._count("event_callbacks_failed", 1)
                log.exception("event_callback_broken", url=sub.url)

    async def _deliver_one(self, sub: _Subscriber, data: bytes) -> None:
        why = ""
        for attempt in range(self.config.retries + 1):
            if attempt:
                self._count("event_callbacks_retried", 1)
                await asyncio.sleep(retry_delay(attempt, base=self.config.backoff, cap=self.config.backoff_max))
            outcome, why = await self._post(sub.url, data)
            if outcome == "delivered":
                self._count("event_callbacks_delivered", 1)
                return
            if outcome == "rejected":
                break  # the subscriber refuses this event: sending it again changes nothing
        self._count("event_callbacks_failed", 1)
        log.warning("event_callback_failed", url=sub.url, why=why, bytes=len(data))

    async def _post(self, url: str, data: bytes) -> tuple[Outcome, str]:
        assert self._session is not None, "start() first"
        try:
            async with self._session.post(url, data=data, headers=_HEADERS, allow_redirects=False) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return "retry", f"{type(exc).__name__}: {exc}"[:200]
        if 200 <= status < 300:
            return "delivered", ""
        if status >= 500 or status in (408, 429):
            return "retry", f"HTTP {status}"
        return "rejected", f"HTTP {status}"
