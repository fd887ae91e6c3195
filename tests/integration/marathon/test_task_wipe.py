"""`wipe=true` on the three task-kill routes, and the dcos CLI's `marathon task stop --wipe`: the task
is killed and gone from Marathon at once, without waiting for Mesos to confirm its end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from marathon_helpers import Client

from pydcos.core.waiting import wait_until
from pydcos.marathon.service import Marathon
from pydcos.mesos import internal
from pydcos.testing.simulated_agent import SimulatedAgent

Json = dict[str, Any]
APP = {"cmd": "x", "cpus": 0.1, "mem": 8}


@pytest.fixture
def deaf(agents: list[SimulatedAgent]) -> Iterator[list[str]]:
    """The agents take kills but never answer them: a task stays running as far as Mesos knows,
    so only `wipe` can make it leave Marathon. Yields the task ids they were asked to kill."""
    asked: list[str] = []
    originals = [a._handle for a in agents]

    def make(original: Any) -> Any:
        async def handle(msg: internal.MasterToAgent) -> None:
            if isinstance(msg, internal.KillTask):
                asked.append(msg.task_id)
                return
            await original(msg)
        return handle

    for agent, original in zip(agents, originals, strict=True):
        agent._handle = make(original)  # type: ignore[method-assign]
    yield asked
    for agent, original in zip(agents, originals, strict=True):
        agent._handle = original  # type: ignore[method-assign]


async def task_ids(client: Client, app_id: str) -> set[str]:
    return {t["id"] for t in (await client.app(app_id))["tasks"]}


async def test_wipe_on_every_kill_route(client: Client, deaf: list[str]) -> None:
    await client.call("POST", "/v2/apps", {"id": "/wiped", "instances": 4, **APP})
    tasks = sorted(t["id"] for t in (await client.wait_running("/wiped", 4))["tasks"])

    status, body = await client.call("POST", "/v2/tasks/delete?wipe=true", {"ids": [tasks[0]]})
    assert status == 200 and [t["id"] for t in body["tasks"]] == [tasks[0]]
    assert tasks[0] not in await task_ids(client, "/wiped")  # gone at once
    status, body = await client.call("DELETE", f"/v2/apps/wiped/tasks/{tasks[1]}?wipe=True")
    assert status == 200 and body["task"]["id"] == tasks[1]
    assert tasks[1] not in await task_ids(client, "/wiped")
    await wait_until(lambda: set(deaf) >= set(tasks[:2]), what="both kills sent to the agents")
    running = await client.wait_running("/wiped", 4)  # replaced, though Mesos never confirmed the kills
    assert not {t["id"] for t in running["tasks"]} & set(tasks[:2])

    # Without wipe a kill waits for Mesos, which never answers here: the task stays listed.
    await client.call("POST", "/v2/tasks/delete", {"ids": [tasks[2]]})
    assert tasks[2] in await task_ids(client, "/wiped")
    await client.wait_running("/wiped", 5)  # its replacement beside it

    # scale=true: the 4 that count are taken off the app's instances; all 5 leave Marathon at once.

    status, body = await client.call("DELETE", "/v2/apps/wiped/tasks?wipe=true&scale=true")
    assert status == 200 and set(body) == {"deploymentId", "version"}
    assert (await client.app("/wiped"))["instances"] == 0
    await client.wait_no_deployments()
    assert await task_ids(client, "/wiped") == set()


async def test_wipe_of_unknown_tasks_is_404(client: Client) -> None:
    await client.call("POST", "/v2/apps", {"id": "/known", **APP})
    await client.wait_running("/known", 1)
    status, body = await client.call("POST", "/v2/tasks/delete?wipe=true", {"ids": ["known.nope"]})
    assert status == 404 and body["message"]
    status, _ = await client.call("DELETE", "/v2/apps/known/tasks/known.nope?wipe=true")
    assert status == 404
    status, _ = await client.call("POST", "/v2/tasks/delete?wipe=true", raw=b"{not json")
    assert status == 400
    assert len(await task_ids(client, "/known")) == 1


async def test_dcos_cli_task_stop_wipe(client: Client, marathon: Marathon, deaf: list[str],
                                       clients_python: Path, tmp_path: Path) -> None:
    await client.call("POST", "/v2/apps", {"id": "/cli-wipe", **APP})
    [task] = (await client.wait_running("/cli-wipe", 1))["tasks"]
    config = tmp_path / "dcos.toml"
    config.write_text(f'[core]\ndcos_url = "{marathon.url}"\n[marathon]\nurl = "{marathon.url}"\n')
    config.chmod(0o600)
    env = {"PATH": f"{clients_python.parent}:/usr/bin:/bin", "HOME": str(tmp_path), "DCOS_CONFIG": str(config),
           "LANG": "C.UTF-8"}
    proc = await asyncio.create_subprocess_exec(
        str(clients_python.parent / "dcos"), "marathon", "task", "stop", "--wipe", task["id"], env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["id"] == task["id"]
    assert task["id"] not in await task_ids(client, "/cli-wipe")
    await wait_until(lambda: task["id"] in deaf, what="the kill sent to the agent")
