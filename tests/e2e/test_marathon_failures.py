"""Marathon through failures, each in a cluster of its own (`run_local_cluster`): an agent dies and
its tasks move to the other agent (with their DNS name), and Marathon is killed in the middle of a
deployment and started again, which finishes the deployment without replacing a running task."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clients.marathon_e2e import (
    MarathonCurl,
    curl,
    dns_server_of,
    kill_pids,
    marathon_of,
    master_completed,
    master_running,
    master_tasks,
    pid_alive,
    task_pids,
    wait_dig,
)

from pydcos.cluster.processes import MARK_ENV
from pydcos.core.waiting import wait_until_sync
from pydcos.testing.cluster import LocalCluster, run_local_cluster

SLEEPER = {"cmd": "sleep 3600", "cpus": 0.05, "mem": 16}


def daemon(cluster: LocalCluster, *, key: str | None = None, url: str | None = None) -> dict[str, Any]:
    """The pids.json record (pid, argv) of the daemon with this key (`master-1/marathon`) or URL."""
    pids = json.loads((cluster.dir / "pids.json").read_text())
    record: dict[str, Any] = next(d for d in pids["daemons"] if d["key"] == key or d["url"] == url)
    return record


@pytest.fixture
def lossy_cluster() -> Iterator[LocalCluster]:
    """Two private agents; the master declares an agent unreachable 3 s after it went silent."""
    with run_local_cluster(agents=2, public_agents=0, extra_args={
        "master-1/master": ["--agent-ping-interval", "0.5", "--agent-unreachable-timeout", "3"],
    }) as cluster:
        yield cluster


def test_tasks_of_a_dead_agent_move_to_the_other_agent(lossy_cluster: LocalCluster) -> None:
    cluster = lossy_cluster
    marathon = marathon_of(cluster)
    agents = {a.id: a for a in cluster.info.agents}
    # Marathon is partition-aware (as 1.4): the dead agent's tasks are TASK_UNREACHABLE and, by the
    # default unreachableStrategy, replaced after 300 s; this app asks for at once.
    marathon.post("/v2/apps", {"id": "/e2e-move", "instances": 3, "backoffSeconds": 0.1, **SLEEPER,
                               "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0}})
    tasks = marathon.wait_running("e2e-move", 3)
    on_victim = [t for t in tasks if t["slaveId"] == tasks[0]["slaveId"]]
    victim = agents[tasks[0]["slaveId"]]
    survivor = next(a for a in agents.values() if a.id != victim.id)

    # The agent host "dies": the agent and its tasks' processes, all at once.
    agent_pid = daemon(cluster, url=victim.url)["pid"]
    doomed = [agent_pid] + [p for t in on_victim for p in task_pids(t["id"])]
    kill_pids(doomed)
    killed_at = time.monotonic()
    wait_until_sync(lambda: not any(pid_alive(p) for p in doomed), timeout=5, what="the agent and its tasks to die")

    # Nothing moves before the master gives up on the agent (3 s); then every task runs on the survivor.
    assert {t["id"] for t in marathon.running_tasks("e2e-move", 3)} == {t["id"] for t in tasks}

    def all_on_survivor() -> list[dict[str, Any]]:
        running = marathon.running_tasks("e2e-move", 3)
        return running if all(t["slaveId"] == survivor.id for t in running) else []

    moved = wait_until_sync(all_on_survivor, timeout=20, interval=0.1, what="all 3 tasks running on the surviving agent")
    assert time.monotonic() - killed_at >= 3.0
    assert {t["id"] for t in moved} >= {t["id"] for t in tasks if t not in on_victim}
    assert not {t["id"] for t in moved} & {t["id"] for t in on_victim}
    wait_until_sync(lambda: master_running(cluster.mesos_url, {t["id"] for t in moved}), timeout=5,
                    what="the master to show the moved tasks running")
    gone = {t["id"] for t in on_victim}

    def ended_in_master() -> dict[str, str]:
        # TASK_UNREACHABLE tasks stay among the master's tasks (their agent may come back).
        known = {**master_tasks(cluster.mesos_url), **master_completed(cluster.mesos_url)}
        ended = {i: t["state"] for i, t in known.items() if i in gone and t["state"] != "TASK_RUNNING"}
        return ended if ended.keys() == gone else {}

    lost = wait_until_sync(ended_in_master, timeout=5, what="the dead agent's tasks given up by the master")
    assert set(lost.values()) <= {"TASK_LOST", "TASK_UNREACHABLE", "TASK_GONE"}, lost
    state = curl("GET", cluster.mesos_url + "/master/state").json()
    assert victim.id not in {a["id"] for a in state["slaves"] if a.get("active", True)}

    # Mesos-DNS follows: the app's name points at the surviving agent only.
    wait_dig(dns_server_of(cluster), "e2e-move.marathon.mesos",
             lambda d: set(d.answers) == {survivor.ip}, timeout=1.0)


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    """A directory the app's HTTP server serves: its health check passes while `ready` exists."""
    (tmp_path / "ready").write_text("ok")
    return tmp_path


def test_marathon_restarted_mid_deployment_finishes_it(gate: Path) -> None:
    with run_local_cluster(agents=2, public_agents=0) as cluster:
        marathon = marathon_of(cluster)
        record = daemon(cluster, key="master-1/marathon")
        restarted: subprocess.Popen[bytes] | None = None
        try:
            restarted = _restart_mid_deployment(cluster, marathon, record, gate)
        finally:
            if restarted is not None:
                _stop(restarted)


def _restart_mid_deployment(cluster: LocalCluster, marathon: MarathonCurl, record: dict[str, Any],
                            gate: Path) -> subprocess.Popen[bytes]:
    marathon.post("/v2/apps", {
        "id": "/e2e-gated", "cmd": f"cd {gate} && exec python3 -m http.server --bind $HOST $PORT0",
        "cpus": 0.05, "mem": 32, "instances": 1,
        "healthChecks": [{"protocol": "HTTP", "path": "/ready", "portIndex": 0, "gracePeriodSeconds": 60,
                          "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 0}],
    })
    marathon.wait_running("e2e-gated", 1, healthy=True)

    # Close the gate: the new instances of a scale to 3 start but never become healthy, so the
    # deployment stays in progress (maxConsecutiveFailures 0: unhealthy tasks are not killed).
    (gate / "ready").unlink()
    deployment = marathon.put("/v2/apps/e2e-gated", {"instances": 3})["deploymentId"]
    task_ids = wait_until_sync(lambda: _three_running(marathon), timeout=20, interval=0.05, what="3 tasks running")
    assert not marathon.deployment_gone(deployment)

    # Kill Marathon mid-deployment; its tasks keep running without it.
    kill_pids([record["pid"]])
    wait_until_sync(lambda: not pid_alive(record["pid"]), timeout=5, what="marathon to die")
    assert master_running(cluster.mesos_url, task_ids)

    env = dict(os.environ, **{MARK_ENV: str(cluster.dir)})
    restarted = subprocess.Popen(record["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=env, cwd=tempfile.gettempdir(),
                                 start_new_session=True)
    wait_until_sync(lambda: _pings(marathon), timeout=30, interval=0.1, what="the restarted marathon to answer")

    # The deployment was persisted: it is still there, with the same tasks.
    assert any(d["id"] == deployment for d in marathon.get("/v2/deployments"))
    wait_until_sync(lambda: {t["id"] for t in marathon.tasks_in_state("e2e-gated")} == task_ids,
                    timeout=10, interval=0.05, what="the restarted marathon to know the same 3 running tasks")

    # Open the gate: the deployment finishes, and no task was replaced.
    (gate / "ready").write_text("ok")
    wait_until_sync(lambda: marathon.deployment_gone(deployment), timeout=20, interval=0.1,
                    what="the resumed deployment to finish")
    assert {t["id"] for t in marathon.wait_running("e2e-gated", 3, healthy=True)} == task_ids
    assert set(master_tasks(cluster.mesos_url)) == task_ids
    assert not master_completed(cluster.mesos_url)
    assert restarted.poll() is None
    return restarted


def _three_running(marathon: MarathonCurl) -> set[str]:
    ids = {t["id"] for t in marathon.tasks_in_state("e2e-gated")}
    return ids if len(ids) == 3 else set()


def _pings(marathon: MarathonCurl) -> bool:
    try:
        return marathon.request("GET", "/ping").status == 200
    except AssertionError:  # curl could not connect yet
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the Marathon this test started, by its pid: SIGTERM, then SIGKILL if it lingers."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
