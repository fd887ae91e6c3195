"""The public pymesos 0.3.15 driver (in .venv-clients) against an in-process master."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from pydcos.mesos.master.service import Master
from pydcos.testing.simulated_agent import SimulatedAgent

ROOT = Path(__file__).resolve().parents[3]
CLIENT_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
FRAMEWORK = ROOT / "tests" / "e2e" / "clients" / "pymesos_framework.py"


@pytest.fixture
def client_python() -> Path:
    if not CLIENT_PYTHON.exists():
        pytest.fail("the client venv is missing: run scripts/setup-clients.sh (./pydcos.sh test does)")
    return CLIENT_PYTHON


async def test_pymesos_framework_runs_tasks(master: Master, client_python: Path) -> None:
    agent = SimulatedAgent(master.url, "127.0.2.1", finish_tasks=True)
    await agent.start()
    try:
        hostport = master.url.removeprefix("http://")
        proc = await asyncio.create_subprocess_exec(
            str(client_python), str(FRAMEWORK), hostport, "20",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()[-3000:]
        result = json.loads(out.decode().strip().splitlines()[-1])
        assert result["states"] == {f"hello-{i}": "TASK_FINISHED" for i in range(20)}
        assert len(agent.tasks) == 20
        # pymesos acknowledged every update: nothing is left pending at the agent.
        assert not agent.unacked
    finally:
        await agent.close()
