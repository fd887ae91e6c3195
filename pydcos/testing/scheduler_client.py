"""A minimal Mesos v1 scheduler HTTP client for tests and benchmarks (raw JSON, no callbacks).

>>> async with SchedulerClient("http://127.0.0.1:5050", {"user": "root", "name": "t"}) as s:  # doctest: +SKIP
...     offers = await s.next_event("OFFERS")
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import msgspec

from pydcos.mesos.v1.call_pipeline import CallPipeline, PipelineClosed
from pydcos.mesos.v1.recordio import RecordIODecoder

Json = dict[str, Any]
ACK_FLUSH_S = 2.0


class SchedulerClient:
    def __init__(self, master_url: str, framework_info: Json, *, framework_id: str | None = None,
                 auto_ack: bool = True) -> None:
        self.master_url = master_url.rstrip("/")
        self.framework_info = dict(framework_info)
        self.framework_id = framework_id
        self.stream_id: str | None = None
        self.auto_ack = auto_ack
        self.events: asyncio.Queue[Json] = asyncio.Queue()
        self.updates: list[Json] = []
        self._session: aiohttp.ClientSession | None = None
        self._reader: asyncio.Task[None] | None = None
        self._response: aiohttp.ClientResponse | None = None
        self.closed = asyncio.Event()
        self._acks: set[asyncio.Future[None]] = set()
        self._pipeline: CallPipeline | None = None  # acknowledgements, pipelined on one connection
        self._pipeline_opening: asyncio.Future[None] | None = None
        self._acks_lost = 0

    async def __aenter__(self) -> SchedulerClient:
        await self.subscribe()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def subscribe(self) -> Json:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        body: Json = {"type": "SUBSCRIBE", "subscribe": {"framework_info": self.framework_info}}
        if self.framework_id:
            body["framework_id"] = {"value": self.framework_id}
            body["subscribe"]["framework_info"] = {**self.framework_info, "id": {"value": self.framework_id}}
        response = await self._session.post(f"{self.master_url}/api/v1/scheduler", json=body)
        if response.status != 200:
            text = await response.text()
            await self._session.close()
            raise RuntimeError(f"SUBSCRIBE answered {response.status}: {text}")
        self._response = response
        self.stream_id = response.headers["Mesos-Stream-Id"]
        self._reader = asyncio.ensure_future(self._read(response))
        subscribed = await self.next_event("SUBSCRIBED")
        self.framework_id = subscribed["subscribed"]["framework_id"]["value"]
        return subscribed

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        decoder = RecordIODecoder()
        try:
            async for chunk in response.content.iter_any():
                for record in decoder.feed(chunk):
                    event = msgspec.json.decode(record)
                    if event.get("type") == "UPDATE":
                        status = event["update"]["status"]
                        self.updates.append(status)
                        if self.auto_ack and "uuid" in status and not self._acknowledge_now(status):
                            # Acknowledge without holding up the stream (a slow ack must not delay
                            # the events behind it), pipelined as a real framework would.
                            ack = asyncio.ensure_future(self._acknowledge(status))
                            self._acks.add(ack)
                            ack.add_done_callback(self._acks.discard)
                    self.events.put_nowait(event)  # unbounded: never waits
        except (aiohttp.ClientError, ConnectionError):
            pass
        finally:
            self.closed.set()

    def _ack_body(self, status: Json) -> bytes:
        return msgspec.json.encode({"type": "ACKNOWLEDGE", "framework_id": {"value": self.framework_id},
                                    "acknowledge": {"agent_id": status["agent_id"], "task_id": status["task_id"],
                                                    "uuid": status["uuid"]}})

    def _acknowledge_now(self, status: Json) -> bool:
        """Send the acknowledgement at once when the open pipeline can take it without waiting."""
        if self._pipeline is None or self._acks:  # the order of acknowledgements is kept
            return False
        return self._pipeline.send_nowait("ACKNOWLEDGE", self._ack_body(status), self.stream_id or "")

    async def _acknowledge(self, status: Json) -> None:
        body = self._ack_body(status)
        try:
            if self._pipeline is None or self._pipeline.closed:
                if self._pipeline_opening is None:
                    self._pipeline_opening = asyncio.ensure_future(self._open_pipeline())
                await asyncio.shield(self._pipeline_opening)
            assert self._pipeline is not None
            await self._pipeline.send("ACKNOWLEDGE", body, self.stream_id or "")
        except (PipelineClosed, OSError, TimeoutError):  # counted; the master resends the update
            self._acks_lost += 1

    async def _open_pipeline(self) -> None:
        pipeline = CallPipeline(self.master_url, connect_timeout=5.0)
        try:
            await pipeline.open()
            self._pipeline = pipeline
        finally:
            self._pipeline_opening = None

    @property
    def acks_failed(self) -> int:
        """Acknowledgements answered with something else than 202, or lost with their connection."""
        return self._acks_lost + (self._pipeline.failed if self._pipeline is not None else 0)

    async def call(self, kind: str, **payload: Any) -> int:
        assert self._session is not None
        body: Json = {"type": kind, "framework_id": {"value": self.framework_id}, **payload}
        headers = {"Mesos-Stream-Id": self.stream_id or ""}
        async with self._session.post(f"{self.master_url}/api/v1/scheduler", json=body,
                                      headers=headers) as response:
            await response.read()
            return response.status

    async def next_event(self, kind: str | None = None, timeout: float | None = 10.0) -> Json:
        """The next event (of `kind`, skipping others), or TimeoutError (never with `timeout=None`:
        for a caller that bounds a whole loop of reads itself)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if kind is None or event.get("type") == kind:
                    return event

    async def wait_update(self, task_id: str, states: set[str], timeout: float = 10.0) -> Json:
        async with asyncio.timeout(timeout):
            while True:
                for status in self.updates:
                    if status["task_id"]["value"] == task_id and status["state"] in states:
                        return status
                await self.next_event("UPDATE", timeout=timeout)

    async def close(self) -> None:
        """Acknowledgements already under way are given a moment to be answered (as a driver
        would flush them); the rest are dropped, and the master resends those updates."""
        if self._acks:
            await asyncio.wait(list(self._acks), timeout=ACK_FLUSH_S)
        if self._pipeline is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ACK_FLUSH_S):
                    await self._pipeline.wait_answered()
        for ack in list(self._acks):
            ack.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pipeline is not None:
            await self._pipeline.close()
        if self._response is not None:
            self._response.close()
        if self._session is not None:
            await self._session.close()


def command_task(task_id: str, agent_id: str, cmd: str, cpus: float = 0.1, mem: float = 32.0,
                 **extra: Any) -> Json:
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": cmd},
        **extra,
    }
