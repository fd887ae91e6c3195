"""Custom executors on real drivers, launched by frameworks through the real master and agent:
the example pair (pydcos's executor and scheduler drivers) and pymesos's own executor driver."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import aiohttp

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.service import Agent
from pydcos.mesos.master.service import Master
from pydcos.mesos.scheduler import Scheduler, SchedulerDriver

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
PYMESOS_EXECUTOR = Path(__file__).resolve().parent / "clients" / "pymesos_executor.py"
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR"}


def address(master: Master) -> str:
    return master.url.removeprefix("http://").rstrip("/")


async def test_example_framework_runs_tasks_on_the_example_executor(real_master: Master, real_agent: Agent) -> None:
    exited_with: list[tuple[str, int | None]] = []
    runner = real_agent.tasks.executors
    original = runner.on_exit

    def on_exit(container_id: str, returncode: int | None, limitation: str | None) -> bool:
        key = runner._by_container.get(container_id)
        if key is not None:
            exited_with.append((key[1], returncode))
        return original(container_id, returncode, limitation)

    runner.on_exit = on_exit  # type: ignore[method-assign]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / "executor_framework.py"), address(real_master), "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        async with asyncio.timeout(90):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
    text = out.decode()
    assert proc.returncode == 0, text
    assert "message from shell-executor pong: ping" in text
    assert sum(line.endswith("TASK_FINISHED exit status 0") for line in text.splitlines()) == 3
    await wait_until(lambda: real_agent.updates.pending_count() == 0, what="every update acknowledged")
    # The master shuts a removed framework down only on agents where it still has tasks (here:
    # only when an acknowledgement was still in flight), not where only an idle executor is
    # left; so do here what it should do once the framework is gone.
    for fw_id in {k[0] for k in runner.core.records}:
        await real_agent.on_message(internal.ShutdownFramework(fw_id))
    await wait_until(lambda: not runner.core.records, what="executor gone")
    fw = real_agent.state.completed_frameworks[-1]
    [executor] = [e for e in fw.completed_executors if e.id == "shell-executor"]
    assert sorted(t.id for t in executor.completed_tasks) == ["task-0", "task-1", "task-2"]
    stdout = (Path(executor.directory) / "stdout").read_text()
    assert "task-1: task-1 ran in " + executor.directory in stdout
    assert exited_with == [("shell-executor", 0)]  # the pydcos driver stopped cleanly on SHUTDOWN


class PymesosFramework(Scheduler):
    def __init__(self, executor: dict[str, Any], count: int) -> None:
        self.executor, self.waiting = executor, [f"echo-{i}" for i in range(count)]
        self.statuses: dict[str, dict[str, Any]] = {}
        self.replies: list[bytes] = []
        self.lost: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def resource_offers(self, driver: SchedulerDriver, offers: list[dict[str, Any]]) -> None:
        for offer in offers:
            tasks = []
            while self.waiting and len(tasks) < 4:
                name = self.waiting.pop()
                tasks.append({"name": name, "task_id": {"value": name}, "agent_id": offer["agent_id"],
                              "executor": self.executor, "data": base64.b64encode(name.encode()).decode(),
                              "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]})
            driver.launch_tasks([offer["id"]], tasks, {"refuse_seconds": 5})

    def status_update(self, driver: SchedulerDriver, status: dict[str, Any]) -> None:
        with self.lock:
            first = not self.statuses
            self.statuses[status["task_id"]["value"]] = status
        if first and status["state"] == "TASK_RUNNING":
            driver.send_framework_message(self.executor["executor_id"], status["agent_id"], b"ping")

    def framework_message(self, driver: SchedulerDriver, executor_id: dict[str, Any], agent_id: dict[str, Any],
                          data: bytes) -> None:
        self.replies.append(data)

    def executor_lost(self, driver: SchedulerDriver, executor_id: dict[str, Any], agent_id: dict[str, Any],
                      status: int | None) -> None:
        self.lost.append((executor_id["value"], status))


async def test_pymesos_executor_driver_on_the_pydcos_agent(
    real_master: Master, real_agent: Agent, clients_python: Path, http: aiohttp.ClientSession
) -> None:
    """COMPAT §5.3/§5.4: exact ids (pymesos asserts them), the grace period's format (it fails to
    start otherwise), ACKNOWLEDGED uuids (it decodes 16 bytes), and its own process group (its
    SHUTDOWN handling SIGKILLs group 0, which would take this test process down otherwise)."""
    executor = {"executor_id": {"value": "pymesos-echo"}, "name": "pymesos echo",
                "command": {"value": f"exec {clients_python} {PYMESOS_EXECUTOR}"},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}]}
    framework = PymesosFramework(executor, 3)
    driver = SchedulerDriver(framework, {"user": "root", "name": "pymesos-executor-test"}, address(real_master))
    driver.start()
    try:
        def finished() -> bool:
            with framework.lock:
                done = [s for s in framework.statuses.values() if s["state"] in TERMINAL]
            return len(done) == 3 and bool(framework.replies)

        await wait_until(finished, timeout=60, what=f"3 terminal statuses and a reply ({framework.statuses})")
        for name, status in framework.statuses.items():
            assert status["state"] == "TASK_FINISHED", status
            assert base64.b64decode(status["data"]) == name.encode()  # `data` reaches the scheduler unchanged
            assert status["executor_id"] == {"value": "pymesos-echo"}
        assert framework.replies == [b"pong: ping"]
        await wait_until(lambda: real_agent.updates.pending_count() == 0, what="every update acknowledged")
        key = (driver.framework_id or "", "pymesos-echo")
        rec = real_agent.tasks.executors.core.record(key)
        assert rec is not None and rec.phase == "subscribed"
        assert not any(rec.uuids[u][1] is False for u in rec.uuids)  # ACKNOWLEDGED went out for each
        pid = real_agent.tasks.executors.pid(*key)
        assert pid is not None and os.getpgid(pid) == pid != os.getpgid(0)
        directory = Path(rec.directory)
        # SHUTDOWN through the master (the call mesoshttp makes; our driver has no method for it):
        # pymesos then SIGKILLs its own process group after the grace period, unless it exited first.
        driver._fire({"type": "SHUTDOWN", "shutdown": {"executor_id": executor["executor_id"],
                                                       "agent_id": {"value": real_agent.agent_id}}})
        await wait_until(lambda: not real_agent.tasks.executors.core.records, timeout=20, what="executor ended")
        await wait_until(lambda: framework.lost, what="FAILURE (executor lost) reached the framework")
        # It exits on its own (0), or its delayed group kill / the agent's SIGKILL ends it first (9).
        assert framework.lost in ([("pymesos-echo", 0)], [("pymesos-echo", 9)])
    finally:
        # No TEARDOWN (SchedulerDriver.stop() can race the master's answering ERROR, which ends
        # its loop first); off the master's loop, as it blocks.
        await asyncio.to_thread(driver.stop, True)
        await asyncio.to_thread(driver.join)
    lines = (directory / "stdout").read_text().splitlines()
    seen = json.loads(next(line for line in lines if line.startswith("registered "))[len("registered "):])
    assert seen["executor_id"] == {"value": "pymesos-echo"} and seen["framework_id"] == {"value": key[0]}
    assert seen["agent_id"] == {"value": real_agent.agent_id} and seen["grace"] == 0.5
    assert seen["pid"] == seen["pgid"] == pid
    assert "shutdown" in lines
    async with http.get(f"{real_agent.url}/health") as r:  # the agent (this process) survived
        assert r.status == 200
