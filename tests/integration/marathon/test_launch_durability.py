"""A task is launched only once Marathon has stored it: a Marathon that dies between the launch and
the write would come back not knowing a running task, kill it as unknown and start another one
(Marathon's OfferProcessor saves the tasks before it accepts the offer, for this reason)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from marathon_helpers import Client

from pydcos.core.waiting import wait_until
from pydcos.marathon.config import MarathonConfig
from pydcos.marathon.core import CoreConfig
from pydcos.marathon.service import Marathon
from pydcos.mesos.master.service import Master
from pydcos.store import MemoryStore, Versioned
from pydcos.testing.simulated_agent import SimulatedAgent


class JammedStore:
    """A MemoryStore whose writes of instances can be held up; `crash()` drops those and every
    later write, as when the process died (until `revive()`)."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.jam = False
        self.dead = False
        self.held = 0
        self._release = asyncio.Event()

    async def get(self, key: str) -> Versioned | None:
        return await self.inner.get(key)

    async def put(self, key: str, value: bytes, *, expect_version: int | None) -> int:
        return await self.inner.put(key, value, expect_version=expect_version)

    async def delete(self, key: str, *, expect_version: int = -1) -> bool:
        return await self.inner.delete(key, expect_version=expect_version)

    async def list(self, prefix: str) -> list[str]:
        return await self.inner.list(prefix)

    async def get_many(self, keys: Sequence[str]) -> dict[str, Versioned]:
        return await self.inner.get_many(keys)

    async def put_many(self, items: Sequence[tuple[str, bytes | None]]) -> None:
        if self.jam and any(k.startswith("/marathon/instances/") for k, _ in items):
            self.held += 1
            await self._release.wait()
        if not self.dead:
            await self.inner.put_many(items)

    def crash(self) -> None:
        self.dead = True
        self._release.set()

    def revive(self) -> None:
        self.dead = self.jam = False

    async def close(self) -> None:
        pass


def config(master: Master, work_dir: Path) -> MarathonConfig:
    return MarathonConfig(ip="127.0.0.1", port=0, master=master.url, mesos_user="nobody", tick_interval=0.1,
                          health_interval=0.05, work_dir=str(work_dir),
                          core=CoreConfig(decline_refuse_seconds=0.2, kill_retry_seconds=1.0))


async def test_a_launch_waits_for_its_instance_to_be_stored(master: Master, agents: list[SimulatedAgent],
                                                           tmp_path: Path) -> None:
    store = JammedStore()

    def launched() -> set[str]:
        return {t for a in agents for t in a.tasks}

    async with aiohttp.ClientSession() as session:
        first = Marathon(config(master, tmp_path), store=store)
        await first.start()
        try:
            await wait_until(lambda: first.core.connected, what="subscribed")
            c = Client(first.url, session)
            await c.call("POST", "/v2/apps", {"id": "/web", "cmd": "x", "cpus": 0.1, "mem": 8, "instances": 1})
            running = {t["id"] for t in (await c.wait_running("/web", 1))["tasks"]}

            store.jam = True
            status, _ = await c.call("PUT", "/v2/apps/web", {"instances": 2})
            assert status == 200
            await wait_until(lambda: store.held > 0, what="the new instance's write to be held")
            assert launched() == running, "a task was launched before it was stored"
        finally:
            # Marathon dies with the write unfinished: nothing it still wanted to send goes out.
            assert first.link is not None
            await first.link.close()
            store.crash()
            await first.close()
            store.revive()

        async with Marathon(config(master, tmp_path), store=store) as second:
            c = Client(second.url, session)
            tasks = {t["id"] for t in (await c.wait_running("/web", 2))["tasks"]}
            assert running < tasks
            assert launched() == tasks, "every task launched is one Marathon knows"
            assert second.unhandled_errors == 0
