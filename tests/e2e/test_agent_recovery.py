"""A Marathon app survives `kill -9` of its agent: the restarted agent (same flags, same work dir)
re-registers under the same id and re-attaches the task, so Marathon keeps it (no replacement,
no second process on the same port)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from typing import Any

from clients.marathon_e2e import curl, kill_pids, marathon_of, master_running, pid_alive, task_pids

from pydcos.cluster.processes import MARK_ENV
from pydcos.core.waiting import wait_until_sync
from pydcos.testing.cluster import LocalCluster, run_local_cluster


def daemon(cluster: LocalCluster, url: str) -> dict[str, Any]:
    pids = json.loads((cluster.dir / "pids.json").read_text())
    record: dict[str, Any] = next(d for d in pids["daemons"] if d["url"] == url)
    return record


def test_a_marathon_task_survives_a_sigkilled_agent() -> None:
    with run_local_cluster(agents=1, public_agents=0) as cluster:
        marathon = marathon_of(cluster)
        marathon.post("/v2/apps", {"id": "/e2e-survivor", "cmd": "exec python3 -m http.server --bind $HOST $PORT0",
                                   "cpus": 0.05, "mem": 32, "instances": 1})
        [task] = marathon.wait_running("e2e-survivor", 1)
        pids = wait_until_sync(lambda: task_pids(task["id"]), timeout=10, what="the task's processes")
        [agent] = cluster.info.agents
        record = daemon(cluster, agent.url)
        kill_pids([record["pid"]])
        wait_until_sync(lambda: not pid_alive(record["pid"]), timeout=5, what="the agent to die")
        assert all(pid_alive(p) for p in pids)

        env = dict(os.environ, **{MARK_ENV: str(cluster.dir)})
        restarted = subprocess.Popen(record["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=env, cwd=tempfile.gettempdir(),
                                     start_new_session=True)
        try:
            def reattached() -> bool:
                try:
                    state = curl("GET", agent.url + "/state").json()
                except AssertionError:  # not answering yet
                    return False
                running = [t["id"] for f in state["frameworks"] for e in f["executors"] for t in e["tasks"]
                           if t["state"] == "TASK_RUNNING"]
                return bool(state["id"] == agent.id and running == [task["id"]])

            wait_until_sync(reattached, timeout=20, interval=0.1, what="the restarted agent to re-attach the task")
            assert restarted.poll() is None
            wait_until_sync(lambda: master_running(cluster.mesos_url, {task["id"]}), timeout=10,
                            what="the task running in the master")
            assert all(pid_alive(p) for p in pids)
            tasks = marathon.running_tasks("e2e-survivor", 1)
            assert [t["id"] for t in tasks] == [task["id"]]
            assert tasks[0]["slaveId"] == agent.id
        finally:
            restarted.terminate()
            try:
                restarted.wait(timeout=20)
            except subprocess.TimeoutExpired:
                restarted.kill()
                restarted.wait()



def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rpartition(")")[2].split()[1])


def test_cluster_down_after_a_sigkilled_agent_stops_its_tasks_and_their_launcher() -> None:
    with run_local_cluster(agents=1, public_agents=0) as cluster:
        marathon = marathon_of(cluster)
        marathon.post("/v2/apps", {"id": "/e2e-orphan", "cmd": "sleep 3600", "cpus": 0.05, "mem": 16, "instances": 1})
        [task] = marathon.wait_running("e2e-orphan", 1)
        pids = wait_until_sync(lambda: task_pids(task["id"]), timeout=10, what="the task's processes")
        launcher = parent_of(min(pids))  # checkpointed (Marathon): a child of the task launcher
        with open(f"/proc/{launcher}/cmdline", "rb") as f:
            assert b"pydcos.mesos.agent.launcher" in f.read()
        [agent] = cluster.info.agents
        record = daemon(cluster, agent.url)
        kill_pids([record["pid"]])
        wait_until_sync(lambda: not pid_alive(record["pid"]), timeout=5, what="the agent to die")
        assert pid_alive(launcher) and all(pid_alive(p) for p in pids)
    # `cluster down` found them by the agent's session although the agent was gone.
    wait_until_sync(lambda: not any(pid_alive(p) for p in [launcher, *pids]), timeout=10,
                    what="the launcher and the task stopped")
