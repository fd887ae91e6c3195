"""A restarted Marathon keeps its apps, tasks, framework id and unfinished deployments; lost
agents' tasks are replaced; public agents take only apps that accept `slave_public`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import aiohttp
from marathon_helpers import Client, marathon_config

from pydcos.core.waiting import wait_until
from pydcos.marathon.service import Marathon
from pydcos.mesos.master.service import Master
from pydcos.testing.simulated_agent import SimulatedAgent


async def test_restart_keeps_everything_and_tasks_survive(master: Master, agents: list[SimulatedAgent],
                                                          tmp_path: Path) -> None:
    config = replace(marathon_config(master), work_dir=str(tmp_path / "m"))
    async with aiohttp.ClientSession() as session:
        async with Marathon(config) as first:
            await wait_until(lambda: first.core.connected, what="subscribed")
            c = Client(first.url, session)
            await c.call("POST", "/v2/apps", {"id": "/keep/web", "cmd": "x", "cpus": 0.1, "mem": 8, "instances": 2})
            await c.call("POST", "/v2/apps", {"id": "/stuck", "cmd": "x", "cpus": 64})
            before = {t["id"] for t in (await c.wait_running("/keep/web", 2))["tasks"]}
            framework_id = first.core.framework_id
            stuck = [d["id"] for d in await c.get("/v2/deployments")]
            versions = (await c.get("/v2/apps/keep/web/versions"))["versions"]
        launched = sum(len(a.tasks) for a in agents)
        async with Marathon(config) as second:
            await wait_until(lambda: second.core.connected, what="subscribed again")
            assert second.core.framework_id == framework_id
            c = Client(second.url, session)
            app = await c.wait_running("/keep/web", 2)
            assert {t["id"] for t in app["tasks"]} == before
            assert (await c.get("/v2/apps/keep/web/versions"))["versions"] == versions
            assert [d["id"] for d in await c.get("/v2/deployments")] == stuck
            assert sum(len(a.tasks) for a in agents) == launched  # nothing relaunched
            status, _ = await c.call("DELETE", f"/v2/deployments/{stuck[0]}?force=true")
            assert status == 202
            assert await c.get("/v2/deployments") == []


async def test_tasks_of_a_lost_agent_are_replaced(client: Client, agents: list[SimulatedAgent]) -> None:
    # Marathon is partition-aware: tasks of a silent agent are TASK_UNREACHABLE, replaced only when
    # the app's unreachableStrategy says so (300 s by default; here at once).
    await client.call("POST", "/v2/apps", {"id": "/spread", "cmd": "x", "cpus": 0.1, "mem": 8, "instances": 2,
                                           "constraints": [["hostname", "UNIQUE"]],
                                           "unreachableStrategy": {"inactiveAfterSeconds": 0,
                                                                   "expungeAfterSeconds": 0}})
    await client.wait_running("/spread", 2)
    await client.call("PUT", "/v2/apps/spread", {"constraints": []})
    await client.wait_no_deployments()
    app = await client.app("/spread")
    lost = {t["id"] for t in app["tasks"] if t["host"] == agents[0].ip}
    await agents[0].disconnect()

    async def replaced() -> bool:
        a = await client.app("/spread")
        return a["tasksRunning"] == 2 and not ({t["id"] for t in a["tasks"]} & lost)

    await wait_until(replaced, timeout=15, what="tasks of the lost agent replaced")
    assert {t["host"] for t in (await client.app("/spread"))["tasks"]} == {agents[1].ip}


async def test_public_agents_take_only_public_apps(master: Master, client: Client) -> None:
    public = SimulatedAgent(master.url, "127.0.4.1", role="slave_public", zone="public")
    await public.start()
    try:
        await client.call("POST", "/v2/apps", {"id": "/edge", "cmd": "x", "cpus": 0.1, "mem": 8,
                                               "acceptedResourceRoles": ["slave_public"]})
        await client.call("POST", "/v2/apps", {"id": "/inner", "cmd": "x", "cpus": 0.1, "mem": 8, "instances": 3})
        edge = await client.wait_running("/edge", 1)
        inner = await client.wait_running("/inner", 3)
        assert edge["tasks"][0]["host"] == "127.0.4.1"
        assert "127.0.4.1" not in {t["host"] for t in inner["tasks"]}
        assert edge["acceptedResourceRoles"] == ["slave_public"]
    finally:
        await public.close()
