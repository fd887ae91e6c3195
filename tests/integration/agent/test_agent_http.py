"""The agent's HTTP API over a real socket: /state, health, metrics, and the files API rules."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from agent_fake_master import FRAMEWORK_ID, FakeMaster, command_task, get_json, run, sandbox_of

from pydcos.mesos.agent.service import Agent

STATE_KEYS = {
    "id", "pid", "hostname", "version", "resources", "attributes", "master_hostname", "flags",
    "start_time", "frameworks", "completed_frameworks",
}
FRAMEWORK_KEYS = {"id", "name", "user", "hostname", "role", "checkpoint", "executors", "completed_executors"}
EXECUTOR_KEYS = {
    "id", "name", "source", "container", "directory", "resources", "tasks", "queued_tasks", "completed_tasks",
}
TASK_KEYS = {"id", "name", "framework_id", "executor_id", "slave_id", "state", "resources", "statuses"}


async def running_sleeper(agent: Agent, master: FakeMaster, task_id: str = "sleeper.1") -> Path:
    await master.send(run(command_task(task_id, "echo out; echo err >&2; exec sleep 60", ports=[(31000, 31000)])))
    await master.wait_status(task_id, "TASK_RUNNING")
    return sandbox_of(agent, task_id)


async def test_state_has_every_key_mesos_clients_read(
    agent: Agent, master: FakeMaster, http: aiohttp.ClientSession
) -> None:
    status, empty = await get_json(http, f"{agent.url}/state.json")
    assert status == 200 and STATE_KEYS <= set(empty)
    assert empty["frameworks"] == [] and empty["completed_frameworks"] == []

    sandbox = await running_sleeper(agent, master)
    _, state = await get_json(http, f"{agent.url}/state")
    assert state["id"] == agent.agent_id
    assert state["pid"] == f"slave(1)@127.0.0.1:{agent.port}"
    assert state["hostname"] == "127.0.0.1" and state["version"] == "1.0.1"
    assert state["resources"]["cpus"] == 4 and state["resources"]["ports"] == "[31000-31999]"
    assert state["attributes"] == {"rack": "r1", "level": 3.0}
    assert state["master_hostname"] == "127.0.0.1"
    assert all(isinstance(v, str) for v in state["flags"].values())
    [fw] = state["frameworks"]
    assert FRAMEWORK_KEYS <= set(fw) and fw["id"] == FRAMEWORK_ID
    [executor] = fw["executors"]
    assert EXECUTOR_KEYS <= set(executor)
    assert executor["directory"] == str(sandbox) and executor["container"] == sandbox.name
    assert executor["resources"]["cpus"] == pytest.approx(0.1)
    [task] = executor["tasks"]
    assert TASK_KEYS <= set(task)
    assert (task["id"], task["state"], task["slave_id"]) == ("sleeper.1", "TASK_RUNNING", agent.agent_id)
    assert task["resources"]["ports"] == "[31000-31000]"
    [running] = task["statuses"]
    assert running["state"] == "TASK_RUNNING" and running["timestamp"] > 0
    assert running["container_status"]["container_id"]["value"] == sandbox.name
    assert running["container_status"]["network_infos"][0]["ip_addresses"][0]["ip_address"] == "127.0.0.1"

    for alias in ("/state.json", "/slave(1)/state", "/slave(1)/state.json", "/slave%281%29/state.json"):
        status, other = await get_json(http, agent.url + alias)
        assert status == 200 and other["id"] == state["id"], alias


async def test_health_version_metrics_and_unknown_paths(
    agent: Agent, master: FakeMaster, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{agent.url}/health") as resp:
        assert resp.status == 200 and await resp.read() == b""
    _, version = await get_json(http, f"{agent.url}/version")
    assert version["version"] == "1.0.1"
    await running_sleeper(agent, master)
    await master.send(run(command_task("done.1", "true")))
    await master.wait_status("done.1", "TASK_FINISHED")
    _, metrics = await get_json(http, f"{agent.url}/metrics/snapshot")
    assert metrics["slave/registered"] == 1
    assert metrics["slave/tasks_running"] == 1 and metrics["slave/tasks_finished"] == 1
    assert metrics["slave/tasks_failed"] == metrics["slave/tasks_killed"] == metrics["slave/tasks_lost"] == 0
    assert metrics["slave/cpus_total"] == 4 and metrics["slave/cpus_used"] == pytest.approx(0.1)
    assert metrics["slave/mem_total"] == 4096 and metrics["slave/mem_used"] == 32
    assert metrics["slave/disk_total"] == 10000 and metrics["slave/disk_used"] == 0
    assert metrics["slave/uptime_secs"] >= 0
    async with http.get(f"{agent.url}/no/such/thing") as resp:
        assert resp.status == 404
        assert resp.content_type == "text/plain"


async def test_files_browse_read_download(agent: Agent, master: FakeMaster, http: aiohttp.ClientSession) -> None:
    sandbox = await running_sleeper(agent, master)
    base = f"{agent.url}/files"
    status, listing = await get_json(http, f"{base}/browse.json?path={quote(str(sandbox))}/.")
    assert status == 200
    by_name = {Path(e["path"]).name: e for e in listing}
    assert set(by_name) == {"stdout", "stderr"}
    stdout = by_name["stdout"]
    assert stdout["path"] == f"{sandbox}/stdout"
    assert (stdout["size"], stdout["mode"], stdout["nlink"]) == (4, "-rw-r--r--", 1)
    assert isinstance(stdout["mtime"], int) and isinstance(stdout["uid"], str)

    path = quote(f"{sandbox}/stdout")
    cases = {
        "offset=0&length=2": {"data": "ou", "offset": 0},
        "offset=1&length=-1": {"data": "ut\n", "offset": 1},
        "offset=-1": {"data": "", "offset": 4},
        "offset=4&length=10": {"data": "", "offset": 4},
        "offset=100&length=10": {"data": "", "offset": 4},
        "": {"data": "", "offset": 4},
    }
    for query, expected in cases.items():
        assert await get_json(http, f"{base}/read.json?path={path}&{query}") == (200, expected), query
    for query in ("offset=abc", "offset=-2", "length=-5", "offset=1.5", f"offset={2**70}"):
        status, _ = await get_json(http, f"{base}/read.json?path={path}&{query}")
        assert status == 400, query

    big = sandbox / "big"
    big.write_bytes(b"x" * 100_000)
    _, chunk = await get_json(http, f"{base}/read?path={quote(str(big))}&offset=0&length=-1")
    assert len(chunk["data"]) == 16 * 4096

    async with http.get(f"{base}/download.json?path={path}") as resp:
        assert resp.status == 200 and await resp.read() == b"out\n"
    status, debug = await get_json(http, f"{base}/debug")
    assert status == 200 and str(sandbox) in debug


async def test_files_missing_and_wrong_kinds(agent: Agent, master: FakeMaster, http: aiohttp.ClientSession) -> None:
    sandbox = await running_sleeper(agent, master)
    base = f"{agent.url}/files"
    assert (await get_json(http, f"{base}/read.json?path={sandbox}/nope&offset=0"))[0] == 404
    assert (await get_json(http, f"{base}/browse.json?path={sandbox}/nope"))[0] == 404
    assert (await get_json(http, f"{base}/read.json?path={sandbox}&offset=0"))[0] == 400
    assert (await get_json(http, f"{base}/read.json"))[0] == 400
    os.mkfifo(sandbox / "fifo")  # reading it must neither block nor succeed
    assert (await get_json(http, f"{base}/read.json?path={sandbox}/fifo&offset=0"))[0] == 400
    assert (await get_json(http, f"{base}/download.json?path={sandbox}/fifo"))[0] == 400
    assert (await get_json(http, f"{base}/read.json?path=/slave/log&offset=0"))[0] == 403


async def test_files_api_never_leaves_the_sandboxes(
    agent: Agent, master: FakeMaster, http: aiohttp.ClientSession, work_dir: str
) -> None:
    sandbox = await running_sleeper(agent, master)
    (sandbox / "passwd").symlink_to("/etc/passwd")
    (sandbox / "etc").symlink_to("/etc")
    (sandbox / "inside").symlink_to(sandbox / "stdout")
    secret = Path(work_dir) / "secret"
    secret.write_text("do not read\n")
    base = f"{agent.url}/files"
    escapes = [
        "/etc/passwd",
        f"{sandbox}/../../../../../../../../../../etc/passwd",
        f"{sandbox}/passwd",
        f"{sandbox}/etc/passwd",
        f"{sandbox}/etc",
        str(secret),
        f"{work_dir}/slaves/../secret",
        "/",
        "/proc/self/environ",
    ]
    for path in escapes:
        for endpoint in ("read.json", "browse.json", "download"):
            status, body = await get_json(http, f"{base}/{endpoint}?path={quote(path)}&offset=0")
            assert status in (400, 403, 404), (endpoint, path, status)
            assert "do not read" not in str(body) and "root:" not in str(body)
    for raw in ("etc/passwd", "%00", f"{quote(str(sandbox))}/stdout%00.txt", "slaves"):
        status, _ = await get_json(http, f"{base}/read.json?path={raw}&offset=0")
        assert status == 400, raw
    # A symlink that stays inside is fine; the listing does not follow links that leave.
    assert await get_json(http, f"{base}/read.json?path={sandbox}/inside&offset=0") == (
        200, {"data": "out\n", "offset": 0})
    _, listing = await get_json(http, f"{base}/browse.json?path={sandbox}")
    modes = {Path(e["path"]).name: e["mode"] for e in listing}
    assert modes["passwd"].startswith("l") and modes["inside"].startswith("-")


async def test_slave_log_is_served_when_configured(
    make_agent: Any, master: FakeMaster, http: aiohttp.ClientSession, work_dir: str
) -> None:
    log_file = Path(work_dir) / "agent.log"
    log_file.write_text("line one\nline two\n")
    agent = await make_agent(log_file=str(log_file))
    assert await get_json(http, f"{agent.url}/files/read.json?path=/slave/log&offset=0&length=8") == (
        200, {"data": "line one", "offset": 0})
    _, state = await get_json(http, f"{agent.url}/state.json")
    assert state["flags"]["external_log_file"] == str(log_file)


async def test_agent_survives_random_requests(agent: Agent, master: FakeMaster, http: aiohttp.ClientSession) -> None:
    await running_sleeper(agent, master)
    rng = random.Random(7)
    paths = ["/state", "/state.json", "/files/read.json", "/files/browse", "/files/download", "/health",
             "/metrics/snapshot", "/slave(1)/state", "/files/debug.json", "/version"]
    for _ in range(150):
        path = rng.choice(paths)
        query = "&".join(
            f"{rng.choice(['path', 'offset', 'length', 'jsonp', 'x'])}={quote(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 12))))}"
            for _ in range(rng.randint(0, 3))
        )
        body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 2000)))
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
        async with http.request(method, f"{agent.url}{path}?{query}", data=body) as resp:
            await resp.read()
            assert resp.status < 500, (method, path, query, resp.status)
    async with http.get(f"{agent.url}/health") as resp:
        assert resp.status == 200
    assert agent.counters["agent/unhandled_errors_total"] == 0
