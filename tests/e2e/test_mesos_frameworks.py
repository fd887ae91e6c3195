"""A framework on the public pymesos library runs tasks on a real `pydcos cluster up`, and their
sandbox output is read back through the agents' files API, as `dcos task log` does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from pydcos.core.waiting import wait_until
from pydcos.testing.cluster import LocalCluster
from pydcos.testing.scheduler_client import SchedulerClient, command_task

ROOT = Path(__file__).resolve().parents[2]
CLIENT_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
FRAMEWORK = ROOT / "tests" / "e2e" / "clients" / "pymesos_framework.py"


async def get_json(session: aiohttp.ClientSession, url: str) -> dict:  # type: ignore[type-arg]
    async with session.get(url) as r:
        assert r.status == 200, (url, r.status, await r.text())
        return await r.json()  # type: ignore[no-any-return]


def test_pymesos_framework_and_sandbox_output(local_cluster: LocalCluster) -> None:
    if not CLIENT_PYTHON.exists():
        pytest.fail("the client venv is missing: run scripts/setup-clients.sh (./pydcos.sh test does)")
    master = local_cluster.mesos_url.removeprefix("http://")
    run = subprocess.run([str(CLIENT_PYTHON), str(FRAMEWORK), master, "10"], capture_output=True,
                         text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["states"] == {f"hello-{i}": "TASK_FINISHED" for i in range(10)}
    import asyncio

    asyncio.run(_check_sandboxes(local_cluster, result["framework_id"]))


async def _check_sandboxes(cluster: LocalCluster, framework_id: str) -> None:
    agents = {a.id: a.url for a in cluster.info.agents}
    async with aiohttp.ClientSession() as session:
        state = await get_json(session, cluster.mesos_url + "/master/state.json")
        framework = [f for f in state["frameworks"] + state["completed_frameworks"] if f["id"] == framework_id][0]
        tasks = framework["tasks"] + framework["completed_tasks"]
        assert {t["id"] for t in tasks} >= {f"hello-{i}" for i in range(10)}
        for task in tasks:
            agent_url = agents[task["slave_id"]]
            agent_state = await get_json(session, agent_url + "/state.json")
            directory = _directory(agent_state, framework_id, task["id"])
            read = await get_json(session, f"{agent_url}/files/read.json?path={quote(directory + '/stdout')}"
                                           f"&offset=0&length=-1")
            assert read["data"] == f"{task['id']}\n"
            size = await get_json(session, f"{agent_url}/files/read.json?path={quote(directory + '/stdout')}"
                                           f"&offset=-1&length=0")
            assert size == {"data": "", "offset": len(task["id"]) + 1}
            listing = await get_json(session, f"{agent_url}/files/browse.json?path={quote(directory + '/.')}")
            assert {Path(e["path"]).name for e in listing} >= {"stdout", "stderr"}


def _directory(agent_state: dict, framework_id: str, task_id: str) -> str:  # type: ignore[type-arg]
    for fw in agent_state["frameworks"] + agent_state["completed_frameworks"]:
        if fw["id"] != framework_id:
            continue
        for executor in fw["executors"] + fw["completed_executors"]:
            tasks = executor["tasks"] + executor["completed_tasks"] + executor["queued_tasks"]
            if any(t["id"] == task_id for t in tasks):
                return str(executor["directory"])
    raise AssertionError(f"task {task_id} is under no executor in the agent's state")


async def test_public_agent_gets_only_slave_public_frameworks(local_cluster: LocalCluster) -> None:
    public = {a.id for a in local_cluster.info.agents if a.zone == "public"}
    private = {a.id for a in local_cluster.info.agents if a.zone == "private"}
    assert public and private
    async with SchedulerClient(local_cluster.mesos_url, {"user": "root", "name": "pub", "role": "slave_public"}) as s:
        seen: set[str] = set()

        async def offered() -> set[str]:
            event = await s.next_event("OFFERS")
            seen.update(o["agent_id"]["value"] for o in event["offers"]["offers"])
            return seen & public

        await wait_until(offered, timeout=20, what="an offer from the public agent")
        offer_agent = next(iter(seen & public))
        await s.call("REVIVE")
        task = command_task("public-task", offer_agent, "sleep 30", cpus=0.1, mem=16)
        # A stale offer id: the task is refused on the stream, never with an HTTP error.
        status = await s.call("ACCEPT", accept={"offer_ids": [{"value": "nope"}], "operations": [
            {"type": "LAUNCH", "launch": {"task_infos": [task]}}]})
        assert status == 202
        lost = await s.wait_update("public-task", {"TASK_LOST", "TASK_DROPPED"})
        assert lost["reason"] == "REASON_INVALID_OFFERS"


async def test_tasks_resolve_names_through_the_cluster_dns(local_cluster: LocalCluster) -> None:
    """A task's resolver is the dns beside the master: `leader.mesos` resolves inside it."""
    master_ip = local_cluster.info.masters[0].ip
    agents = {a.id: a.url for a in local_cluster.info.agents}
    async with SchedulerClient(local_cluster.mesos_url, {"user": "root", "name": "resolver"}) as s:
        offer = next(o for o in (await s.next_event("OFFERS"))["offers"]["offers"]
                     if agents[o["agent_id"]["value"]].startswith(f"http://{local_cluster.net}.2."))
        task = command_task("resolve", offer["agent_id"]["value"], "getent hosts leader.mesos", cpus=0.1, mem=32)
        await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": [
            {"type": "LAUNCH", "launch": {"task_infos": [task]}}]})
        done = await s.wait_update("resolve", {"TASK_FINISHED", "TASK_FAILED"}, timeout=20)
        assert done["state"] == "TASK_FINISHED", done
        async with aiohttp.ClientSession() as session:
            agent_url = agents[offer["agent_id"]["value"]]
            directory = _directory(await get_json(session, agent_url + "/state.json"), s.framework_id or "", "resolve")
            out = await get_json(session, f"{agent_url}/files/read.json?path={quote(directory + '/stdout')}&offset=0")
        assert out["data"].split()[0] == master_ip
