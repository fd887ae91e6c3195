"""Groups, task kills through `/v2/tasks/delete` and `/v2/apps/{id}/tasks`, deployment rollback."""

from __future__ import annotations

from marathon_helpers import Client
from whitelists import check_deployment, check_group

from pydcos.core.waiting import wait_until

GROUP = {
    "id": "/prod",
    "dependencies": [],
    "apps": [{"id": "db", "cmd": "x", "cpus": 0.1, "mem": 8}],
    "groups": [{"id": "front", "apps": [{"id": "web", "cmd": "x", "cpus": 0.1, "mem": 8, "instances": 2,
                                         "dependencies": ["/prod/db"]}]}],
}


async def test_group_create_scale_and_delete(client: Client) -> None:
    status, body = await client.call("POST", "/v2/groups", GROUP)
    assert status == 201 and set(body) == {"deploymentId", "version"}
    status, _ = await client.call("POST", "/v2/groups", GROUP)
    assert status == 409
    await client.wait_running("/prod/front/web", 2)
    await client.wait_running("/prod/db", 1)
    group = await client.get("/v2/groups/prod")
    check_group(group)
    assert [a["id"] for a in group["apps"]] == ["/prod/db"]
    assert group["groups"][0]["id"] == "/prod/front"
    assert group["groups"][0]["apps"][0]["dependencies"] == ["/prod/db"]
    status, body = await client.call("PUT", "/v2/groups/prod", {"scaleBy": 2})
    assert status == 200
    await client.wait_running("/prod/front/web", 4)
    await client.wait_running("/prod/db", 2)
    versions = await client.get("/v2/groups/prod/versions")
    assert isinstance(versions, list) and versions
    status, _ = await client.call("DELETE", "/v2/groups/prod")
    assert status == 200
    await client.wait_no_deployments()
    assert (await client.get("/v2/apps"))["apps"] == []
    status, _ = await client.call("GET", "/v2/groups/prod")
    assert status == 404


async def test_group_update_replaces_its_apps(client: Client) -> None:
    await client.call("POST", "/v2/groups", {"id": "/g", "apps": [{"id": "a", "cmd": "x", "cpus": 0.1, "mem": 8},
                                                                  {"id": "b", "cmd": "x", "cpus": 0.1, "mem": 8}]})
    await client.wait_no_deployments()
    status, _ = await client.call("PUT", "/v2/groups/g", {"apps": [{"id": "a", "cmd": "y", "cpus": 0.1, "mem": 8}]})
    assert status == 200
    await client.wait_no_deployments()
    apps = (await client.get("/v2/apps"))["apps"]
    assert [(a["id"], a["cmd"]) for a in apps] == [("/g/a", "y")]


async def test_task_kills(client: Client) -> None:
    await client.call("POST", "/v2/apps", {"id": "/k", "cmd": "x", "cpus": 0.1, "mem": 8, "instances": 3})
    app = await client.wait_running("/k", 3)
    ids = [t["id"] for t in app["tasks"]]
    status, body = await client.call("POST", "/v2/tasks/delete", {"ids": [ids[0]]})
    assert status == 200 and [t["id"] for t in body["tasks"]] == [ids[0]]

    async def replaced() -> bool:
        a = await client.app("/k")
        return a["tasksRunning"] == 3 and ids[0] not in {t["id"] for t in a["tasks"]}

    await wait_until(replaced, what="killed task replaced")
    status, body = await client.call("DELETE", f"/v2/apps/k/tasks/{ids[1]}?scale=true")
    assert status == 200 and "deploymentId" in body
    await client.wait_running("/k", 2)
    assert (await client.app("/k"))["instances"] == 2
    status, body = await client.call("DELETE", "/v2/apps/k/tasks?scale=True")
    assert status == 200 and "deploymentId" in body
    await client.wait_no_deployments()
    assert (await client.app("/k"))["instances"] == 0
    status, body = await client.call("DELETE", "/v2/apps/k/tasks/nope")
    assert status == 404


async def test_restart_and_rollback_through_the_api(client: Client) -> None:
    await client.call("POST", "/v2/apps", {"id": "/r", "cmd": "x", "cpus": 0.1, "mem": 8, "instances": 2})
    before = {t["id"] for t in (await client.wait_running("/r", 2))["tasks"]}
    await client.wait_no_deployments()
    status, body = await client.call("POST", "/v2/apps/r/restart")
    assert status == 200 and body["deploymentId"]

    async def all_new() -> bool:
        a = await client.app("/r")
        return a["tasksRunning"] == 2 and not ({t["id"] for t in a["tasks"]} & before) and not a["deployments"]

    await wait_until(all_new, what="restart done")
    # a deployment that cannot finish: rolled back on DELETE
    status, body = await client.call("PUT", "/v2/apps/r", {"cpus": 64})
    assert status == 200
    stuck = body["deploymentId"]
    deployments = await client.get("/v2/deployments")
    assert [d["id"] for d in deployments] == [stuck]
    check_deployment(deployments[0])
    assert deployments[0]["currentActions"][0]["action"] == "RestartApplication"
    status, body = await client.call("PUT", "/v2/apps/r", {"cpus": 0.2})
    assert status == 409 and body["deployments"] == [{"id": stuck}]
    status, body = await client.call("DELETE", f"/v2/deployments/{stuck}")
    assert status == 200 and body["deploymentId"] != stuck
    await client.wait_no_deployments()
    app = await client.app("/r")
    assert app["cpus"] == 0.1 and app["tasksRunning"] == 2
