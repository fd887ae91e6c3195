"""A store that stops answering: API changes get 503 after `store_timeout`, reads keep working."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import aiohttp
from marathon_helpers import Client

from pydcos.marathon.config import MarathonConfig
from pydcos.marathon.service import Marathon
from pydcos.store import MemoryStore


class StuckStore(MemoryStore):
    """Loads fine, then never finishes a write."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def put_many(self, items: Sequence[tuple[str, bytes | None]]) -> None:
        await self.release.wait()
        await super().put_many(items)


async def test_change_answers_503_when_the_store_hangs() -> None:
    store = StuckStore()
    config = replace(MarathonConfig(ip="127.0.0.1", port=0, master="127.0.0.1:1", mesos_user="nobody"),
                     store_timeout=0.2)
    async with Marathon(config, store=store) as m, aiohttp.ClientSession() as session:
        client = Client(m.url, session)
        status, body = await client.call("POST", "/v2/apps", {"id": "/s", "cmd": "x"})
        assert status == 503 and "store" in body["message"]
        assert (await client.get("/v2/info"))["name"] == "marathon"
        store.release.set()
        await m.persister.flush()
        assert await store.get("/marathon/apps/s") is not None
