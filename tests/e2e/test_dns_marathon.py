"""Mesos-DNS on a real `pydcos cluster up`, asked with `dig` (UDP and TCP) and curl while a Marathon
app starts, scales, loses a task and moves: every answer follows within about a second of the
task reaching (or leaving) TASK_RUNNING."""

from __future__ import annotations

from typing import Any

from clients.marathon_e2e import (
    Dig,
    MarathonCurl,
    curl,
    dig,
    dns_server_of,
    kill_task_by_hand,
    wait_dig,
)

from pydcos.core.waiting import wait_until_sync
from pydcos.testing.cluster import LocalCluster

APP = "e2e-dns"
NAME = f"{APP}.marathon.mesos"
# How long after Marathon reports a task RUNNING (or gone) the names may take to follow.
FRESH_S = 1.0


def srv(answer: Dig) -> set[tuple[int, str]]:
    """SRV answers as (port, target) pairs: `priority weight port target`."""
    return {(int(a.split()[2]), a.split()[3]) for a in answer.answers}


def test_app_names_follow_the_app_as_it_scales_and_moves(local_cluster: LocalCluster, marathon: MarathonCurl) -> None:
    server = dns_server_of(local_cluster)
    http = local_cluster.info.masters[0].dns_http_url
    private = sorted(a.ip for a in local_cluster.info.agents if a.zone == "private")
    assert len(private) == 2
    assert dig(server, NAME).status == "NXDOMAIN"
    marathon.post("/v2/apps", {
        "id": f"/{APP}", "cmd": "python3 -m http.server --bind $HOST $PORT0", "cpus": 0.05, "mem": 32,
        "instances": 2, "constraints": [["hostname", "UNIQUE"]], "backoffSeconds": 0.1,
        # Two protocols: the task's DiscoveryInfo has a port for each, so both get SRV records.
        "portDefinitions": [{"port": 0, "name": "http", "protocol": "udp,tcp"}],
    })
    try:
        # Started: one task on each private agent.
        tasks = marathon.wait_running(APP, 2)
        expect_names(server, tasks)
        assert sorted(dig(server, NAME, tcp=True).answers) == private
        hosts = curl("GET", f"{http}/v1/hosts/{NAME}").json()
        assert sorted((h["host"], h["ip"]) for h in hosts) == [(NAME + ".", ip) for ip in private]

        # A task killed by hand is replaced (on the same agent: UNIQUE), under a new per-task name.
        victim = tasks[0]
        kill_task_by_hand(victim["id"])
        tasks = wait_until_sync(lambda: _replaced(marathon, victim["id"]), timeout=20, interval=0.05,
                                what="the killed task to be replaced")
        expect_names(server, tasks)

        # Moved: one instance, pinned by a new constraint to the agent it is not on.
        marathon.put(f"/v2/apps/{APP}", {"instances": 1})
        (task,) = marathon.wait_running(APP, 1)
        other = next(ip for ip in private if ip != task["host"])
        marathon.put(f"/v2/apps/{APP}", {"constraints": [["hostname", "LIKE", other.replace(".", "\\.")]]})
        moved = wait_until_sync(lambda: [t for t in marathon.running_tasks(APP, 1) if t["host"] == other],
                                timeout=20, interval=0.05, what=f"the task to move to {other}")
        expect_names(server, moved)

        # Scaled to 0: the names are gone.
        marathon.put(f"/v2/apps/{APP}", {"instances": 0})
        wait_until_sync(lambda: _no_tasks(marathon), timeout=20, interval=0.05, what="the app to have no tasks")
        wait_dig(server, NAME, lambda d: d.status == "NXDOMAIN", timeout=FRESH_S)
        wait_dig(server, f"_{APP}._tcp.marathon.mesos", lambda d: d.status == "NXDOMAIN", rtype="SRV",
                 timeout=FRESH_S)
        assert dig(server, NAME, tcp=True).status == "NXDOMAIN"
    finally:
        marathon.remove_app(f"/{APP}")


def expect_names(server: str, tasks: list[dict[str, Any]]) -> None:
    """Within FRESH_S: the app's A record lists exactly its tasks' agents, its SRV records (plain and
    for the named port, TCP and UDP) exactly their host ports, each target resolving to its task's agent."""
    hosts = sorted(t["host"] for t in tasks)
    ports = sorted(t["ports"][0] for t in tasks)
    wait_dig(server, NAME, lambda d: sorted(d.answers) == hosts, timeout=FRESH_S, what=f"{NAME} -> {hosts}")
    for name in (f"_{APP}._tcp.marathon.mesos", f"_http._{APP}._tcp.marathon.mesos",
                 f"_{APP}._udp.marathon.mesos", f"_http._{APP}._udp.marathon.mesos"):
        found = wait_dig(server, name, lambda d: sorted(p for p, _ in srv(d)) == ports, rtype="SRV",
                         timeout=FRESH_S, what=f"{name} -> ports {ports}")
        by_port = {t["ports"][0]: t["host"] for t in tasks}
        for port, target in srv(found):
            assert target.startswith(f"{APP}-") and target.endswith(".marathon.mesos."), target
            assert dig(server, target).answers == [by_port[port]], (target, by_port[port])


def _replaced(marathon: MarathonCurl, gone: str) -> list[dict[str, Any]]:
    tasks = marathon.running_tasks(APP, 2)
    return tasks if tasks and gone not in {t["id"] for t in tasks} else []


def _no_tasks(marathon: MarathonCurl) -> bool:
    app = marathon.app(APP)
    return app["tasksRunning"] == 0 and not app["tasks"] and not app["deployments"]


def test_an_app_in_a_group_is_named_with_dashes(local_cluster: LocalCluster, marathon: MarathonCurl) -> None:
    """`/e2e-grp/api` is the task `api.e2e-grp`, which Mesos-DNS serves as `api-e2e-grp.marathon.mesos`."""
    server = dns_server_of(local_cluster)
    marathon.post("/v2/apps", {"id": "/e2e-grp/api", "cmd": "sleep 3600", "cpus": 0.05, "mem": 16})
    try:
        (task,) = marathon.wait_running("e2e-grp/api", 1)
        assert task["id"].startswith("e2e-grp_api.")
        wait_dig(server, "api-e2e-grp.marathon.mesos", lambda d: d.answers == [task["host"]], timeout=FRESH_S)
    finally:
        marathon.remove_app("/e2e-grp/api")
        marathon.request("DELETE", "/v2/groups/e2e-grp?force=true")


def test_master_and_framework_names(local_cluster: LocalCluster) -> None:
    master = local_cluster.info.masters[0]
    server = dns_server_of(local_cluster)
    for tcp in (False, True):
        for name in ("leader.mesos", "master.mesos", "marathon.mesos", "master0.mesos"):
            answer = dig(server, name, tcp=tcp)
            assert (answer.status, answer.answers) == ("NOERROR", [master.ip]), (name, tcp, answer)
        assert dig(server, "_leader._tcp.mesos", "SRV", tcp=tcp).answers == ["0 0 5050 leader.mesos."]
        assert dig(server, "nothing-here.marathon.mesos", tcp=tcp).status == "NXDOMAIN"
    agents = dig(server, "slave.mesos")
    assert sorted(agents.answers) == sorted(a.ip for a in local_cluster.info.agents)

    # COMPAT §7: the CLI reads `[0].ip` of exactly one entry, asked with and without the trailing dot.
    for name in ("leader.mesos", "leader.mesos."):
        reply = curl("GET", f"{master.dns_http_url}/v1/hosts/{name}")
        assert reply.status == 200 and "application/json" in reply.content_type
        assert reply.json() == [{"host": "leader.mesos.", "ip": master.ip}]
