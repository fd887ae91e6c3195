"""Fixtures for agent integration tests: a fake master and a real agent in the test's loop."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from agent_fake_master import FakeMaster, fast_config

from pydcos.core.waiting import wait_until
from pydcos.mesos.agent.service import Agent


@pytest.fixture
def work_dir() -> Iterator[str]:
    # Not tmp_path: pytest's tmp tree is mode 0700, which a task run as another user cannot enter.
    path = tempfile.mkdtemp(prefix="pydcos-agent-")
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
        agent = Agent(fast_config(master.address, work_dir, **overrides))
        agents.append(agent)
        await agent.start()
        await wait_until(lambda: agent.registered.is_set(), timeout=10, what="agent registered")
        return agent

    yield make
    for agent in agents:
        await agent.close()
        assert agent.state.validate() == []


@pytest.fixture
async def agent(make_agent: Callable[..., Any]) -> Agent:
    result: Agent = await make_agent()
    return result


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
