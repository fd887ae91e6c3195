"""An in-process cluster for Marathon: a real master, simulated agents, Marathon, on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from marathon_helpers import Client, marathon_config

from pydcos.core.waiting import wait_until
from pydcos.marathon.service import Marathon
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master
from pydcos.testing.simulated_agent import SimulatedAgent

Json = dict[str, Any]


@pytest.fixture
async def master() -> AsyncIterator[Master]:
    config = MasterConfig(ip="127.0.0.1", port=0, allocation_interval=0.1, heartbeat_interval=1.0,
                          agent_ping_interval=0.5, agent_unreachable_timeout=1.5, offer_timeout=30.0)
    async with Master(config) as m:
        yield m
        assert m.unhandled_errors == 0


@pytest.fixture
async def agents(master: Master) -> AsyncIterator[list[SimulatedAgent]]:
    started = [SimulatedAgent(master.url, f"127.0.3.{n}") for n in (1, 2)]
    for a in started:
        await a.start()
    yield started
    for a in started:
        await a.close()


@pytest.fixture
async def marathon(master: Master, agents: list[SimulatedAgent], tmp_path: Path) -> AsyncIterator[Marathon]:
    config = replace(marathon_config(master), work_dir=str(tmp_path / "marathon"))
    async with Marathon(config) as m:
        await wait_until(lambda: m.core.connected, what="marathon subscribed")
        yield m
        assert m.unhandled_errors == 0


@pytest.fixture
async def client(marathon: Marathon) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(marathon.url, session)
