"""Agent recovery: time from `kill -9` of an agent running 500 checkpointed tasks to the restarted
agent having re-attached all of them.

A master runs in this process; the agent is a real process (`--isolation none`, so the 500 tiny
tasks need no 32 MB cgroup each). A checkpointing framework launches 500 `sleep 3600` tasks and
acknowledges their TASK_RUNNING. Then the agent is SIGKILLed and started again with the same
flags; the clock stops when the agent is registered again under the same id, its /state lists
500 TASK_RUNNING tasks and the master's /master/state shows the agent active with 500
TASK_RUNNING tasks. Lost = tasks the framework heard anything but TASK_RUNNING about, plus
tasks missing from the agent. Prints one line:

    agent_recovery tasks=500 recovered_s=... lost=0

Goal: lost=0, recovered_s <= 5.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydcos.core.waiting import wait_until  # noqa: E402
from pydcos.mesos.master.config import MasterConfig  # noqa: E402
from pydcos.mesos.master.service import Master  # noqa: E402
from pydcos.testing.scheduler_client import SchedulerClient, command_task  # noqa: E402

TASKS = int(os.environ.get("RECOVERY_TASKS", "500"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as r:
        return await r.json(content_type=None)


async def wait_for(what: str, check: Any) -> None:
    await wait_until(check, timeout=120.0, interval=0.02, what=what)


async def main() -> None:
    work = tempfile.mkdtemp(prefix="pydcos-recovery-bench-")
    config = MasterConfig(ip="127.0.0.1", port=0, allocation_interval=0.1, agent_ping_interval=1.0,
                          agent_unreachable_timeout=60.0)
    port = free_port()
    async with Master(config) as master, aiohttp.ClientSession() as http:
        address = master.url.removeprefix("http://").rstrip("/")
        argv = [sys.executable, "-m", "pydcos.mesos.agent", "--ip", "127.0.0.1", "--port", str(port),
                "--master", address, "--work-dir", work, "--isolation", "none",
                "--resources", f"cpus:{TASKS};mem:{TASKS * 2};disk:100;ports:[31000-31009]",
                "--log-file", os.path.join(work, "agent.log"), "--registration-backoff", "0.02",
                "--registration-backoff-max", "0.2", "--heartbeat", "1"]
        agent = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL)
        agent_url = f"http://127.0.0.1:{port}"
        try:
            async with SchedulerClient(master.url, {"user": "root", "name": "bench", "checkpoint": True}) as s:
                offer = (await s.next_event("OFFERS", timeout=30))["offers"]["offers"][0]
                agent_id = offer["agent_id"]["value"]
                tasks = [command_task(f"s{i}", agent_id, "sleep 3600", cpus=0.001, mem=1) for i in range(TASKS)]
                await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": [
                    {"type": "LAUNCH", "launch": {"task_infos": tasks}}]})

                async def all_running_acked() -> bool:
                    running = {u["task_id"]["value"] for u in s.updates if u["state"] == "TASK_RUNNING"}
                    if len(running) < TASKS:
                        return False
                    metrics = await get(http, f"{agent_url}/metrics/snapshot")
                    return bool(metrics["agent/status_updates_pending"] == 0)

                await wait_for("tasks running", all_running_acked)
                agent.send_signal(signal.SIGKILL)
                await agent.wait()
                start = time.perf_counter()
                agent = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL)

                async def recovered() -> bool:
                    try:
                        metrics = await get(http, f"{agent_url}/metrics/snapshot")
                        if metrics.get("slave/registered") != 1:
                            return False
                        state = await get(http, f"{agent_url}/state")
                    except aiohttp.ClientError:
                        return False
                    if state["id"] != agent_id:
                        raise RuntimeError(f"new agent id {state['id']}")
                    tasks = [t for f in state["frameworks"] for e in f["executors"] for t in e["tasks"]]
                    if sum(t["state"] == "TASK_RUNNING" for t in tasks) < TASKS:
                        return False
                    mstate = await get(http, f"{master.url}/master/state")
                    slaves = [a for a in mstate["slaves"] if a["id"] == agent_id and a.get("active")]
                    mtasks = [t for f in mstate["frameworks"] for t in f["tasks"]
                              if t["slave_id"] == agent_id and t["state"] == "TASK_RUNNING"]
                    return bool(slaves) and len(mtasks) == TASKS

                await wait_for("recovered", recovered)
                elapsed = time.perf_counter() - start
                state = await get(http, f"{agent_url}/state")
                live = {t["id"] for f in state["frameworks"] for e in f["executors"] for t in e["tasks"]
                        if t["state"] == "TASK_RUNNING"}
                bad = {u["task_id"]["value"] for u in s.updates if u["state"] != "TASK_RUNNING"}
                lost = len(bad | ({f"s{i}" for i in range(TASKS)} - live))
                print(f"agent_recovery tasks={TASKS} recovered_s={elapsed:.2f} lost={lost}")
        finally:
            agent.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(60):
                    await agent.wait()
            except TimeoutError:
                agent.kill()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
