"""The agent as a real process that tests can SIGKILL and start again (same flags, work dir)."""

from __future__ import annotations

import asyncio
import glob
import os
import signal
import sys

import aiohttp
from agent_fake_master import get_json
from test_agent_process import free_port

from pydcos.mesos.agent import checkpoint as ck


class AgentProcess:
    def __init__(self, master: str, work_dir: str, *extra: str) -> None:
        self.port = free_port()
        self.work_dir = work_dir
        self.argv = [
            sys.executable, "-m", "pydcos.mesos.agent", "--ip", "127.0.0.1", "--port", str(self.port),
            "--master", master, "--work-dir", work_dir, "--isolation", "none",
            "--resources", "cpus:8;mem:8192;disk:100;ports:[31000-31009]",
            "--log-file", os.path.join(work_dir, "agent.log"), "--registration-backoff", "0.02",
            "--registration-backoff-max", "0.5", "--status-update-retry", "0.3", "--heartbeat", "0.5",
            *extra,
        ]
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(*self.argv, stdin=asyncio.subprocess.DEVNULL)

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.proc = None

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.proc = None


def running(pid: int) -> bool:
    """Alive and not a zombie (orphans may be reparented to this test process and never reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def ended_tasks(work_dir: str) -> int:
    """Checkpointed tasks whose process is gone (reaped by the task launcher)."""
    ended = 0
    for path in glob.glob(f"{work_dir}/meta/slaves/*/frameworks/*/executors/*/runs/*/container.json"):
        with open(path, "rb") as f:
            record = ck.decode_record(f.read())
        if record is not None and record.pid is not None and not running(record.pid):
            ended += 1
    return ended


def sandbox_pid(work_dir: str, task_id: str) -> int:
    [path] = glob.glob(f"{work_dir}/slaves/*/frameworks/*/executors/{task_id}/runs/*/pid")
    with open(path) as f:
        return int(f.read())


async def updates_settled(http: aiohttp.ClientSession, agent: AgentProcess, pending: float) -> bool:
    """The agent has `pending` unacknowledged updates and every checkpoint line on disk. An ack
    still on its way to the disk when the agent is SIGKILLed makes the restarted agent send that
    update again (at least once, as Mesos), so a test about to SIGKILL waits for both."""
    try:
        _, metrics = await get_json(http, f"{agent.url}/metrics/snapshot")
    except aiohttp.ClientError:
        return False
    return bool(metrics["agent/status_updates_pending"] == pending and metrics["agent/checkpoint_writes_pending"] == 0)
