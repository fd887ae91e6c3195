"""Freshness: from TASK_RUNNING at the master to the task's name resolving, over 200 tasks.

A real master runs in this process with 4 simulated agents and one framework; the dns daemon runs
as its own process (`python -m pydcos.dns`, pinned to cpu 1; this process on cpu 0), following the
master's event stream. Tasks are launched in batches of 10. The clock starts when the master
publishes the task's TASK_RUNNING (the operator event that the daemon also receives) and stops at
the first answer with an address for `NAME.bench.mesos.`; every unresolved name is asked for every
millisecond. Then every task is killed and the time until its name is gone (NXDOMAIN) is taken too.

    .venv/bin/python benchmarks/dns_freshness.py [--tasks 200]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

import dns.message  # noqa: E402

from pydcos.mesos.master.config import MasterConfig  # noqa: E402
from pydcos.mesos.master.service import Master  # noqa: E402
from pydcos.testing.scheduler_client import SchedulerClient, command_task  # noqa: E402
from pydcos.testing.simulated_agent import SimulatedAgent  # noqa: E402

DNS_IP = "127.0.54.1"
DNS_CPU = 1
BENCH_CPU = 0
BATCH = 10
PROBE_INTERVAL_S = 0.001
DEADLINE_S = 5.0


class Prober(asyncio.DatagramProtocol):
    """Asks for every watched name each millisecond; notes when each first resolves or goes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None
        self.watched: dict[int, tuple[str, bool]] = {}  # query id -> (name, want an address?)
        self.seen: dict[str, float] = {}
        self.changed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def watch(self, qid: int, name: str, present: bool) -> None:
        self.watched[qid] = (name, present)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        qid = int.from_bytes(data[:2], "big")
        if qid not in self.watched:
            return
        name, present = self.watched[qid]
        answers = int.from_bytes(data[6:8], "big")
        rcode = data[3] & 0xF
        if (present and answers) or (not present and rcode == 3):
            self.seen[name] = time.monotonic()
            del self.watched[qid]
            self.changed.set()

    async def run(self) -> None:
        while True:
            assert self.transport is not None
            for qid, (name, _) in list(self.watched.items()):
                q = dns.message.make_query(name, "A")
                q.id = qid
                self.transport.sendto(q.to_wire(), (DNS_IP, self.port))
            await asyncio.sleep(PROBE_INTERVAL_S)


def hook_master_events(master: Master, marks: dict[tuple[str, str], float]) -> None:
    """Time each TASK_UPDATED as the master publishes it to operator API subscribers."""
    publish = master._publish_operator_events

    def timed() -> None:
        now = time.monotonic()
        for event in master.state.operator_events:
            if event.get("type") == "TASK_UPDATED":
                update: Any = event["task_updated"]
                marks.setdefault((update["status"]["task_id"]["value"], update["state"]), now)
        publish()

    master._publish_operator_events = timed  # type: ignore[method-assign]


async def launch_batch(s: SchedulerClient, task_ids: list[str]) -> None:
    while True:
        offers = (await s.next_event("OFFERS"))["offers"]["offers"]
        chosen = offers[0]
        rest = [o["id"] for o in offers[1:]]
        if rest:
            await s.call("DECLINE", decline={"offer_ids": rest, "filters": {"refuse_seconds": 0}})
        tasks = [command_task(t, chosen["agent_id"]["value"], "sleep 1000", cpus=0.01, mem=1, name=t)
                 for t in task_ids]
        ops = [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]
        await s.call("ACCEPT", accept={"offer_ids": [chosen["id"]], "operations": ops,
                                       "filters": {"refuse_seconds": 0}})
        return


async def wait_seen(prober: Prober, names: list[str]) -> None:
    """Until every name is seen, or DEADLINE_S (then the missing ones count as failed)."""
    try:
        async with asyncio.timeout(DEADLINE_S):
            while not all(n in prober.seen for n in names):
                prober.changed.clear()
                await prober.changed.wait()
    except TimeoutError:
        pass


def free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        udp.bind((ip, 0))
        port = udp.getsockname()[1]
        tcp.bind((ip, port))
        return int(port)


def start_dns(master_port: int, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = ["taskset", "-c", str(DNS_CPU), sys.executable, "-m", "pydcos.dns", "--ip", DNS_IP, "--port", str(port),
           "--http-port", "0", "--masters", f"127.0.0.1:{master_port}", "--no-forward", "--log-file", str(log)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            env=env)


async def run(tasks: int, work: Path) -> tuple[list[float], list[float]]:
    marks: dict[tuple[str, str], float] = {}
    config = MasterConfig(ip="127.0.0.1", port=0, allocation_interval=0.02, heartbeat_interval=5.0)
    async with Master(config) as master:
        hook_master_events(master, marks)
        agents = [SimulatedAgent(master.url, f"127.0.2.{i + 1}") for i in range(4)]
        for agent in agents:
            await agent.start()
        port = free_port(DNS_IP)
        daemon = start_dns(master.bound_port, port, work / "dns.log")
        loop = asyncio.get_running_loop()
        transport, prober = await loop.create_datagram_endpoint(lambda: Prober(port), local_addr=("127.0.0.1", 0))
        probing = asyncio.ensure_future(prober.run())
        try:
            prober.watch(65535, "leader.mesos.", True)
            await wait_seen(prober, ["leader.mesos."])
            async with SchedulerClient(master.url, {"user": "root", "name": "bench"}) as s:
                up, down = await measure(s, prober, marks, tasks)
        finally:
            probing.cancel()
            transport.close()
            if daemon.poll() is None:
                os.kill(daemon.pid, signal.SIGTERM)
                daemon.wait(timeout=10)
            for agent in agents:
                await agent.close()
    return up, down


async def measure(s: SchedulerClient, prober: Prober, marks: dict[tuple[str, str], float],
                  tasks: int) -> tuple[list[float], list[float]]:
    ids = [f"fresh-{i}" for i in range(tasks)]
    name = {t: f"{t}.bench.mesos." for t in ids}
    for start in range(0, tasks, BATCH):
        batch = ids[start:start + BATCH]
        for i, t in enumerate(batch):
            prober.watch(start + i, name[t], True)
        await launch_batch(s, batch)
        await wait_seen(prober, [name[t] for t in batch])
    up = [prober.seen.get(name[t], float("inf")) - marks.get((t, "TASK_RUNNING"), float("nan")) for t in ids]
    await s.call("SUPPRESS")
    down: list[float] = []
    for start in range(0, tasks, BATCH):
        batch = ids[start:start + BATCH]
        prober.seen.clear()
        for i, t in enumerate(batch):
            prober.watch(start + i, name[t], False)
            await s.call("KILL", kill={"task_id": {"value": t}})
        await wait_seen(prober, [name[t] for t in batch])
        down += [prober.seen.get(name[t], float("inf")) - marks.get((t, "TASK_KILLED"), float("nan"))
                 for t in batch]
    return up, down


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", type=int, default=200)
    a = p.parse_args()
    os.sched_setaffinity(0, {BENCH_CPU})
    with tempfile.TemporaryDirectory(prefix="dns-fresh-") as tmp:
        up, down = asyncio.run(run(a.tasks, Path(tmp)))
    failed = sum(1 for x in up + down if not math.isfinite(x))  # never resolved, or no mark at the master
    ms_up = sorted(x * 1000 if math.isfinite(x) else math.inf for x in up)
    ms_down = sorted(x * 1000 if math.isfinite(x) else math.inf for x in down)
    print(f"dns_freshness tasks={a.tasks} failed={failed} running_to_resolving: median_ms={statistics.median(ms_up):.1f} "
          f"max_ms={ms_up[-1]:.1f} | ended_to_nxdomain: median_ms={statistics.median(ms_down):.1f} "
          f"max_ms={ms_down[-1]:.1f} | goal_max_ms=1000 dns_cpu={DNS_CPU} master_and_probe_cpu={BENCH_CPU} "
          f"probe_every_ms={PROBE_INTERVAL_S * 1000:g}")


if __name__ == "__main__":
    main()
