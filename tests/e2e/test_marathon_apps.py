"""Marathon on a real `pydcos cluster up`, driven by marathon-python 0.13.0 (in .venv-clients) and curl:
apps are created, scaled, restarted and deleted, their tasks checked in Marathon and in the Mesos
master, killed by hand and replaced, placed on the public agent, and bad input is refused.

Every test uses an app id of its own and removes its app at the end (the cluster is shared)."""

from __future__ import annotations

import json
import math
from typing import Any

from clients.marathon_e2e import (
    EventStream,
    MarathonCurl,
    curl,
    kill_task_by_hand,
    marathon_python,
    marathon_python_raw,
    master_completed,
    master_running,
    master_tasks,
    task_pids,
)

from pydcos.core.waiting import wait_until_sync
from pydcos.testing.cluster import LocalCluster

SLEEPER = {"cmd": "sleep 3600", "cpus": 0.05, "mem": 16}
# Binds the agent's address only: other clusters on this machine use the same host port ranges.
HTTP_SERVER = "python3 -m http.server --bind $HOST $PORT0"


def test_app_lifecycle_with_marathon_python_and_curl(local_cluster: LocalCluster, marathon: MarathonCurl,
                                                      app_ids: list[str]) -> None:
    url, mesos = marathon.url, local_cluster.mesos_url
    app_id = "/e2e-life/sleeper"
    app_ids.append(app_id)

    created = marathon_python(url, "create", json.dumps({"id": app_id, "instances": 2, **SLEEPER}))
    assert created["id"] == app_id and created["instances"] == 2
    first_deployment = created["deployments"][0]["id"]
    tasks = marathon.wait_running(app_id, 2)
    original = {t["id"] for t in tasks}
    assert all(t["id"].startswith("e2e-life_sleeper.") for t in tasks)
    wait_until_sync(lambda: master_running(mesos, original), timeout=5, what="the master to show both tasks running")

    # Reading it back, with the client library and with curl.
    app = marathon_python(url, "get", app_id)
    assert (app["tasksRunning"], app["tasksStaged"]) == (2, 0)
    assert {t["id"] for t in app["tasks"]} == original
    assert app_id in {a["id"] for a in marathon_python(url, "apps")}
    assert app_id in {a["id"] for a in marathon.get("/v2/apps")["apps"]}
    assert {t["id"] for t in marathon_python(url, "tasks", app_id)} == original
    curl_tasks = {t["id"]: t for t in marathon.get("/v2/tasks")["tasks"]}
    assert original <= curl_tasks.keys()
    assert {curl_tasks[t]["slaveId"] for t in original} <= {a.id for a in local_cluster.info.agents}
    assert all(d["id"] != first_deployment for d in marathon_python(url, "deployments"))
    assert all(d["id"] != first_deployment for d in marathon.get("/v2/deployments"))

    info = marathon_python(url, "info")
    frameworks = {f["name"]: f["id"] for f in curl("GET", mesos + "/master/state").json()["frameworks"]}
    assert info["frameworkId"] == frameworks["marathon"]
    assert info["leader"] == url.removeprefix("http://") and info["elected"] is True
    assert marathon.get("/v2/info")["marathon_config"]["master"]
    assert "/e2e-life" in {g["id"] for g in marathon_python(url, "groups")}
    root = marathon.get("/v2/groups")
    group = next(g for g in root["groups"] if g["id"] == "/e2e-life")
    assert [a["id"] for a in group["apps"]] == [app_id]

    # Scale up with the client library: the deployment finishes and leaves the list.
    scaled = marathon_python(url, "scale", app_id, "4")
    wait_until_sync(lambda: marathon.deployment_gone(scaled["deploymentId"]), timeout=20, what="the scale-up deployment")
    tasks = marathon.wait_running(app_id, 4)
    assert original < {t["id"] for t in tasks}
    wait_until_sync(lambda: master_running(mesos, {t["id"] for t in tasks}), timeout=5, what="4 tasks in the master")

    # Scale down with curl: the youngest go (killSelection YOUNGEST_FIRST), so one of the first two stays.
    down = marathon.put(f"/v2/apps{app_id}", {"instances": 1})
    wait_until_sync(lambda: marathon.deployment_gone(down["deploymentId"]), timeout=20, what="the scale-down deployment")
    (survivor,) = marathon.wait_running(app_id, 1)
    assert survivor["id"] in original
    killed = {t["id"] for t in tasks} - {survivor["id"]}
    wait_until_sync(lambda: not killed & master_tasks(mesos).keys(), timeout=10,
                    what="the master to no longer list the killed tasks as active")
    wait_until_sync(lambda: not any(task_pids(t) for t in killed), timeout=10, what="the killed tasks' processes to end")

    # Delete with the client library: the app is gone everywhere.
    deleted = marathon_python(url, "delete", app_id)
    wait_until_sync(lambda: marathon.deployment_gone(deleted["deploymentId"]), timeout=20, what="the delete deployment")
    gone = marathon_python_raw(url, "get", app_id)
    assert (gone["error"], gone["status"]) == ("NotFoundError", 404)
    assert app_id not in {a["id"] for a in marathon.get("/v2/apps")["apps"]}
    wait_until_sync(lambda: survivor["id"] not in master_tasks(mesos), timeout=10, what="the last task to end")
    wait_until_sync(lambda: not task_pids(survivor["id"]), timeout=10, what="the last task's processes to end")
    marathon.delete("/v2/groups/e2e-life")


def test_rolling_restart_honours_upgrade_strategy(marathon: MarathonCurl, app_ids: list[str]) -> None:
    app_id = "/e2e-restart"
    app_ids.append(app_id)
    n = 2
    strategy = {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.5}
    marathon.post("/v2/apps", {
        "id": app_id, "cmd": HTTP_SERVER, "cpus": 0.05, "mem": 32, "instances": n, "upgradeStrategy": strategy,
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30,
                          "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 3}],
    })
    old = {t["id"] for t in marathon.wait_running(app_id, n, healthy=True)}

    stream = EventStream(marathon.url, ("status_update_event", "health_status_changed_event", "event_stream_attached"))
    try:
        stream.wait_attached()
        restart = marathon_python(marathon.url, "restart", app_id)  # POST /v2/apps/ID/restart
        assert set(restart) == {"deploymentId", "version"}
        assert any(d["id"] == restart["deploymentId"] for d in marathon.get("/v2/deployments"))
        wait_until_sync(lambda: marathon.deployment_gone(restart["deploymentId"]), timeout=30,
                        what="the restart deployment to finish")
        tasks = marathon.wait_running(app_id, n, healthy=True)
        events = stream.snapshot()
    finally:
        stream.close()

    new = {t["id"] for t in tasks}
    assert not new & old, "every old task is replaced"
    assert all(t["healthCheckResults"][0]["alive"] for t in tasks)
    _check_replacement_order(events, app_id, old, new, n, strategy)


def _check_replacement_order(events: list[dict[str, Any]], app_id: str, old: set[str], new: set[str], n: int,
                             strategy: dict[str, float]) -> None:
    """Read the event stream in order: an old task may end only once as many new ones are healthy
    (minimumHealthCapacity 1), and a new one may start only while at most `extra` are not yet healthy."""
    extra = math.floor(n * (1 + strategy["maximumOverCapacity"])) - n
    started: set[str] = set()
    healthy: set[str] = set()
    ended_old: set[str] = set()
    for event in events:
        if event.get("appId") != app_id:
            continue
        task = event["taskId"]
        if event["eventType"] == "status_update_event":
            if task in new and event["taskStatus"] == "TASK_RUNNING":
                started.add(task)
                assert len(started) <= len(healthy) + extra, f"over capacity at {event}"
            if task in old and event["taskStatus"] in {"TASK_KILLED", "TASK_FINISHED", "TASK_FAILED"}:
                ended_old.add(task)
                assert len(ended_old) <= len(healthy), f"an old task ended before a new one was healthy: {event}"
        elif event["eventType"] == "health_status_changed_event" and event["alive"] and task in new:
            healthy.add(task)
    assert started == new and healthy == new and ended_old == old, (started, healthy, ended_old)


def test_task_killed_by_hand_is_replaced(local_cluster: LocalCluster, marathon: MarathonCurl,
                                         app_ids: list[str]) -> None:
    app_id = "/e2e-killed"
    app_ids.append(app_id)
    marathon.post("/v2/apps", {"id": app_id, "instances": 1, "backoffSeconds": 0.1, **SLEEPER})
    (task,) = marathon.wait_running(app_id, 1)
    pids = kill_task_by_hand(task["id"])
    assert pids

    def replaced() -> list[dict[str, Any]]:
        tasks = marathon.running_tasks(app_id, 1)
        return tasks if tasks and tasks[0]["id"] != task["id"] else []

    (replacement,) = wait_until_sync(replaced, timeout=20, interval=0.05, what="a replacement task")
    assert task_pids(replacement["id"])
    wait_until_sync(lambda: master_running(local_cluster.mesos_url, {replacement["id"]}), timeout=5,
                    what="the master to show the replacement running")
    # The master moves a task to completed_tasks once Marathon acknowledged its terminal update.
    ended = wait_until_sync(lambda: master_completed(local_cluster.mesos_url).get(task["id"], {}), timeout=5,
                            what="the killed task among the master's completed tasks")
    assert ended["state"] == "TASK_FAILED"
    assert task["id"] not in master_tasks(local_cluster.mesos_url)
    app = marathon.app(app_id)
    assert app["lastTaskFailure"]["taskId"] == task["id"]
    assert app["lastTaskFailure"]["state"] in {"TASK_FAILED", "TASK_KILLED"}


def test_slave_public_app_lands_on_the_public_agent(local_cluster: LocalCluster, marathon: MarathonCurl,
                                                    app_ids: list[str]) -> None:
    public = {a.id: a.ip for a in local_cluster.info.agents if a.zone == "public"}
    private = {a.id for a in local_cluster.info.agents if a.zone == "private"}
    app_ids += ["/e2e-public", "/e2e-private"]
    marathon_python(marathon.url, "create", json.dumps(
        {"id": "/e2e-public", "instances": 2, "acceptedResourceRoles": ["slave_public"], **SLEEPER}))
    marathon.post("/v2/apps", {"id": "/e2e-private", "instances": 2, **SLEEPER})
    on_public = marathon.wait_running("/e2e-public", 2)
    assert {(t["slaveId"], t["host"]) for t in on_public} == set(public.items())
    on_private = marathon.wait_running("/e2e-private", 2)
    assert {t["slaveId"] for t in on_private} <= private
    in_master = master_tasks(local_cluster.mesos_url)
    assert {in_master[t["id"]]["slave_id"] for t in on_public} == set(public)
    assert marathon.get("/v2/apps/e2e-public")["app"]["acceptedResourceRoles"] == ["slave_public"]


def test_bad_input_gets_marathon_errors(marathon: MarathonCurl) -> None:
    malformed = marathon.request("POST", "/v2/apps", '{"id": "/e2e-bad", "cmd": ')
    assert malformed.status == 400 and "application/json" in malformed.content_type
    assert isinstance(malformed.json()["message"], str)

    negative = marathon.request("POST", "/v2/apps", {"id": "/e2e-bad", "cmd": "sleep 1", "instances": -1})
    assert negative.status == 422, negative.text
    body = negative.json()
    assert isinstance(body["message"], str)
    assert [d["path"] for d in body["details"]] == ["/instances"] and body["details"][0]["errors"]

    wrong_type = marathon.request("POST", "/v2/apps", {"id": "/e2e-bad", "cmd": "sleep 1", "cpus": "lots"})
    assert wrong_type.status == 422 and [d["path"] for d in wrong_type.json()["details"]] == ["/cpus"]

    for method, path in [("GET", "/v2/apps/e2e-nope"), ("POST", "/v2/apps/e2e-nope/restart"),
                         ("DELETE", "/v2/apps/e2e-nope"), ("GET", "/v2/apps/e2e-nope/tasks"),
                         ("DELETE", "/v2/deployments/e2e-nope")]:
        reply = marathon.request(method, path)
        assert reply.status == 404, (method, path, reply.status, reply.text)
        assert set(reply.json()) == {"message"} and reply.json()["message"], reply.text
    assert marathon.request("GET", "/v2/apps/e2e-bad").status == 404, "nothing was created"

    # marathon-python maps the same answers to its own error classes.
    missing = marathon_python_raw(marathon.url, "get", "/e2e-nope")
    assert (missing["error"], missing["status"]) == ("NotFoundError", 404) and missing["message"]
    invalid = marathon_python_raw(marathon.url, "create", json.dumps({"id": "/e2e-bad", "cmd": "sleep 1",
                                                                      "instances": -1}))
    assert (invalid["error"], invalid["status"], invalid["message"]) == ("MarathonHttpError", 422, body["message"])
