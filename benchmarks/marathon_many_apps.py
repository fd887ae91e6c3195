"""2,000 apps of one instance each on a local cluster of 2 agents: how long `GET /v2/apps` takes
and how much memory Marathon holds. Goal: <= 300 ms and <= 1 GiB.

Apps are `sleep 3600` (cpus 0.001, mem 1), created by 8 concurrent clients; the figures are taken
once every instance runs: the median of 10 `GET /v2/apps`, and Marathon's resident set size.
The goals are absolute (the issue's), so there is no baseline in the line.

    .venv/bin/python benchmarks/marathon_many_apps.py [--apps N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

from marathon_bench_cluster import BenchCluster, http_json, wait_for  # noqa: E402


def timed_get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        size = len(r.read())
    return time.perf_counter() - started, size


def running(url: str, n: int) -> bool:
    status, body = http_json("GET", url + "/metrics")
    return bool(status == 200 and body["gauges"]["service.mesosphere.marathon.task.running.count"]["value"] >= n)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--apps", type=int, default=2000)
    a = p.parse_args()
    with BenchCluster(agents=2) as c:
        url = c.marathon_url

        def create(i: int) -> None:
            app = {"id": f"/bench/app-{i:05d}", "cmd": "sleep 3600", "cpus": 0.001, "mem": 1, "instances": 1}
            status, body = http_json("POST", url + "/v2/apps", app)
            assert status == 201, body

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(a.apps)))
        created_s = time.perf_counter() - started
        wait_for(f"{a.apps} running", lambda: running(url, a.apps), timeout=900, interval=0.5)
        all_running_s = time.perf_counter() - started
        samples = [timed_get(url + "/v2/apps") for _ in range(10)]
        latency = statistics.median(s[0] for s in samples)
        size = samples[0][1]
        rss = c.marathon_rss()
        status, _ = http_json("DELETE", url + "/v2/groups/bench?force=true")
        assert status == 200
        wait_for("all gone", lambda: http_json("GET", url + "/v2/deployments")[1] == [], timeout=600, interval=0.5)
    print(f"marathon_many_apps apps={a.apps} get_apps_ms={latency * 1e3:.0f} body_kb={size // 1024} "
          f"marathon_rss_mb={rss / 2**20:.0f} create_s={created_s:.1f} all_running_s={all_running_s:.1f} "
          f"(goal <= 300 ms and <= 1024 MB)")


if __name__ == "__main__":
    main()
