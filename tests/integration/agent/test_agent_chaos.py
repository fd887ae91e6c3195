"""Chaos: a burst of 100 checkpointed tasks while the agent (SIGKILL), then the master (closed
and started again on its registry), then the framework (its stream dropped, failover) go down at
seeded moments. Every task's final state must reach the framework exactly as it happened."""

from __future__ import annotations

import glob
import os
import random
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from agent_process import AgentProcess, ended_tasks
from test_agent_process import free_port

from pydcos.core.waiting import wait_until
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.service import Master
from pydcos.testing.scheduler_client import SchedulerClient, command_task

SEED = int(os.environ.get("PYDCOS_CHAOS_SEED", "20261125"))
KINDS = {"true": "TASK_FINISHED", "false": "TASK_FAILED", "sleep 2": "TASK_FINISHED"}
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED",
            "TASK_GONE"}
FRAMEWORK = {"user": "root", "name": "chaos", "checkpoint": True, "failover_timeout": 3600.0}


def master_config(work_dir: str, port: int) -> MasterConfig:
    return MasterConfig(ip="127.0.0.1", port=port, work_dir=work_dir, allocation_interval=0.1,
                        heartbeat_interval=1.0, agent_ping_interval=0.5, agent_unreachable_timeout=30.0,
                        agent_reregister_timeout=30.0)


@pytest.fixture
async def closers() -> AsyncIterator[list[Callable[[], Any]]]:
    out: list[Callable[[], Any]] = []
    yield out
    for close in reversed(out):
        await close()


async def test_final_states_survive_agent_master_and_framework_failures(
    work_dir: str, http: aiohttp.ClientSession, closers: list[Callable[[], Any]]
) -> None:
    rng = random.Random(SEED)
    plan = {f"c{i}": rng.choice(sorted(KINDS)) for i in range(100)}
    master_dir = tempfile.mkdtemp(prefix="pydcos-chaos-master-")

    async def remove_master_dir() -> None:
        shutil.rmtree(master_dir, ignore_errors=True)
    closers.append(remove_master_dir)
    master = Master(master_config(master_dir, free_port()))
    await master.start()
    masters = [master]

    async def close_masters() -> None:
        for m in masters:
            await m.close()
    closers.append(close_masters)
    agent = AgentProcess(master.url.removeprefix("http://").rstrip("/"), work_dir)
    await agent.start()
    closers.append(agent.stop)
    clients: list[SchedulerClient] = []

    async def close_clients() -> None:
        for c in clients:
            await c.close()
    closers.append(close_clients)

    def seen() -> list[dict[str, Any]]:
        return [u for c in clients for u in c.updates]

    def finals() -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for u in seen():
            if u["state"] in TERMINAL:
                out.setdefault(u["task_id"]["value"], set()).add(u["state"])
        return out

    s = SchedulerClient(master.url, FRAMEWORK)
    clients.append(s)
    await s.subscribe()
    offer = (await s.next_event("OFFERS", timeout=20))["offers"]["offers"][0]
    infos = [command_task(tid, offer["agent_id"]["value"], cmd, cpus=0.01, mem=1) for tid, cmd in plan.items()]
    assert await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": [
        {"type": "LAUNCH", "launch": {"task_infos": infos}}]}) == 202

    # The agent dies once every task was started (a task it never started would rightly be LOST),
    # after a seeded number of TASK_RUNNING reached the framework.
    await wait_until(lambda: len(glob.glob(f"{work_dir}/slaves/*/frameworks/*/executors/*/runs/*")) == 100,
                     timeout=30, what="every sandbox")
    agent_at = rng.randint(0, 100)
    await wait_until(lambda: len({u["task_id"]["value"] for u in seen() if u["state"] == "TASK_RUNNING"})
                     >= agent_at, timeout=30, what=f"{agent_at} running")
    await agent.kill9()
    print("agent killed at", len(seen()), "updates,", len(finals()), "tasks ended")
    exits_at = min(100, ended_tasks(work_dir) + rng.randint(0, 40))  # down while some tasks end
    await wait_until(lambda: ended_tasks(work_dir) >= exits_at, timeout=30, what=f"{exits_at} tasks ended")
    await agent.start()

    master_at = min(90, len(finals()) + rng.randint(1, 15))
    await wait_until(lambda: len(finals()) >= master_at, timeout=30, what=f"{master_at} tasks ended")
    port = master.bound_port
    await master.close()
    print("master closed at", len(seen()), "updates,", len(finals()), "tasks ended")
    master = Master(master_config(master_dir, port))
    await master.start()
    masters.append(master)
    s = SchedulerClient(master.url, FRAMEWORK, framework_id=s.framework_id)
    clients.append(s)
    await s.subscribe()

    framework_at = min(97, len(finals()) + rng.randint(1, 8))
    await wait_until(lambda: len(finals()) >= framework_at, timeout=30, what=f"{framework_at} tasks ended")
    await s.close()
    print("framework dropped at", len(seen()), "updates,", len(finals()), "tasks ended")
    s = SchedulerClient(master.url, FRAMEWORK, framework_id=s.framework_id)
    clients.append(s)
    await s.subscribe()

    await wait_until(lambda: len(finals()) == 100, timeout=60, what="every task ended")
    wrong = {tid: states for tid, states in finals().items() if states != {KINDS[plan[tid]]}}
    assert wrong == {}, {tid: (plan[tid], states) for tid, states in wrong.items()}
