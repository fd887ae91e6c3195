"""The scheduler event stream on the wire: a burst of events leaves in few writes, but every
RecordIO record is still exactly one HTTP chunk (docs/COMPAT: some clients parse by chunk)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from pydcos.mesos.master.service import Master
from pydcos.testing.scheduler_client import command_task
from pydcos.testing.simulated_agent import SimulatedAgent

FW = {"user": "root", "name": "chunks"}
TASKS = 60


class RawStream:
    """A SUBSCRIBE read byte by byte off a raw socket: HTTP chunks, each checked to hold one record."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.headers: dict[str, str] = {}

    @classmethod
    async def subscribe(cls, url: str) -> RawStream:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        body = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": FW}}).encode()
        writer.write(b"POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Accept: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        stream = cls(reader, writer)
        status = await reader.readline()
        assert status.startswith(b"HTTP/1.1 200"), status
        while (line := await reader.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            stream.headers[name.strip().lower()] = value.strip()
        assert stream.headers["transfer-encoding"] == "chunked"
        return stream

    async def next_record(self) -> dict[str, Any]:
        size_line = await asyncio.wait_for(self.reader.readline(), 10)
        chunk = await self.reader.readexactly(int(size_line.strip(), 16))
        assert await self.reader.readexactly(2) == b"\r\n"
        prefix, _, record = chunk.partition(b"\n")
        assert int(prefix) == len(record), f"a chunk holds more or less than one record: {chunk[:200]!r}"
        decoded: dict[str, Any] = json.loads(record)
        return decoded

    async def next_event(self, kind: str) -> dict[str, Any]:
        while True:
            event = await self.next_record()
            if event["type"] == kind:
                return event

    def close(self) -> None:
        self.writer.close()


async def test_a_burst_of_updates_is_one_record_per_chunk(master: Master, agent: SimulatedAgent) -> None:
    stream = await RawStream.subscribe(master.url)
    try:
        subscribed = await stream.next_event("SUBSCRIBED")
        framework_id = subscribed["subscribed"]["framework_id"]["value"]
        offer = (await stream.next_event("OFFERS"))["offers"]["offers"][0]
        tasks = [command_task(f"t{i}", agent.agent_id or "", "sleep 100", cpus=0.01, mem=1) for i in range(TASKS)]
        call = {"type": "ACCEPT", "framework_id": {"value": framework_id}, "accept": {
            "offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}}
        async with aiohttp.ClientSession() as session, session.post(
                master.url + "/api/v1/scheduler", json=call,
                headers={"Mesos-Stream-Id": stream.headers["mesos-stream-id"]}) as response:
            assert response.status == 202
        # The simulated agent reports every launch's TASK_RUNNING in one frame: one burst of events.
        seen: set[str] = set()
        while len(seen) < TASKS:
            event = await stream.next_event("UPDATE")
            seen.add(event["update"]["status"]["task_id"]["value"])
        assert seen == {f"t{i}" for i in range(TASKS)}
    finally:
        stream.close()
