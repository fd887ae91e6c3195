"""Keeping the catalog in step with the leading master: its v1 event stream, and a poll as safety net.

    find the leader: GET /master/state from each configured master, following its `leader`
      -> load that snapshot
    POST /api/v1 {"type": "SUBSCRIBE"} on the leader
      -> SUBSCRIBED: load its get_state (a snapshot that matches the stream exactly)
      -> TASK_ADDED, TASK_UPDATED, AGENT_*, FRAMEWORK_*: apply each as it arrives
      -> every refresh_seconds: GET /master/state again (the safety net, see `_poll`)
    stream closed, silent for three heartbeats, or leader moved -> back to the top, with backoff

A poll's snapshot is older than the events that arrive while it is in flight. So the events that
arrive after the request is sent are kept, and replayed on top of the snapshot: applying an event
twice ends in the same state, so the result is never older than the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiohttp
import msgspec

from pydcos.core.clock import Clock, SystemClock
from pydcos.core.log import get_logger
from pydcos.dns.errors import MasterUnavailable, StreamEnded
from pydcos.dns.master_view import EVENT_DECODER, Event, MasterView, view_from_state, view_from_v1_state
from pydcos.dns.zone import Catalog
from pydcos.mesos.v1.recordio import RecordIODecoder, RecordIOError

log = get_logger("pydcos.dns.follower")

MIN_BACKOFF = 0.1
MAX_BACKOFF = 5.0
# A stream that lived this long was healthy: reconnect at once after it ends.
HEALTHY_STREAM_S = 10.0
_ERRORS = (aiohttp.ClientError, OSError, TimeoutError, RecordIOError, MasterUnavailable)


class StateFollower:
    def __init__(self, masters: tuple[str, ...], catalog: Catalog, changed: Callable[[], None], *,
                 refresh_seconds: float, state_timeout: float, clock: Clock | None = None) -> None:
        self.masters = masters
        self.catalog = catalog
        self.changed = changed
        self.refresh_seconds = refresh_seconds
        self.state_timeout = state_timeout
        self.clock = clock or SystemClock()
        self.leader: str | None = None
        self.connected = False
        self.last_sync: float | None = None
        self.events = 0
        self.polls = 0
        self.failures = 0
        self._replay: list[Event] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._response: aiohttp.ClientResponse | None = None
        self._poller: asyncio.Task[None] | None = None

    async def run(self) -> None:
        self._session = aiohttp.ClientSession()
        delay = MIN_BACKOFF
        try:
            while True:
                started = self.clock.monotonic()
                try:
                    address, view = await self._find_leader()
                    self._load(view, address)
                    await self._follow(address)
                except _ERRORS as exc:
                    self.failures += 1
                    log.warning("master_stream_down", leader=self.leader or "", error=f"{type(exc).__name__}: {exc}")
                if self.clock.monotonic() - started > HEALTHY_STREAM_S:
                    delay = MIN_BACKOFF
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
        finally:
            self.connected = False
            await self._session.close()

    # --- snapshots ---------------------------------------------------------------------------

    async def _fetch_state(self, address: str) -> MasterView:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=self.state_timeout)
        async with self._session.get(f"http://{address}/master/state", timeout=timeout) as response:
            if response.status != 200:
                raise MasterUnavailable(f"{address} answered /master/state with {response.status}")
            body = await response.read()
        try:
            view = view_from_state(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MasterUnavailable(f"{address} sent a state we cannot read: {exc}") from exc
        self.polls += 1
        return view

    async def _find_leader(self) -> tuple[str, MasterView]:
        """The leader's address and its state, following a non-leader's `leader` as Mesos-DNS does."""
        for address in dict.fromkeys([*([self.leader] if self.leader else []), *self.masters]):
            try:
                view = await self._fetch_state(address)
                leader = view.leader
                if leader is not None and not _same_master(leader, address):
                    address, view = leader, await self._fetch_state(leader)
                    if view.leader is None or not _same_master(view.leader, address):
                        continue
                if view.leader is None:
                    continue
                return address, view
            except _ERRORS as exc:
                log.debug("master_not_usable", master=address, error=f"{type(exc).__name__}: {exc}")
        raise MasterUnavailable(f"no leading master among {', '.join(self.masters)}")

    def _load(self, view: MasterView, address: str) -> None:
        # The leader's pid may carry a port of 0 (bound at random); the address we reached is the truth.
        view.leader = address
        self.leader = address
        self.catalog.load(view)
        self.catalog.apply_many(self._replay or ())
        self.last_sync = self.clock.wall()
        self.changed()

    async def _poll(self, address: str) -> None:
        self._replay = []
        try:
            view = await self._fetch_state(address)
            if view.leader is not None and not _same_master(view.leader, address):
                log.event("leader_moved", old=address, new=view.leader)
                if self._response is not None:
                    self._response.close()
                return
            self._load(view, address)
        finally:
            self._replay = None

    async def _poll_loop(self, address: str) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self._poll(address)
            except _ERRORS as exc:
                log.event("state_poll_failed", master=address, error=f"{type(exc).__name__}: {exc}")

    # --- the event stream --------------------------------------------------------------------

    async def _follow(self, address: str) -> None:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.state_timeout)
        async with self._session.post(f"http://{address}/api/v1", json={"type": "SUBSCRIBE"},
                                      timeout=timeout) as response:
            if response.status != 200:
                raise StreamEnded(f"{address} answered SUBSCRIBE with {response.status}")
            self._response = response
            try:
                await self._read_stream(address, response)
            finally:
                self.connected = False
                self._response = None
                if self._poller is not None:
                    self._poller.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._poller
                    self._poller = None

    async def _read_stream(self, address: str, response: aiohttp.ClientResponse) -> None:
        decoder = RecordIODecoder()
        read_timeout = self.state_timeout
        while True:
            async with asyncio.timeout(read_timeout):
                chunk = await response.content.readany()
            if not chunk:
                raise StreamEnded(f"{address} closed the event stream")
            batch: list[Event] = []  # what one read brought, applied together (zone.apply_many)
            for record in decoder.feed(chunk):
                try:
                    event = EVENT_DECODER.decode(record)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    log.warning("master_event_unreadable", size=len(record), error=str(exc)[:200])
                    continue
                if event.type not in ("SUBSCRIBED", "HEARTBEAT"):
                    batch.append(event)
                    continue
                if batch:
                    self._apply(batch)
                    batch = []
                if event.type == "SUBSCRIBED":
                    heartbeat = event.subscribed.heartbeat_interval_seconds if event.subscribed else None
                    read_timeout = 3 * (heartbeat or self.state_timeout) + 1
                    self._load(view_from_v1_state(event, address), address)
                    self.connected = True
                    log.event("master_stream_up", leader=address, tasks=len(self.catalog.view.tasks))
                    if self._poller is None:
                        self._poller = asyncio.ensure_future(self._poll_loop(address))
            if batch:
                self._apply(batch)

    def _apply(self, events: list[Event]) -> None:
        self.events += len(events)
        if self._replay is not None:
            self._replay.extend(events)
        self.catalog.apply_many(events)
        self.changed()


def _same_master(leader: str, address: str) -> bool:
    """Whether the `leader` a master reports is the master at `address`. A master bound to a random
    port may report port 0 in its pid: then the host alone decides."""
    leader_host, _, leader_port = leader.rpartition(":")
    host, _, port = address.rpartition(":")
    return leader_host == host and leader_port in (port, "0")
