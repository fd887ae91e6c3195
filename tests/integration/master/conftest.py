from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master
from pydcos.testing.simulated_agent import SimulatedAgent


@pytest.fixture
async def master() -> AsyncIterator[Master]:
    config = MasterConfig(ip="127.0.0.1", port=0, allocation_interval=0.2, heartbeat_interval=1.0,
                          agent_ping_interval=0.5, agent_unreachable_timeout=1.5, offer_timeout=30.0)
    async with Master(config) as m:
        yield m
        m.state.validate()
        assert m.unhandled_errors == 0


@pytest.fixture
async def agent(master: Master) -> AsyncIterator[SimulatedAgent]:
    a = SimulatedAgent(master.url, "127.0.2.1")
    await a.start()
    yield a
    await a.close()
