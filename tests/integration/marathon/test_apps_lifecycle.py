"""Apps on an in-process cluster: create, scale, replace, kill, delete."""

from __future__ import annotations

from marathon_helpers import Client

from pydcos.core.waiting import wait_until
from pydcos.marathon.service import Marathon
from pydcos.testing.simulated_agent import SimulatedAgent


async def test_create_scale_and_delete(client: Client, marathon: Marathon) -> None:
    status, body = await client.call("POST", "/v2/apps", {"id": "/web", "cmd": "sleep 100", "cpus": 0.1,
                                                          "mem": 16, "instances": 3})
    assert status == 201, body
    assert body["deployments"][0]["id"]
    assert body["id"] == "/web" and body["ports"] and body["ports"][0] >= 10000
    app = await client.wait_running("/web", 3)
    assert {t["state"] for t in app["tasks"]} == {"TASK_RUNNING"}
    await client.wait_no_deployments()

    status, body = await client.call("PUT", "/v2/apps//web?force=False", {"instances": 1})
    assert status == 200 and set(body) == {"deploymentId", "version"}
    await client.wait_running("/web", 1)

    status, body = await client.call("DELETE", "/v2/apps/web")
    assert status == 200
    await client.wait_no_deployments()
    status, body = await client.call("GET", "/v2/apps/web")
    assert status == 404 and "message" in body
    await wait_until(lambda: len(marathon.core.instances) == 0, what="instances gone")


async def test_failed_task_is_replaced(client: Client, agents: list[SimulatedAgent]) -> None:
    await client.call("POST", "/v2/apps", {"id": "/svc", "cmd": "x", "cpus": 0.1, "mem": 8, "instances": 2,
                                           "backoffSeconds": 0.01})
    app = await client.wait_running("/svc", 2)
    victim = app["tasks"][0]
    agent = next(a for a in agents if victim["id"] in a.tasks)
    await agent.finish(victim["id"], "TASK_FAILED")

    async def replaced() -> bool:
        app = await client.app("/svc")
        ids = {t["id"] for t in app["tasks"]}
        return app["tasksRunning"] == 2 and victim["id"] not in ids

    await wait_until(replaced, what="replacement running")
    app = await client.app("/svc")
    assert app["lastTaskFailure"]["taskId"] == victim["id"]
    assert app["lastTaskFailure"]["state"] == "TASK_FAILED"
