"""`python -m pydcos.mesos.agent` as a real process (uvloop when installed): flags, a task, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import aiohttp
from agent_fake_master import FakeMaster, command_task, get_json, run

from pydcos.core.waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_agent_process_runs_a_task_and_stops_on_sigterm(
    master: FakeMaster, work_dir: str, http: aiohttp.ClientSession
) -> None:
    port = free_port()
    log_file = Path(work_dir) / "agent.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pydcos.mesos.agent",
        "--ip", "127.0.0.1", "--port", str(port), "--master", master.address, "--work-dir", work_dir,
        "--resources", "cpus:2;mem:1024;disk:100;ports:[31000-31009]", "--attributes", "rack:r2",
        "--log-file", str(log_file), "--registration-backoff", "0.02", "--status-update-retry", "0.2",
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_until(lambda: master.connected.is_set(), timeout=15, what="agent process registered")
        reg = master.registrations[-1]
        assert (reg.port, [a.name for a in reg.info.attributes]) == (port, ["rack"])
        await master.send(run(command_task("proc.1", "echo from-a-process")))
        await master.wait_status("proc.1", "TASK_FINISHED")
        _, state = await get_json(http, f"http://127.0.0.1:{port}/state.json")
        directory = state["completed_frameworks"][0]["completed_executors"][0]["directory"]
        _, out = await get_json(http, f"http://127.0.0.1:{port}/files/read.json?path={directory}/stdout&offset=0")
        assert out == {"data": "from-a-process\n", "offset": 0}
        _, log = await get_json(http, f"http://127.0.0.1:{port}/files/read.json?path=/slave/log&offset=0")
        assert "agent_registered" in log["data"]
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            code = await proc.wait()
    assert code == 0
    assert "agent_stopped" in log_file.read_text()
