"""Mesos health checks on a real `pydcos cluster up`: Marathon puts an app's COMMAND or MESOS_HTTP
check into the TaskInfo, the agent runs it next to the task and reports `healthy` in status
updates, Marathon shows it (tasksHealthy, healthCheckResults), waits for it in a rolling restart,
and replaces a task the agent killed because its check kept failing.

Every test uses an app id of its own and removes its app at the end (the cluster is shared)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from clients.marathon_e2e import EventStream, MarathonCurl, master_completed, master_tasks

from pydcos.core.waiting import wait_until_sync
from pydcos.testing.cluster import LocalCluster

SLEEPER = {"cmd": "sleep 3600", "cpus": 0.05, "mem": 16}
FAST = {"gracePeriodSeconds": 30, "intervalSeconds": 0.5, "timeoutSeconds": 5}


@pytest.fixture
def flags() -> Iterator[str]:
    """A directory the test drops files into that the tasks' checks look at."""
    path = tempfile.mkdtemp(prefix="pydcos-e2e-health-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def healthy_app(marathon: MarathonCurl, app_id: str, n: int, not_task: str = "") -> dict[str, Any] | None:
    """The app when exactly `n` tasks run, all healthy (and none is `not_task`), with no deployment."""
    app = marathon.app(app_id)
    tasks = [t for t in app["tasks"] if t["state"] == "TASK_RUNNING"]
    if app["tasksHealthy"] == n and app["tasksUnhealthy"] == 0 and len(tasks) == n and not app["deployments"] \
            and all(t["healthCheckResults"] and t["healthCheckResults"][0]["alive"] for t in tasks) \
            and all(t["id"] != not_task for t in tasks):
        return app
    return None


def wait_healthy(marathon: MarathonCurl, app_id: str, n: int, *, not_task: str = "",
                 timeout: float = 30.0) -> dict[str, Any]:
    app = wait_until_sync(lambda: healthy_app(marathon, app_id, n, not_task), timeout=timeout, interval=0.1,
                          what=f"{n} healthy tasks of {app_id}" + (f" other than {not_task}" if not_task else ""))
    assert app is not None
    return app


def test_command_checked_app_becomes_healthy_and_restarts_on_health(
    local_cluster: LocalCluster, marathon: MarathonCurl, app_ids: list[str]
) -> None:
    app_id = "/e2e-health/command"
    app_ids.append(app_id)
    check = {"protocol": "COMMAND", "command": {"value": 'test -n "$MESOS_TASK_ID" && test -d "$MESOS_SANDBOX"'},
             "maxConsecutiveFailures": 3, **FAST}
    strategy = {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 0.5}
    marathon.post("/v2/apps", {"id": app_id, "instances": 2, "healthChecks": [check], "upgradeStrategy": strategy,
                               **SLEEPER})
    app = wait_healthy(marathon, app_id, 2)
    old = {t["id"] for t in app["tasks"]}
    for task in app["tasks"]:
        [result] = task["healthCheckResults"]
        assert result["taskId"] == task["id"] and result["consecutiveFailures"] == 0
        assert result["firstSuccess"] and result["lastSuccess"] and result["lastFailure"] is None
    in_master = master_tasks(local_cluster.mesos_url)
    assert all(in_master[t]["statuses"][-1].get("healthy") is True for t in old)

    # A rolling restart: an old task ends only once a new one is healthy (minimumHealthCapacity 1).
    stream = EventStream(marathon.url, ("status_update_event", "health_status_changed_event", "event_stream_attached"))
    try:
        stream.wait_attached()
        restart = marathon.post(f"/v2/apps{app_id}/restart")
        wait_until_sync(lambda: marathon.deployment_gone(restart["deploymentId"]), timeout=40, interval=0.1,
                        what="the restart deployment to finish")
        app = wait_healthy(marathon, app_id, 2, timeout=20)
        events = [e for e in stream.snapshot() if e.get("appId") == app_id]
    finally:
        stream.close()
    new = {t["id"] for t in app["tasks"]}
    assert not new & old
    healthy_new: set[str] = set()
    ended_old: set[str] = set()
    for event in events:
        if event["eventType"] == "health_status_changed_event" and event["alive"] and event["taskId"] in new:
            healthy_new.add(event["taskId"])
        elif event["eventType"] == "status_update_event" and event["taskId"] in old \
                and event["taskStatus"] in {"TASK_KILLED", "TASK_FAILED", "TASK_FINISHED"}:
            ended_old.add(event["taskId"])
            assert len(ended_old) <= len(healthy_new), f"an old task ended before a new one was healthy: {event}"
    assert ended_old == old and healthy_new == new


def test_mesos_http_check_reaches_the_host_port_of_the_task(marathon: MarathonCurl, app_ids: list[str]) -> None:
    app_id = "/e2e-health/mesos-http"
    app_ids.append(app_id)
    marathon.post("/v2/apps", {
        "id": app_id, "cmd": "exec python3 -m http.server --bind $HOST $PORT0", "cpus": 0.05, "mem": 32,
        "instances": 1, "portDefinitions": [{"port": 0}],
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0, "maxConsecutiveFailures": 3, **FAST}],
    })
    app = wait_healthy(marathon, app_id, 1)
    assert app["healthChecks"][0]["protocol"] == "MESOS_HTTP"


def test_a_task_whose_check_fails_is_killed_by_its_agent_and_replaced(
    local_cluster: LocalCluster, marathon: MarathonCurl, app_ids: list[str], flags: str
) -> None:
    app_id = "/e2e-health/failing"
    app_ids.append(app_id)
    check = {"protocol": "COMMAND", "command": {"value": f'test ! -e "{flags}/fail-$MESOS_TASK_ID"'},
             "maxConsecutiveFailures": 2, **FAST}
    marathon.post("/v2/apps", {"id": app_id, "instances": 1, "healthChecks": [check], "backoffSeconds": 0.1,
                               **SLEEPER})
    [first] = wait_healthy(marathon, app_id, 1)["tasks"]

    stream = EventStream(marathon.url, ("health_status_changed_event", "status_update_event", "event_stream_attached"))
    try:
        stream.wait_attached()
        os.close(os.open(os.path.join(flags, f"fail-{first['id']}"), os.O_CREAT | os.O_WRONLY, 0o644))
        app = wait_healthy(marathon, app_id, 1, not_task=first["id"], timeout=40)
        events = [e for e in stream.snapshot() if e.get("taskId") == first["id"]]
    finally:
        stream.close()

    assert app["tasks"][0]["healthCheckResults"][0]["alive"]
    assert [e["alive"] for e in events if e["eventType"] == "health_status_changed_event"] == [False]
    assert [e["taskStatus"] for e in events if e["eventType"] == "status_update_event"] == ["TASK_KILLED"]
    assert app["lastTaskFailure"]["taskId"] == first["id"] and app["lastTaskFailure"]["state"] == "TASK_KILLED"
    ended: dict[str, Any] | None = wait_until_sync(lambda: master_completed(local_cluster.mesos_url).get(first["id"]),
                                                   timeout=10, what="the killed task in the master's completed tasks")
    assert ended is not None
    assert ended["state"] == "TASK_KILLED"
    assert [s.get("healthy") for s in ended["statuses"]][-2:] == [False, False]
