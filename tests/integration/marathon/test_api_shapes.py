"""Every answer within the whitelists, with the statuses and keys the clients need."""

from __future__ import annotations

from marathon_helpers import Client
from whitelists import check_app, check_deployment, check_group, check_info, check_queue_item, check_task

from pydcos.marathon.service import Marathon

APP = {"id": "/shapes/web", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "instances": 2,
       "labels": {"HAPROXY_GROUP": "external"}, "env": {"A": "b"},
       "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}, "gracePeriodSeconds": 5}],
       "constraints": [["hostname", "UNIQUE"]], "uris": ["http://example.com/a.tgz"],
       "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}}


async def test_app_task_group_queue_info_shapes(client: Client, marathon: Marathon) -> None:
    status, created = await client.call("POST", "/v2/apps", APP)
    assert status == 201, created
    check_app(created)
    assert created["deployments"][0]["id"]
    deployments = await client.get("/v2/deployments")
    assert isinstance(deployments, list)
    for d in deployments:
        check_deployment(d)
    app = await client.wait_running("/shapes/web", 2)
    check_app(app)
    assert app["constraints"] == [["hostname", "UNIQUE"]]
    assert {t["host"] for t in app["tasks"]} == {"127.0.3.1", "127.0.3.2"}
    for listing in ((await client.get("/v2/apps"))["apps"],
                    (await client.get("/v2/apps?embed=app.tasks&embed=app.counts&embed=app.taskStats"
                                      "&embed=app.lastTaskFailure&embed=app.readiness"))["apps"]):
        for a in listing:
            check_app(a)
    tasks = (await client.get("/v2/tasks"))["tasks"]
    assert len(tasks) == 2
    for t in tasks:
        check_task(t)
    check_group(await client.get("/v2/groups"))
    check_group(await client.get("/v2/groups/shapes"))
    check_info(await client.get("/v2/info"))
    assert (await client.get("/v2/leader"))["leader"] == marathon.leader
    status, pong = await client.call("GET", "/ping")
    assert status == 200 and pong == "pong"
    metrics = await client.get("/metrics")
    assert metrics["gauges"]["service.mesosphere.marathon.app.count"]["value"] == 1


async def test_queue_shows_what_cannot_launch(client: Client) -> None:
    status, _ = await client.call("POST", "/v2/apps", {"id": "/huge", "cmd": "x", "cpus": 64})
    assert status == 201

    async def waiting() -> list[dict[str, object]] | None:
        queue = (await client.get("/v2/queue?embed=lastUnusedOffers"))["queue"]
        return queue if queue and queue[0]["processedOffersSummary"]["unusedOffersCount"] > 0 else None

    from pydcos.core.waiting import wait_until

    queue = await wait_until(waiting, what="an unused offer counted")
    item = queue[0]
    check_queue_item(item)
    reasons = {r["reason"]: r["declined"] for r in item["processedOffersSummary"]["rejectSummaryLastOffers"]}
    assert reasons["InsufficientCpus"] >= 1
    assert item["lastUnusedOffers"][0]["offer"]["hostname"].startswith("127.0.3.")
    status, _ = await client.call("DELETE", "/v2/queue/huge/delay")
    assert status == 204


async def test_errors_have_the_right_status_and_shape(client: Client) -> None:
    status, body = await client.call("POST", "/v2/apps", raw=b"{not json")
    assert status == 400 and "message" in body
    status, body = await client.call("POST", "/v2/apps", {"id": "/x", "cmd": "y", "instances": "many"})
    assert status == 422 and body["details"][0]["path"] == "/instances"
    status, body = await client.call("POST", "/v2/apps", {"id": "/x", "cmd": "y", "cpus": 0})
    assert status == 422 and body["details"][0]["path"] == "/cpus" and body["details"][0]["errors"]
    status, body = await client.call("POST", "/v2/apps", {"id": "/X_Y", "cmd": "y"})
    assert status == 422 and body["details"][0]["path"] == "/id"
    status, body = await client.call("POST", "/v2/apps", {"id": "/c", "cmd": "y", "constraints": [["a", "NOPE"]]})
    assert status == 422 and body["details"][0]["path"] == "/constraints(0)"
    for path in ("/v2/apps/nope", "/v2/groups/nope", "/v2/apps/nope/versions", "/v2/apps/nope/tasks"):
        status, body = await client.call("GET", path)
        assert status == 404 and set(body) == {"message"}, path
    status, body = await client.call("DELETE", "/v2/deployments/nope")
    assert status == 404 and "message" in body
    status, body = await client.call("DELETE", "/v2/apps/nope")
    assert status == 404
    status, _ = await client.call("HEAD", "/v2/pods")
    assert status == 404
    assert (await client.get("/v2/apps"))["apps"] == []


async def test_double_slashes_and_python_booleans(client: Client) -> None:
    status, _ = await client.call("POST", "/v2/apps", {"id": "web", "cmd": "sleep 1", "cpus": 0.1, "mem": 8})
    assert status == 201
    status, body = await client.call("GET", "/v2/apps//web")
    assert status == 200 and body["app"]["id"] == "/web"
    status, body = await client.call("PUT", "/v2/apps//web?force=True", {"id": "web", "instances": 2})
    assert status == 200 and "deploymentId" in body
    await client.wait_running("/web", 2)
    status, body = await client.call("PUT", "/v2/apps//web?force=False", {"instances": 1})
    assert status == 200


async def test_versions_and_rollback_by_version(client: Client) -> None:
    await client.call("POST", "/v2/apps", {"id": "/v", "cmd": "one", "cpus": 0.1, "mem": 8, "instances": 0})
    await client.wait_no_deployments()
    await client.call("PUT", "/v2/apps/v", {"cmd": "two"})
    await client.wait_no_deployments()
    versions = (await client.get("/v2/apps/v/versions"))["versions"]
    assert len(versions) == 2 and versions[0] > versions[1]
    old = await client.get(f"/v2/apps/v/versions/{versions[1]}")
    assert old["cmd"] == "one" and old["version"] == versions[1]
    status, body = await client.call("PUT", "/v2/apps/v", {"version": versions[1]})
    assert status == 200
    assert (await client.app("/v"))["cmd"] == "one"
