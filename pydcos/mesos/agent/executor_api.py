"""`POST /api/v1/executor`: the Mesos v1 executor HTTP API (JSON), COMPAT §5.3.

SUBSCRIBE -> 200, `Content-Type: application/json`, chunked RecordIO stream (one record per chunk):
SUBSCRIBED, a HEARTBEAT right after it, then the executor's events and a HEARTBEAT whenever the
stream was idle for the heartbeat interval. UPDATE and MESSAGE -> 202 with an empty body. A body
that does not parse or lacks its payload -> 400 with a one-line text; an executor this agent
does not run -> 400; a call other than SUBSCRIBE before the executor subscribed -> 403.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import msgspec
from aiohttp import web

from pydcos.core.log import get_logger
from pydcos.mesos.agent import executor_messages as em
from pydcos.mesos.v1.recordio import frame

log = get_logger("pydcos.agent.executor_api")

HEARTBEAT_RECORD = frame(em.encode_event(em.HEARTBEAT))
# An executor that stops reading its stream is cut off rather than allowed to eat the agent's memory.
MAX_BUFFERED_EVENTS = 100_000
# How often an idle stream checks that its executor is still connected.
LIVENESS_CHECK_S = 1.0

Key = tuple[str, str]


class ExecutorStream:
    """One SUBSCRIBE connection: RecordIO records, one per HTTP chunk, heartbeats when idle."""

    def __init__(self, stream_id: int, key: Key, response: web.StreamResponse, request: web.Request,
                 heartbeat_s: float) -> None:
        self.stream_id = stream_id
        self.key = key
        self._response = response
        self._request = request
        self._heartbeat_s = heartbeat_s
        self._pending: list[bytes] = []
        self._wakeup = asyncio.Event()
        self.closed = False

    def send(self, event: em.ExecutorEvent) -> None:
        if self.closed:
            return
        if len(self._pending) >= MAX_BUFFERED_EVENTS:
            log.warning("executor_stream_overflow", framework_id=self.key[0], executor_id=self.key[1])
            self.close()
            return
        self._pending.append(frame(em.encode_event(event)))
        self._wakeup.set()

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()

    def _gone(self) -> bool:
        transport = self._request.transport
        return transport is None or transport.is_closing()

    async def run(self) -> None:
        """Write until closed or the executor goes away; returns normally in both cases."""
        loop = asyncio.get_running_loop()
        idle_since = loop.time()
        try:
            while True:
                if not self._pending and not self.closed:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(LIVENESS_CHECK_S, self._heartbeat_s)):
                            await self._wakeup.wait()
                    self._wakeup.clear()
                    if self._gone():
                        return
                    if not self._pending and not self.closed:
                        if loop.time() - idle_since >= self._heartbeat_s:
                            await self._response.write(HEARTBEAT_RECORD)
                            idle_since = loop.time()
                        continue
                batch, self._pending = self._pending, []
                for record in batch:
                    await self._response.write(record)
                idle_since = loop.time()
                if self.closed and not self._pending:
                    return
        except (ConnectionError, RuntimeError) as exc:
            log.event("executor_stream_lost", framework_id=self.key[0], executor_id=self.key[1],
                      error=type(exc).__name__)
        finally:
            self.closed = True


class ExecutorEndpoint(Protocol):
    """What the HTTP layer needs from the agent's executor runner."""

    heartbeat_s: float

    def new_stream_id(self) -> int: ...

    def subscribe_problem(self, key: Key) -> tuple[int, str] | None: ...

    def call_problem(self, key: Key) -> tuple[int, str] | None: ...

    def subscribed(self, stream: ExecutorStream, subscribe: em.Subscribe) -> None: ...

    def stream_ended(self, stream: ExecutorStream) -> None: ...

    def call(self, key: Key, call: em.Call) -> None: ...

    def refused(self, key: Key, reason: str) -> None: ...


def refuse(status: int, message: str, key: Key | None = None) -> web.Response:
    log.event("executor_call_refused", status=status, reason=message,
              framework_id=key[0] if key else "", executor_id=key[1] if key else "")
    return web.Response(status=status, text=message, content_type="text/plain")


async def handle(request: web.Request, endpoint: ExecutorEndpoint) -> web.StreamResponse:
    content_type = request.headers.get("Content-Type", "application/json").lower()
    if "protobuf" in content_type:
        return refuse(415, "Only 'application/json' is supported by this agent")
    body = await request.read()
    try:
        call = em.CALL_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        return refuse(400, f"Failed to validate executor::Call: {exc}")
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return refuse(400, f"Failed to parse body into JSON: {exc}")
    key = (call.framework_id.value, call.executor_id.value)
    problem = em.call_problem(call)
    if problem is not None:
        endpoint.refused(key, f"{call.type} answered 400: {problem}")
        return refuse(400, f"Failed to validate executor::Call: {problem}", key)
    if call.type == "SUBSCRIBE":
        return await _subscribe(request, endpoint, key, call.subscribe or em.Subscribe())
    refusal = endpoint.call_problem(key)
    if refusal is not None:
        endpoint.refused(key, f"{call.type} answered {refusal[0]}: {refusal[1]}")
        return refuse(*refusal, key)
    endpoint.call(key, call)
    return web.Response(status=202)


async def _subscribe(request: web.Request, endpoint: ExecutorEndpoint, key: Key,
                     subscribe: em.Subscribe) -> web.StreamResponse:
    refusal = endpoint.subscribe_problem(key)
    if refusal is not None:
        return refuse(*refusal, key)
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.enable_chunked_encoding()
    await response.prepare(request)
    stream = ExecutorStream(endpoint.new_stream_id(), key, response, request, endpoint.heartbeat_s)
    endpoint.subscribed(stream, subscribe)
    try:
        await stream.run()
    finally:
        endpoint.stream_ended(stream)
    return response
