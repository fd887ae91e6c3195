"""Scale one app to 1,000 instances and back to 0 on a local cluster of 2 agents, against plain
asyncio spawning and killing the same 1,000 `sleep` processes, measured in the same run.

Ours: seconds from `POST /v2/apps` (1,000 × `sleep 3600`, cpus 0.001, mem 1) until Marathon counts
1,000 RUNNING; then from `PUT {"instances": 0}` until the deployment is gone and nothing runs.
Baseline: `asyncio.create_subprocess_exec("sleep", "3600")` 1,000 times (until all are started),
then SIGTERM to each and until all are reaped. Goal: each ratio <= 3.

    .venv/bin/python benchmarks/marathon_scale_up.py [--instances N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

from marathon_bench_cluster import BenchCluster, http_json, wait_for  # noqa: E402


async def baseline(n: int) -> tuple[float, float]:
    started = time.perf_counter()
    procs = [await asyncio.create_subprocess_exec("sleep", "3600", stdin=asyncio.subprocess.DEVNULL,
                                                  stdout=asyncio.subprocess.DEVNULL,
                                                  stderr=asyncio.subprocess.DEVNULL) for _ in range(n)]
    up = time.perf_counter() - started
    started = time.perf_counter()
    for p in procs:
        p.terminate()
    await asyncio.gather(*(p.wait() for p in procs))
    down = time.perf_counter() - started
    return up, down


def app_counts(url: str) -> dict[str, int]:
    status, body = http_json("GET", url + "/v2/apps?id=/bench")
    assert status == 200, body
    app = body["apps"][0]
    return {"running": app["tasksRunning"], "staged": app["tasksStaged"], "deployments": len(app["deployments"])}


def ours(c: BenchCluster, n: int) -> tuple[float, float]:
    url = c.marathon_url
    app = {"id": "/bench", "cmd": "sleep 3600", "cpus": 0.001, "mem": 1, "disk": 0, "instances": n}
    started = time.perf_counter()
    status, body = http_json("POST", url + "/v2/apps", app)
    assert status == 201, body
    wait_for(f"{n} running", lambda: app_counts(url)["running"] == n, timeout=600, interval=0.05)
    up = time.perf_counter() - started
    started = time.perf_counter()
    status, body = http_json("PUT", url + "/v2/apps/bench", {"instances": 0})
    assert status == 200, body

    def scaled_down() -> bool:
        counts = app_counts(url)
        return counts["running"] == 0 and counts["staged"] == 0 and counts["deployments"] == 0

    wait_for("scaled to 0", scaled_down, timeout=600, interval=0.05)
    down = time.perf_counter() - started
    return up, down


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--instances", type=int, default=1000)
    a = p.parse_args()
    with BenchCluster(agents=2) as c:
        base_up, base_down = asyncio.run(baseline(a.instances))
        up, down = ours(c, a.instances)
    print(f"marathon_scale_up instances={a.instances} agents=2 up_s={up:.2f} down_s={down:.2f} "
          f"asyncio_up_s={base_up:.2f} asyncio_down_s={base_down:.2f} "
          f"up_ratio={up / base_up:.2f} down_ratio={down / base_down:.2f} (goal <= 3 each)")


if __name__ == "__main__":
    main()
