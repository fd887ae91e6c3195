"""Master at scale: 10,000 agents and 100,000 running tasks on one master, then a kill -9 and restart.

The master runs in its own process (`python -m pydcos.mesos.master --work-dir D`, SQLite registry),
so its RSS is read from /proc. This process simulates every agent over the real agent protocol
(SimulatedAgent, shared aiohttp sessions whose sockets are bound to several 127.x source
addresses) and one framework on the v1 scheduler API, which accepts one offer per agent with
TASKS/AGENTS tasks, acknowledging every update. Then it measures:

- `GET /master/state-summary` and `GET /master/state`, full body read, median of 7 once the master
  has caught up with the launch (the first request of each, which renders what changed, is shown too);
- the master's RSS;
- after `kill -9` of the master and a new master on the same work dir: the time from the new
  process's start until every agent has re-registered (agents retry as the real agent does:
  0.1 s, doubling up to 5 s).

Prints one line:

    master_scale agents=10000 tasks=100000 state_ms=... summary_ms=... rss_mib=... reregister_s=... ...

Goals: summary_ms <= 100, state_ms <= 1000, rss_mib <= 1024, reregister_s <= 10.
Scale down for a quick check: AGENTS=1000 TASKS=10000 .venv/bin/python benchmarks/master_scale.py
KEEP=DIR keeps the master's work dir and logs in DIR; PROFILE=1 runs the restarted master under
cProfile (DIR/restarted.prof, written when it is stopped at the end) and profiles this process
while the agents come back (DIR/agents.prof).
Every loop is bounded (DEADLINE seconds per phase); only 127.0.0.0/8 is used; the only process
stopped is the master this script started, by its pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydcos.core.service import run_loop  # noqa: E402
from pydcos.testing.proc import cpu_seconds  # noqa: E402
from pydcos.testing.scheduler_client import SchedulerClient, command_task  # noqa: E402
from pydcos.testing.simulated_agent import SimulatedAgent  # noqa: E402

AGENTS = int(os.environ.get("AGENTS", "10000"))
TASKS = int(os.environ.get("TASKS", "100000"))
DEADLINE = float(os.environ.get("DEADLINE", "600"))
KEEP = os.environ.get("KEEP")
PROFILE = os.environ.get("PROFILE") == "1"
IDLE_S = 10.0
AGENTS_PER_SESSION = 2000
IN_FLIGHT = 64
ROOT = Path(__file__).resolve().parents[1]


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the master process
    return hard


def make_dir(path: str) -> Path:
    Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_master(port: int, work_dir: Path, profile: Path | None = None) -> subprocess.Popen[bytes]:
    python = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile else [])
    cmd = [*python, "-m", "pydcos.mesos.master", "--ip", "127.0.0.1", "--port", str(port),
           "--work-dir", str(work_dir), "--log-file", str(work_dir / "master.log"),
           "--offer-timeout", "3600", "--agent-reregister-timeout", "600"]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def started_at(log: Path, nth: int) -> float:
    """Wall time of the nth `master_started` line of the master's log."""
    import datetime

    found = [line for line in log.read_text().splitlines() if " master_started " in line]
    stamp = found[nth - 1][:23]
    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


async def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(60):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"master exited with {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url + "/health") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)


def make_agents(url: str) -> tuple[list[SimulatedAgent], list[aiohttp.ClientSession]]:
    sessions: list[aiohttp.ClientSession] = []
    agents: list[SimulatedAgent] = []
    for i in range(AGENTS):
        if i % AGENTS_PER_SESSION == 0:
            # Each session's sockets come from their own source address: no ephemeral port shortage.
            source = f"127.0.{200 + len(sessions)}.1"
            sessions.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, local_addr=(source, 0))))
        ip = f"127.1.{i // 250}.{i % 250 + 1}"
        agents.append(SimulatedAgent(url, ip, session=sessions[-1]))
    return agents, sessions


async def bounded(coros: list[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


async def launch_everything(url: str, agents: list[SimulatedAgent]) -> SchedulerClient:
    per_agent = TASKS // AGENTS
    s = SchedulerClient(url, {"user": "root", "name": "scale", "failover_timeout": 3600.0}, auto_ack=False)
    await s.subscribe()
    pending = {a.agent_id for a in agents}
    running = 0
    acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def acker() -> None:
        while True:
            status = await acks.get()
            await s.call("ACKNOWLEDGE", acknowledge={"agent_id": status["agent_id"], "task_id": status["task_id"],
                                                     "uuid": status["uuid"]})
            acks.task_done()

    async def accept(offer: dict[str, Any]) -> None:
        agent_id = offer["agent_id"]["value"]
        n = agent_index[agent_id]
        tasks = [command_task(f"t{n}-{j}", agent_id, "sleep 100000", cpus=0.1, mem=32.0) for j in range(per_agent)]
        await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 3600},
                                       "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]})

    agent_index = {a.agent_id: n for n, a in enumerate(agents)}
    ackers = [asyncio.ensure_future(acker()) for _ in range(IN_FLIGHT)]
    accepts: set[asyncio.Task[None]] = set()
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def gated_accept(offer: dict[str, Any]) -> None:
        async with gate:
            await accept(offer)

    try:
        async with asyncio.timeout(DEADLINE):
            while running < per_agent * AGENTS:
                event = await s.next_event(timeout=DEADLINE)
                if event["type"] == "OFFERS":
                    for offer in event["offers"]["offers"]:
                        if offer["agent_id"]["value"] in pending:
                            pending.discard(offer["agent_id"]["value"])
                            task = asyncio.ensure_future(gated_accept(offer))
                            accepts.add(task)
                            task.add_done_callback(accepts.discard)
                    if not pending:
                        await s.call("SUPPRESS", suppress={})
                elif event["type"] == "UPDATE":
                    status = event["update"]["status"]
                    if status["state"] == "TASK_RUNNING":
                        running += 1
                    elif status["state"] != "TASK_STAGING":
                        raise RuntimeError(f"task {status['task_id']['value']} {status['state']}")
                    if "uuid" in status:
                        acks.put_nowait(status)
            await acks.join()
    finally:
        for t in ackers:
            t.cancel()
    s.updates.clear()
    return s


async def settle(pid: int, busy_below: float = 0.2, window: float = 0.5, within: float = 30.0) -> None:
    """Until the master uses less than `busy_below` of a core over `window` (it has caught up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(window)
        if cpu_seconds(pid) - before < busy_below * window:
            return


async def timed_get(http: aiohttp.ClientSession, url: str, runs: int = 7) -> tuple[float, float, int]:
    """(median, first, body size): the first request renders what changed since the last one."""
    times = []
    size = 0
    for _ in range(runs):
        start = time.perf_counter()
        async with http.get(url) as r:
            first = time.perf_counter() - start
            body = await r.read()
        times.append(time.perf_counter() - start)
        size = len(body)
        if os.environ.get("VERBOSE"):
            print(f"GET {url}: first byte {first * 1e3:.0f} ms, all {times[-1] * 1e3:.0f} ms", file=sys.stderr)
    return statistics.median(times), times[0], size


async def main() -> None:
    # This process holds 10,000 agents' worth of long-lived objects: keep the cycle collector from
    # walking them all the time (it would make the simulated agents, not the master, the bottleneck).
    gc.set_threshold(50_000, 20, 100)
    fd_limit = raise_fd_limit()
    if fd_limit < AGENTS + 1000:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {fd_limit} is too low for {AGENTS} agents")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="master-scale-") as tmp:
        work_dir = make_dir(KEEP or tmp)
        proc = start_master(port, work_dir)
        agents, sessions = make_agents(url)
        scheduler: SchedulerClient | None = None
        try:
            await wait_healthy(url, proc)
            start = time.perf_counter()
            async with asyncio.timeout(DEADLINE):
                await bounded([a.start() for a in agents], 1000)
            register_s = time.perf_counter() - start

            start = time.perf_counter()
            scheduler = await launch_everything(url, agents)
            launch_s = time.perf_counter() - start

            await settle(proc.pid)
            async with aiohttp.ClientSession() as http:
                summary_s, summary_first_s, _ = await timed_get(http, url + "/master/state-summary")
                state_s, state_first_s, state_bytes = await timed_get(http, url + "/master/state")
            rss = rss_mib(proc.pid)
            # The idle cost of keeping 10,000 agents connected (WebSocket pings, timers).
            idle_before = cpu_seconds(proc.pid)
            await asyncio.sleep(IDLE_S)
            idle_pct = (cpu_seconds(proc.pid) - idle_before) / IDLE_S * 100

            # kill -9 and a new master on the same work dir; agents come back on their own.
            unacked = sum(len(a.unacked) for a in agents)
            await scheduler.close()
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            async with asyncio.timeout(60):
                await asyncio.gather(*(a.wait_disconnected() for a in agents))
            gc.collect()
            gc.freeze()
            returning = [asyncio.ensure_future(a.reconnect(within=DEADLINE)) for a in agents]
            start = time.perf_counter()
            spawned_at = time.time()
            own_before = own_cpu_s()
            profiler = cProfile.Profile() if PROFILE else None
            if profiler is not None:
                profiler.enable()
            proc = start_master(port, work_dir, work_dir / "restarted.prof" if PROFILE else None)
            async with asyncio.timeout(DEADLINE):
                attempts = await asyncio.gather(*returning)
            reregister_s = time.perf_counter() - start
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(work_dir / "agents.prof")
            master_cpu = cpu_seconds(proc.pid)
            own_cpu = own_cpu_s() - own_before
            listening_s = started_at(work_dir / "master.log", 2) - spawned_at
            rss_after = rss_mib(proc.pid)
        finally:
            if scheduler is not None:
                await scheduler.close()
            for a in agents:
                await a.disconnect()
            for session in sessions:
                await session.close()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(30)
    print(f"master_scale agents={AGENTS} tasks={TASKS // AGENTS * AGENTS} state_ms={state_s * 1e3:.0f} "
          f"summary_ms={summary_s * 1e3:.1f} rss_mib={rss:.0f} reregister_s={reregister_s:.2f} "
          f"(state_mb={state_bytes / 1e6:.1f} state_first_ms={state_first_s * 1e3:.0f} "
          f"summary_first_ms={summary_first_s * 1e3:.0f} register_s={register_s:.1f} launch_s={launch_s:.1f} "
          f"idle_cpu_pct={idle_pct:.0f} unacked={unacked} max_attempts={max(attempts)} listening_s={listening_s:.2f} restart_master_cpu_s={master_cpu:.1f} "
          f"restart_agents_cpu_s={own_cpu:.1f} rss_after_restart_mib={rss_after:.0f}; goals: summary<=100 state<=1000 "
          f"rss<=1024 reregister<=10)")


if __name__ == "__main__":
    run_loop(main())  # uvloop, as the daemons: the simulated side must not be the bottleneck
