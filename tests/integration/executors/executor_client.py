"""A raw v1 executor HTTP client, so a test can play an executor step by step."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
from typing import Any

import aiohttp
import msgspec

from pydcos.mesos.v1.recordio import RecordIODecoder

Json = dict[str, Any]


def new_uuid() -> str:
    return base64.b64encode(os.urandom(16)).decode()


class ExecutorClient:
    def __init__(self, agent_url: str, framework_id: str, executor_id: str) -> None:
        self.url = agent_url.rstrip("/") + "/api/v1/executor"
        self.framework_id = framework_id
        self.executor_id = executor_id
        self.events: asyncio.Queue[Json] = asyncio.Queue()
        self.seen: list[Json] = []
        self.raw_records: list[bytes] = []
        self.headers: Any = None
        self.ended = asyncio.Event()
        self._session = aiohttp.ClientSession()
        self._reader: asyncio.Task[None] | None = None
        self._response: aiohttp.ClientResponse | None = None

    async def close(self) -> None:
        await self.drop()
        await self._session.close()

    async def drop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._response is not None:
            self._response.close()
            self._response = None

    def body(self, call_type: str, **payload: Any) -> Json:
        return {"type": call_type, "framework_id": {"value": self.framework_id},
                "executor_id": {"value": self.executor_id}, **payload}

    async def subscribe(self, tasks: list[Json] | None = None, updates: list[Json] | None = None) -> tuple[int, str]:
        """SUBSCRIBE; (status, text). On 200 the stream is read in the background."""
        body = self.body("SUBSCRIBE", subscribe={"unacknowledged_tasks": tasks or [],
                                                 "unacknowledged_updates": [{"status": u} for u in updates or []]})
        response = await self._session.post(self.url, json=body, headers={"Accept": "application/json"})
        if response.status != 200:
            text = await response.text()
            response.release()
            return response.status, text
        self.headers = response.headers
        self._response = response
        self.ended.clear()
        self._reader = asyncio.ensure_future(self._read(response))
        return 200, ""

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        decoder = RecordIODecoder()
        try:
            async for chunk in response.content.iter_any():
                for record in decoder.feed(chunk):
                    self.raw_records.append(record)
                    event = msgspec.json.decode(record)
                    self.seen.append(event)
                    await self.events.put(event)
        except aiohttp.ClientError:
            pass
        finally:
            self.ended.set()

    async def next_event(self, kind: str | None = None, timeout: float = 10.0) -> Json:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind or 'event'} within {timeout}s; seen {[e['type'] for e in self.seen]}")
            event = await asyncio.wait_for(self.events.get(), left)
            if kind is None or event["type"] == kind:
                return event

    async def call(self, call_type: str, **payload: Any) -> tuple[int, str]:
        async with self._session.post(self.url, json=self.body(call_type, **payload)) as r:
            return r.status, await r.text()

    async def post_raw(self, data: bytes, content_type: str = "application/json") -> tuple[int, str]:
        async with self._session.post(self.url, data=data, headers={"Content-Type": content_type}) as r:
            return r.status, await r.text()

    async def update(self, task_id: str, state: str, **extra: Any) -> tuple[str, tuple[int, str]]:
        uuid = extra.pop("uuid", None) or new_uuid()
        status = {"task_id": {"value": task_id}, "state": state, "uuid": uuid,
                  "source": "SOURCE_EXECUTOR", "timestamp": int(time.time()), **extra}
        return uuid, await self.call("UPDATE", update={"status": status})
