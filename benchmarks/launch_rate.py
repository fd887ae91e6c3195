"""Launch rate: 2,000 command tasks (`true`) through the whole path, against the OS's own limit.

A framework on the v1 scheduler API launches 2,000 tasks on a local cluster of 2 agents
(`pydcos cluster up`, real processes) and waits for every TASK_FINISHED, acknowledging each
update. In the same run it measures the machine's own spawn-and-reap rate for `true`: the faster
of plain asyncio subprocesses and batches of os.posix_spawn + waitpid. Prints one line:

    launch_rate tasks=2000 ours_per_s=... os_per_s=... (best of asyncio=..., posix_spawn=...) ratio=...

Goal: ratio >= 0.5. With CPU_BREAKDOWN=1 the line ends with each daemon's CPU per task
(`cpu_us_per_task adminrouter=... agent=... dns=... framework=... marathon=... master=...`, the
agents together), read from /proc before and after the framework's run: where to look first.

The framework acknowledges every update (two per task) over one pipelined connection, as Marathon
does (pydcos/mesos/v1/call_pipeline.py), not one aiohttp request each, and runs on uvloop like every
pydcos daemon; the asyncio baseline runs on plain asyncio, whose subprocesses are the faster here.

Run it at least four minutes after anything deleted many files (another run's cluster, the test
suite): ext4 without a journal walks past recently freed inodes on every allocation, which makes
the sandboxes' mkdirs several times dearer (docs/architecture.md, "Measuring on a small VM").

Both sides run the same process: the tasks are non-shell commands (`shell: false`, argv
`[/bin/true]`), exactly what the baseline spawns. A shell command would run `/bin/sh -c /bin/true`,
two execs per task (about 1.5 ms of child CPU here against 0.66 ms for `/bin/true` alone), and
the shell's own start would be counted as launch overhead.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydcos.testing.cluster import run_local_cluster  # noqa: E402
from pydcos.testing.proc import cpu_seconds  # noqa: E402
from pydcos.testing.scheduler_client import SchedulerClient, command_task  # noqa: E402

TASKS = int(os.environ.get("LAUNCH_RATE_TASKS", "2000"))
# CPU_BREAKDOWN=1 adds each daemon's CPU per task (agents together; the framework is this process).
CPU_BREAKDOWN = os.environ.get("CPU_BREAKDOWN") == "1"
BATCH = 200
TRUE = "/bin/true"
TRUE_COMMAND = {"value": TRUE, "shell": False, "arguments": [TRUE]}  # the baseline's argv, no shell


async def asyncio_rate(n: int) -> float:
    start = time.perf_counter()
    for i in range(0, n, BATCH):
        procs = [await asyncio.create_subprocess_exec(TRUE) for _ in range(min(BATCH, n - i))]
        await asyncio.gather(*(p.wait() for p in procs))
    return n / (time.perf_counter() - start)


def posix_spawn_rate(n: int) -> float:
    start = time.perf_counter()
    for i in range(0, n, BATCH):
        pids = [os.posix_spawn(TRUE, [TRUE], os.environ) for _ in range(min(BATCH, n - i))]
        for pid in pids:
            os.waitpid(pid, 0)
    return n / (time.perf_counter() - start)


async def framework_rate(master_url: str, n: int) -> float:
    pending = [f"t{i}" for i in range(n)]
    finished = 0
    done = asyncio.Event()
    async with SchedulerClient(master_url, {"user": "root", "name": "launch-rate"}) as s:
        start = time.perf_counter()

        async def watch() -> None:
            nonlocal finished
            while finished < n:
                event = await s.next_event(timeout=None)  # the whole watch is bounded below
                if event["type"] == "OFFERS":
                    for offer in event["offers"]["offers"]:
                        await launch(offer)
                elif event["type"] == "UPDATE":
                    state = event["update"]["status"]["state"]
                    if state == "TASK_FINISHED":
                        finished += 1
                    elif state not in ("TASK_RUNNING", "TASK_STARTING", "TASK_STAGING"):
                        raise RuntimeError(f"task ended {state}: {event['update']['status']}")
            done.set()

        async def launch(offer: dict) -> None:  # type: ignore[type-arg]
            cpus = sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "cpus")
            mem = sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "mem")
            fit = int(min(cpus / 0.01, mem / 1.0))
            batch = [pending.pop() for _ in range(min(fit, len(pending)))]
            agent_id = offer["agent_id"]["value"]
            tasks = [command_task(t, agent_id, TRUE, cpus=0.01, mem=1.0, command=TRUE_COMMAND) for t in batch]
            ops = [{"type": "LAUNCH", "launch": {"task_infos": tasks}}] if tasks else []
            await s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": ops,
                                           "filters": {"refuse_seconds": 0.01}})

        await asyncio.wait_for(watch(), 600)
        elapsed = time.perf_counter() - start
    return n / elapsed


def run_framework(master_url: str, n: int) -> float:
    """The framework on uvloop, the loop every pydcos daemon and Marathon run on."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(framework_rate(master_url, n))
    rate: float = uvloop.run(framework_rate(master_url, n))
    return rate


def daemons_cpu(cluster_dir: Path) -> dict[str, float]:
    """CPU seconds so far per kind of daemon (agents summed), from the cluster's pids.json."""
    out: dict[str, float] = {}
    for daemon in json.loads((cluster_dir / "pids.json").read_text())["daemons"]:
        kind = daemon["key"].rsplit("/", 1)[-1]
        out[kind] = out.get(kind, 0.0) + cpu_seconds(daemon["pid"])
    return out


def main() -> None:
    base_asyncio = asyncio.run(asyncio_rate(TASKS))  # plain asyncio: its subprocesses beat uvloop's here
    base_spawn = posix_spawn_rate(TASKS)
    breakdown = ""
    with run_local_cluster(agents=2, public_agents=0) as cluster:
        before = daemons_cpu(cluster.dir) if CPU_BREAKDOWN else {}
        own_before = time.process_time()
        ours = run_framework(cluster.mesos_url, TASKS)
        own = time.process_time() - own_before
        if CPU_BREAKDOWN:
            after = daemons_cpu(cluster.dir)
            used = {kind: after[kind] - before.get(kind, 0.0) for kind in after} | {"framework": own}
            breakdown = " cpu_us_per_task " + " ".join(f"{kind}={seconds / TASKS * 1e6:.0f}"
                                                       for kind, seconds in sorted(used.items()))
    best = max(base_asyncio, base_spawn)
    print(f"launch_rate tasks={TASKS} ours_per_s={ours:.0f} os_per_s={best:.0f} "
          f"(best of asyncio={base_asyncio:.0f}, posix_spawn={base_spawn:.0f}) ratio={ours / best:.2f}{breakdown}")


if __name__ == "__main__":
    main()
