"""Fixtures for custom executor tests: a real agent in the test's loop, against the fake master of
the agent tests (protocol-level tests) or the real in-process master (end-to-end with drivers).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "agent"))

from agent_fake_master import FakeMaster, fast_config  # noqa: E402

from pydcos.core.waiting import wait_until  # noqa: E402
from pydcos.mesos.agent.service import Agent  # noqa: E402
from pydcos.mesos.master.config import MasterConfig  # noqa: E402
from pydcos.mesos.master.service import Master  # noqa: E402


@pytest.fixture
def work_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="pydcos-executors-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def master() -> AsyncIterator[FakeMaster]:
    m = FakeMaster()
    await m.start()
    yield m
    await m.close()


@pytest.fixture
async def make_agent(master: FakeMaster, work_dir: str) -> AsyncIterator[Callable[..., Any]]:
    agents: list[Agent] = []

    async def make(**overrides: Any) -> Agent:
        overrides.setdefault("executor_registration_timeout_s", 10.0)
        overrides.setdefault("executor_heartbeat_s", 0.5)
        agent = Agent(fast_config(master.address, work_dir, **overrides))
        agents.append(agent)
        await agent.start()
        await wait_until(lambda: agent.registered.is_set(), timeout=10, what="agent registered")
        return agent

    yield make
    for agent in agents:
        await agent.close()
        assert agent.state.validate() == []
        assert agent.tasks.executors.core.records == {}


@pytest.fixture
async def agent(make_agent: Callable[..., Any]) -> Agent:
    result: Agent = await make_agent()
    return result


@pytest.fixture
async def real_master() -> AsyncIterator[Master]:
    config = MasterConfig(ip="127.0.0.1", port=0, allocation_interval=0.2, heartbeat_interval=1.0,
                          agent_ping_interval=1.0, agent_unreachable_timeout=5.0)
    async with Master(config) as m:
        yield m


@pytest.fixture
async def real_agent(real_master: Master, work_dir: str) -> AsyncIterator[Agent]:
    address = real_master.url.removeprefix("http://").rstrip("/")
    config = fast_config(address, work_dir, executor_registration_timeout_s=20.0, executor_heartbeat_s=1.0)
    async with Agent(config) as a:
        await wait_until(lambda: a.registered.is_set(), what="registered with the real master")
        yield a
        assert a.state.validate() == []


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
