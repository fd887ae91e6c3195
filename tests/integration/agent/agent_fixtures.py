"""The fixtures agent and executor integration tests share: a work dir tasks can enter, the fake
master, a real agent (or several) in the test's loop, an HTTP session, and for recovery tests a
real master in the loop with the agent as a real process (`start_agent`). A conftest imports them;
one that wants other agent settings overrides `agent_overrides`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from agent_fake_master import FakeMaster, fast_config
from agent_process import AgentProcess

from pydcos.core.waiting import wait_until, wait_until_sync
from pydcos.mesos.agent.service import Agent
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master

StartAgent = Callable[..., Awaitable[AgentProcess]]


@pytest.fixture
def work_dir() -> Iterator[str]:
    # Not tmp_path: pytest's tmp tree is mode 0700, which a task run as another user cannot enter.
    path = tempfile.mkdtemp(prefix="pydcos-agent-")
    os.chmod(path, 0o755)
    yield path
    stop_launchers(path)
    shutil.rmtree(path, ignore_errors=True)


def stop_launchers(work_dir: str) -> None:
    """A test that ended with its agent SIGKILLed leaves the work dir's task launcher (and its
    tasks) running: it waits for an agent that will not come. Stop them, found by the work dir on
    the launcher's command line and by being its children."""
    argv_tail = ["pydcos.mesos.agent.launcher", "--work-dir", work_dir]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv[-4:-1] != argv_tail and argv[-3:] != argv_tail:
            continue
        pid = int(entry)
        children = _children(pid)
        for child in children:  # tasks lead their own process groups; adopted orphans may not
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        # Ours to reap when this test process started them (or became their subreaper); never
        # a blocking wait: one that is not ours answers at once, and all of them were SIGKILLed.
        gone = (pid, *children)
        wait_until_sync(lambda gone=gone: all(_reaped(p) for p in gone), timeout=5,
                        what=f"the launcher {pid} and its tasks to be gone")


def _reaped(pid: int) -> bool:
    try:
        found, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # not our child: init (or its parent) reaps it
    return found != 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return found


@pytest.fixture
async def master() -> AsyncIterator[FakeMaster]:
    m = FakeMaster()
    await m.start()
    yield m
    await m.close()


@pytest.fixture
def agent_overrides() -> dict[str, Any]:
    """AgentConfig fields every agent of the test starts with (a test's own overrides win)."""
    return {}


@pytest.fixture
async def make_agent(master: FakeMaster, work_dir: str,
                     agent_overrides: dict[str, Any]) -> AsyncIterator[Callable[..., Any]]:
    agents: list[Agent] = []
    started: list[Agent] = []

    async def make(**overrides: Any) -> Agent:
        agent = Agent(fast_config(master.address, work_dir, **{**agent_overrides, **overrides}))
        agents.append(agent)
        await agent.start()
        started.append(agent)
        await wait_until(lambda: agent.registered.is_set(), timeout=10, what="agent registered")
        return agent

    yield make
    for agent in agents:
        await agent.close()
        assert agent.state.validate() == []
        if agent in started:  # one whose start failed has no task runner
            assert agent.tasks.executors.core.records == {}


@pytest.fixture
async def agent(make_agent: Callable[..., Any]) -> Agent:
    result: Agent = await make_agent()
    return result


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def real_master() -> AsyncIterator[Master]:
    config = MasterConfig(ip="127.0.0.1", port=0, allocation_interval=0.1, heartbeat_interval=1.0,
                          agent_ping_interval=0.5, agent_unreachable_timeout=5.0)
    async with Master(config) as master:
        yield master


@pytest.fixture
async def start_agent(real_master: Master, work_dir: str) -> AsyncIterator[StartAgent]:
    """Start the agent process on the real master with extra flags; it is stopped after the test."""
    address = real_master.url.removeprefix("http://").rstrip("/")
    started: list[AgentProcess] = []

    async def start(*flags: str) -> AgentProcess:
        agent = AgentProcess(address, work_dir, *flags)
        started.append(agent)
        await agent.start()
        return agent

    yield start
    for agent in started:
        await agent.stop()
