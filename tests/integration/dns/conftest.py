from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from dns_cluster import MARATHON, dns_config, master_config

from pydcos.core.waiting import wait_until
from pydcos.dns.service import DnsServer
from pydcos.mesos.master.service import Master
from pydcos.testing.scheduler_client import SchedulerClient
from pydcos.testing.simulated_agent import SimulatedAgent


@pytest.fixture
async def master() -> AsyncIterator[Master]:
    async with Master(master_config()) as m:
        yield m
        assert m.unhandled_errors == 0


@pytest.fixture
async def agents(master: Master) -> AsyncIterator[list[SimulatedAgent]]:
    started = [SimulatedAgent(master.url, ip) for ip in ("127.0.2.1", "127.0.2.2")]
    for a in started:
        await a.start()
    yield started
    for a in started:
        await a.close()


@pytest.fixture
async def dns_server(master: Master, agents: list[SimulatedAgent]) -> AsyncIterator[DnsServer]:
    async with DnsServer(dns_config(master)) as server:
        await wait_until(lambda: server.follower.connected, what="dns follows the master's event stream")
        yield server
        assert server.handler.counters.unhandled_errors == 0


@pytest.fixture
async def marathon(master: Master) -> AsyncIterator[SchedulerClient]:
    async with SchedulerClient(master.url, MARATHON) as s:
        yield s
