"""unreachableStrategy with a real master and simulated agents: an agent goes silent, its task is
TASK_UNREACHABLE (Marathon is partition-aware), kept, replaced after inactiveAfterSeconds,
forgotten after expungeAfterSeconds, and killed if its agent comes back after that."""

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
from pydcos.mesos.master.service import Master
from pydcos.testing.simulated_agent import SimulatedAgent

Json = dict[str, Any]
# 3 of an agent's 4 cpus: one instance per agent, so a replacement has to go to the other one.
BIG = {"cmd": "x", "cpus": 3, "mem": 8}


@pytest.fixture
async def client(master: Master, agents: list[SimulatedAgent], tmp_path: Path) -> AsyncIterator[Client]:
    # Frequent reconciliation: it is how Marathon hears that a task of a returned agent runs.
    config = replace(marathon_config(master, reconciliation_interval=0.5), work_dir=str(tmp_path / "marathon"))
    async with Marathon(config) as m, aiohttp.ClientSession() as session:
        await wait_until(lambda: m.core.connected, what="marathon subscribed")
        yield Client(m.url, session)
        assert m.unhandled_errors == 0


def agent_of(agents: list[SimulatedAgent], task: Json) -> SimulatedAgent:
    return next(a for a in agents if a.agent_id == task["slaveId"])


async def tasks_by_state(client: Client, app_id: str) -> dict[str, str]:
    return {t["id"]: t["state"] for t in (await client.app(app_id))["tasks"]}


async def test_unreachable_task_is_kept_then_replaced_then_expunged(client: Client,
                                                                    agents: list[SimulatedAgent]) -> None:
    await client.call("POST", "/v2/apps", {"id": "/away", **BIG, "unreachableStrategy": {
        "inactiveAfterSeconds": 2, "expungeAfterSeconds": 4}})
    [task] = (await client.wait_running("/away", 1))["tasks"]
    victim = agent_of(agents, task)
    await victim.disconnect()

    async def unreachable() -> dict[str, str]:
        states = await tasks_by_state(client, "/away")
        return states if states == {task["id"]: "TASK_UNREACHABLE"} else {}

    await wait_until(unreachable, what="the task reported unreachable and kept")

    async def replaced() -> dict[str, str]:
        states = await tasks_by_state(client, "/away")
        return states if len(states) == 2 and "TASK_RUNNING" in states.values() else {}

    both = await wait_until(replaced, what="a replacement running beside the unreachable task")
    assert both[task["id"]] == "TASK_UNREACHABLE"

    async def expunged() -> dict[str, str]:
        states = await tasks_by_state(client, "/away")
        return states if task["id"] not in states and len(states) == 1 else {}

    [(new_id, state)] = (await wait_until(expunged, what="the unreachable task expunged")).items()
    assert state == "TASK_RUNNING" and (await client.app("/away"))["unreachableStrategy"] == {
        "inactiveAfterSeconds": 2, "expungeAfterSeconds": 4}

    # The agent comes back with the old task still running: an unknown task to Marathon, killed.
    await victim.reconnect()
    await wait_until(lambda: victim.tasks[task["id"]].state == "TASK_KILLED", what="the returned task killed")
    assert await tasks_by_state(client, "/away") == {new_id: "TASK_RUNNING"}


async def test_task_back_before_inactive_runs_on_without_a_replacement(client: Client,
                                                                        agents: list[SimulatedAgent]) -> None:
    await client.call("POST", "/v2/apps", {"id": "/blip", **BIG})  # the default: 300 s before a replacement
    [task] = (await client.wait_running("/blip", 1))["tasks"]
    victim = agent_of(agents, task)
    await victim.disconnect()

    async def unreachable() -> bool:
        return await tasks_by_state(client, "/blip") == {task["id"]: "TASK_UNREACHABLE"}

    await wait_until(unreachable, what="the task reported unreachable")
    app = await client.app("/blip")
    assert app["tasksRunning"] == 0 and len(app["tasks"]) == 1  # kept, and nothing else launched
    await victim.reconnect()

    async def back() -> bool:
        return await tasks_by_state(client, "/blip") == {task["id"]: "TASK_RUNNING"}

    await wait_until(back, what="the same task running again")
    assert victim.tasks[task["id"]].state == "TASK_RUNNING"
