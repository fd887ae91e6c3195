"""The real agent against the real master and a v1 scheduler: the wire protocol agrees end to end."""

from __future__ import annotations

from typing import Any

import aiohttp
from agent_fake_master import fast_config, get_json

from pydcos.core.waiting import wait_until
from pydcos.mesos.agent.service import Agent
from pydcos.mesos.master.service import Master
from pydcos.testing.scheduler_client import SchedulerClient, command_task


async def test_a_task_launched_through_the_master_runs_on_the_agent(
    real_master: Master, work_dir: str, http: aiohttp.ClientSession
) -> None:
    master_address = real_master.url.removeprefix("http://").rstrip("/")
    async with Agent(fast_config(master_address, work_dir)) as agent:
        await wait_until(lambda: agent.registered.is_set(), what="registered with the real master")
        async with SchedulerClient(real_master.url, {"user": "root", "name": "agent-test"}) as scheduler:
            offers: list[dict[str, Any]] = (await scheduler.next_event("OFFERS"))["offers"]["offers"]
            offer = offers[0]
            assert offer["agent_id"]["value"] == agent.agent_id
            task = command_task("hello.1", agent.agent_id or "", "echo hello from the agent")
            status = await scheduler.call("ACCEPT", accept={
                "offer_ids": [offer["id"]],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
            })
            assert status == 202
            finished = await scheduler.wait_update("hello.1", {"TASK_FINISHED", "TASK_FAILED"})
            assert finished["state"] == "TASK_FINISHED", finished
            assert finished["agent_id"]["value"] == agent.agent_id
            await wait_until(lambda: agent.updates.pending_count() == 0, what="acknowledged via the master")

            _, master_state = await get_json(http, f"{real_master.url}/master/state.json")
            [slave] = master_state["slaves"]
            assert slave["pid"] == f"slave(1)@127.0.0.1:{agent.port}"
            _, agent_state = await get_json(http, f"{agent.url}/state.json")
            executor = agent_state["completed_frameworks"][0]["completed_executors"][0]
            path = executor["directory"] + "/stdout"
            _, out = await get_json(http, f"{agent.url}/files/read.json?path={path}&offset=0")
            assert out["data"] == "hello from the agent\n"
