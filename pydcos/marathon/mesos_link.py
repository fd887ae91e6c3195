"""Marathon's connection to the Mesos master over the v1 scheduler HTTP API.

One task keeps a subscription open: SUBSCRIBE (with the framework id once known, so tasks
survive a Marathon restart), follow a 307 to the leader, read the RecordIO stream, and on any
end try the masters again with a doubling backoff. A stream silent for a few heartbeat
intervals counts as dead. What arrives is put on `inbox` as `Subscribed`, `Disconnected` or the
Mesos `Event` itself, for the service to hand to the core in order.

Calls go out in order over one pipelined connection (pydcos/mesos/v1/call_pipeline.py), so a DECLINE cannot
overtake the REVIVE meant to clear it; ACKNOWLEDGEs wait behind every other call: during a burst
the master's time is better spent on kills and launches (the agent resends an update only after
seconds without its ack): they are held `ack_delay` (0.25 s) and then sent when nothing else waits.
Calls made while no stream is open are dropped: offers die with the stream, kills are retried
by the core and the agent resends unacknowledged updates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import msgspec

from pydcos.core.log import get_logger
from pydcos.mesos.v1 import messages as v1
from pydcos.mesos.v1.call_pipeline import CallPipeline, PipelineClosed
from pydcos.mesos.v1.recordio import RecordIODecoder

log = get_logger("pydcos.marathon.mesos")
LATER_CALLS = frozenset({"ACKNOWLEDGE"})


@dataclass(frozen=True)
class Subscribed:
    framework_id: str
    master_url: str


@dataclass(frozen=True)
class Disconnected:
    reason: str


LinkEvent = Subscribed | Disconnected | v1.Event


class LinkError(Exception):
    pass


def master_url(address: str) -> str:
    if address.startswith(("http://", "https://")):
        return address.rstrip("/")
    return f"http://{address}"


def redirect_target(location: str, current: str) -> str:
    """A 307 `Location` (`//host:port/api/v1/scheduler`, `http://...`, `host:port`) as a base URL."""
    if "://" not in location and not location.startswith("//"):
        location = "//" + location
    parts = urlsplit(location)
    scheme = parts.scheme or urlsplit(current).scheme or "http"
    return f"{scheme}://{parts.netloc}"


class MesosLink:
    def __init__(self, masters: list[str], framework_info: v1.FrameworkInfo, *, framework_id: str | None,
                 connect_timeout: float = 5.0, backoff_min: float = 0.2, backoff_max: float = 10.0,
                 heartbeat_misses: float = 3.0, ack_delay: float = 0.25) -> None:
        self.masters = [master_url(m) for m in masters]
        self.framework_info = framework_info
        self.framework_id = framework_id
        self.connect_timeout = connect_timeout
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.heartbeat_misses = heartbeat_misses
        self.inbox: asyncio.Queue[LinkEvent] = asyncio.Queue()
        self.url: str | None = None  # the master of the open stream
        self.stream_id: str | None = None
        self._calls_failed = 0
        self.calls_dropped = 0
        self._session: aiohttp.ClientSession | None = None
        self._lane = _Lane(ack_delay)
        self._pipeline: CallPipeline | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=4)
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=self.connect_timeout))
        self._tasks = [asyncio.ensure_future(self._run()), asyncio.ensure_future(self._send_loop())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._pipeline is not None:
            await self._pipeline.close()
            self._pipeline = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- calls ------------------------------------------------------------------------------

    def send(self, call: v1.Call) -> None:
        self._lane.put(call, later=call.type in LATER_CALLS)

    @property
    def calls_failed(self) -> int:
        return self._calls_failed + (self._pipeline.failed if self._pipeline is not None else 0)

    async def _send_loop(self) -> None:
        while True:
            call = await self._lane.get()
            url, stream_id, framework_id = self.url, self.stream_id, self.framework_id
            if url is None or stream_id is None or framework_id is None:
                self.calls_dropped += 1
                continue
            body = v1.encode(_with_framework(call, framework_id))
            try:
                pipeline = await self._pipeline_to(url)
                await pipeline.send(call.type, body, stream_id)
            except (OSError, TimeoutError, PipelineClosed) as exc:
                self._calls_failed += 1
                log.warning("call_failed", call=call.type, error=str(exc) or exc.__class__.__name__)

    async def _pipeline_to(self, url: str) -> CallPipeline:
        current = self._pipeline
        if current is not None and current.base_url == url and not current.closed:
            return current
        if current is not None:
            self._calls_failed += current.failed
            await current.close()
            self._pipeline = None
        fresh = CallPipeline(url, self.connect_timeout)
        await fresh.open()
        self._pipeline = fresh
        return fresh

    # --- the subscription -------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.backoff_min
        index = 0
        while True:
            target = self.masters[index % len(self.masters)]
            index += 1
            try:
                reason = await self._subscribe_and_read(target)
                backoff = self.backoff_min
            except (aiohttp.ClientError, OSError, TimeoutError, LinkError, ValueError) as exc:
                reason = f"{exc.__class__.__name__}: {exc}"
            if self.url is not None:
                self.url = self.stream_id = None
                await self.inbox.put(Disconnected(reason))
            log.event("mesos_disconnected", master=target, reason=reason, retry_s=round(backoff, 2))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max)

    def _subscribe_body(self) -> bytes:
        info = self.framework_info
        call = v1.Call(type="SUBSCRIBE", subscribe=v1.Subscribe(framework_info=info))
        if self.framework_id:
            info = _replace_id(info, self.framework_id)
            call = v1.Call(type="SUBSCRIBE", framework_id=v1.Id(self.framework_id),
                           subscribe=v1.Subscribe(framework_info=info))
        return v1.encode(call)

    async def _subscribe_and_read(self, base: str) -> str:
        assert self._session is not None
        for _ in range(5):  # follow a few redirects to the leader
            async with asyncio.timeout(self.connect_timeout):
                response = await self._session.post(
                    f"{base}/api/v1/scheduler", data=self._subscribe_body(), allow_redirects=False,
                    headers={"Content-Type": "application/json", "Accept": "application/json"})
            if response.status == 307 and "Location" in response.headers:
                response.release()
                base = redirect_target(response.headers["Location"], base)
                continue
            if response.status != 200:
                text = (await response.read())[:200]
                response.release()
                raise LinkError(f"SUBSCRIBE to {base} answered {response.status}: {text!r}")
            try:
                return await self._read_stream(base, response)
            finally:
                response.close()
        raise LinkError(f"too many redirects from {base}")

    async def _read_stream(self, base: str, response: aiohttp.ClientResponse) -> str:
        decoder = RecordIODecoder()
        stream_id = response.headers.get("Mesos-Stream-Id", "")
        silence = self.connect_timeout * 3
        while True:
            try:
                async with asyncio.timeout(silence):
                    chunk = await response.content.readany()
            except TimeoutError:
                return f"no heartbeat for {silence:.1f}s"
            if not chunk:
                return "stream ended"
            for record in decoder.feed(chunk):
                event = v1.EVENT_DECODER.decode(record)
                if event.type == "SUBSCRIBED" and event.subscribed is not None:
                    self.framework_id = event.subscribed.framework_id.value
                    self.url, self.stream_id = base, stream_id
                    silence = max(event.subscribed.heartbeat_interval_seconds * self.heartbeat_misses, 1.0)
                    log.event("mesos_subscribed", master=base, framework_id=self.framework_id)
                    await self.inbox.put(Subscribed(self.framework_id, base))
                elif event.type == "ERROR":
                    message = event.error.message if event.error else ""
                    log.warning("mesos_error", message=message)
                    # The master forgot us (torn down, or past the failover timeout): register anew.
                    self.framework_id = None
                    await self.inbox.put(event)
                    return f"ERROR: {message}"
                elif event.type != "HEARTBEAT":
                    await self.inbox.put(event)


class _Lane:
    """A FIFO of calls, and behind it a FIFO of calls that wait `delay` seconds before they may go
    (acknowledgements: the agent resends an update only after seconds without one, so holding them
    a moment keeps them off the master while a burst of kills and updates goes through)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._first: deque[v1.Call] = deque()
        self._later: deque[tuple[float, v1.Call]] = deque()
        self._ready = asyncio.Event()

    def put(self, call: v1.Call, *, later: bool = False) -> None:
        if later:
            self._later.append((asyncio.get_running_loop().time() + self.delay, call))
        else:
            self._first.append(call)
        self._ready.set()

    async def get(self) -> v1.Call:
        loop = asyncio.get_running_loop()
        while True:
            if self._first:
                return self._first.popleft()
            wait: float | None = None
            if self._later:
                wait = self._later[0][0] - loop.time()
                if wait <= 0:
                    return self._later.popleft()[1]
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), wait)


def _replace_id(info: v1.FrameworkInfo, framework_id: str) -> v1.FrameworkInfo:
    return msgspec.structs.replace(info, id=v1.Id(framework_id))


def _with_framework(call: v1.Call, framework_id: str) -> v1.Call:
    return msgspec.structs.replace(call, framework_id=v1.Id(framework_id))
