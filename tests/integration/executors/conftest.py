"""Fixtures for custom executor tests: a real agent in the test's loop, against the fake master of
the agent tests (protocol-level tests) or the real in-process master (end-to-end with drivers).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "agent"))

from agent_fake_master import fast_config  # noqa: E402
from agent_fixtures import agent, http, make_agent, master, real_master, work_dir  # noqa: E402

from pydcos.core.waiting import wait_until  # noqa: E402
from pydcos.mesos.agent.service import Agent  # noqa: E402
from pydcos.mesos.master.service import Master  # noqa: E402

__all__ = ["agent", "agent_overrides", "http", "make_agent", "master", "real_agent", "real_master", "work_dir"]


@pytest.fixture
def agent_overrides() -> dict[str, Any]:
    return {"executor_registration_timeout_s": 10.0, "executor_heartbeat_s": 0.5}


@pytest.fixture
async def real_agent(real_master: Master, work_dir: str) -> AsyncIterator[Agent]:
    address = real_master.url.removeprefix("http://").rstrip("/")
    config = fast_config(address, work_dir, executor_registration_timeout_s=20.0, executor_heartbeat_s=1.0)
    async with Agent(config) as a:
        await wait_until(lambda: a.registered.is_set(), what="registered with the real master")
        yield a
        assert a.state.validate() == []
