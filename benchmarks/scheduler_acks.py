"""The master's CPU per pipelined scheduler call, against a bare aiohttp server's per request.

A framework acknowledges every status update with its own `POST /api/v1/scheduler`; at a burst
of short tasks that is two calls per task, pipelined on one connection (as Marathon and the
test scheduler client send them). This script starts a real master process, subscribes a
framework, sends CALLS pipelined ACKNOWLEDGEs (of tasks the master does not know, so the figure
is the HTTP and call path, not task bookkeeping) and reads the master's CPU from /proc. In the
same run, the same bytes go to a bare aiohttp server in its own process whose handler reads the
body and answers 202: the floor any aiohttp-based master stands on. Prints one line:

    scheduler_acks calls=20000 master_us=... bare_aiohttp_us=... ratio=...

No goal of its own: it backs the figures in docs/architecture.md ("Bursts"). Every wait is
bounded; only 127.0.0.1 is used; the processes stopped are the two this script started.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydcos.mesos.v1.call_pipeline import CallPipeline  # noqa: E402
from pydcos.testing.proc import cpu_seconds  # noqa: E402
from pydcos.testing.scheduler_client import SchedulerClient  # noqa: E402

CALLS = int(os.environ.get("CALLS", "20000"))
DEADLINE_S = 60.0
BARE_SERVER = """
import sys
from aiohttp import web
async def call(request):
    await request.read()
    return web.Response(status=202)
app = web.Application()
app.router.add_post("/api/v1/scheduler", call)
app.router.add_get("/health", lambda r: web.Response(text="ok"))
try:
    import uvloop
    loop = uvloop.new_event_loop()
except ImportError:
    loop = None
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, loop=loop)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(*url.removeprefix("http://").split(":"))
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status = await reader.readline()
            writer.close()
            if b" 200 " in status:
                return
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} did not become healthy")


async def pipelined(url: str, bodies: list[bytes], stream_id: str, pid: int) -> float:
    """Send every body pipelined on one connection; the server's CPU seconds per call."""
    pipeline = CallPipeline(url, connect_timeout=5.0)
    await pipeline.open()
    try:
        before = cpu_seconds(pid)
        for body in bodies:
            await pipeline.send("ACKNOWLEDGE", body, stream_id)
        async with asyncio.timeout(DEADLINE_S):
            await pipeline.wait_answered()
        if pipeline.failed:
            raise RuntimeError(f"{pipeline.failed} calls were not answered 202")
        return (cpu_seconds(pid) - before) / len(bodies)
    finally:
        await pipeline.close()


def ack_bodies(framework_id: str) -> list[bytes]:
    return [json.dumps({"type": "ACKNOWLEDGE", "framework_id": {"value": framework_id}, "acknowledge": {
        "agent_id": {"value": "unknown-agent"}, "task_id": {"value": f"t{i}"},
        "uuid": "AQEBAQEBAQEBAQEBAQEBAQ=="}}).encode() for i in range(CALLS)]


async def measure(master_url: str, master_pid: int, bare_url: str, bare_pid: int) -> tuple[float, float]:
    await wait_healthy(master_url)
    await wait_healthy(bare_url)
    async with SchedulerClient(master_url, {"user": "root", "name": "acks"}) as framework:
        assert framework.framework_id is not None and framework.stream_id is not None
        bodies = ack_bodies(framework.framework_id)
        ours = await pipelined(master_url, bodies, framework.stream_id, master_pid)
        floor = await pipelined(bare_url, bodies, "s", bare_pid)
    return ours, floor


def main() -> None:
    work = tempfile.mkdtemp(prefix="pydcos-acks-")
    master_port, bare_port = free_port(), free_port()
    master = subprocess.Popen([sys.executable, "-m", "pydcos.mesos.master", "--ip", "127.0.0.1",
                               "--port", str(master_port), "--work-dir", work, "--log-file", f"{work}/master.log"])
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)])
    try:
        ours, floor = asyncio.run(measure(f"http://127.0.0.1:{master_port}", master.pid,
                                          f"http://127.0.0.1:{bare_port}", bare.pid))
        print(f"scheduler_acks calls={CALLS} master_us={ours * 1e6:.1f} bare_aiohttp_us={floor * 1e6:.1f} "
              f"ratio={ours / floor:.2f}")
    finally:
        for proc in (master, bare):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
