"""What Admin Router costs: `wrk` against `GET /marathon/v2/info` through the router (nginx, with a
valid token, so every request passes the cached auth_request check) and, in the same run,
straight against Marathon. Prints both rates, their ratio and the p99 latency the router adds.

    .venv/bin/python benchmarks/adminrouter_overhead.py [--duration 5] [--connections 16] [--rounds 3]

A real local cluster (`pydcos cluster up --detach`, 1 master, 1 agent) on a free test block; the
two targets are measured alternately, after a warm-up, and the median of the rounds is kept.
Goal: ratio >= 0.8 and added p99 <= 2 ms.

On a 2-core machine three busy processes (wrk, nginx, Marathon) would otherwise fight for two
cores, and the router would be charged for wrk's share: by default Marathon is pinned to the first
core and wrk and nginx's workers to the last, for both targets alike, as on a master where the
router has a core of its own (`--no-pin` turns that off).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydcos.cluster.processes import address_in_use  # noqa: E402
from pydcos.testing.cluster import run_local_cluster  # noqa: E402

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, *, token: str | None, duration: float, connections: int, cpu: int | None) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) of one wrk run; non-2xx answers fail the run."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", url]
    if token:
        args[1:1] = ["-H", f"Authorization: token={token}"]
    if cpu is not None:
        args[:0] = ["taskset", "-c", str(cpu)]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=duration + 30).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
    return rate, float(value) * _UNITS[unit]


def free_net() -> str:
    """A loopback block (127.200 and up) where none of this cluster's addresses is taken."""
    for n in range(200, 250):
        if not any(address_in_use(f"127.{n}.{node}", port) for node, port in (("1.1", 5050), ("1.1", 80), ("2.1", 5051))):
            return f"127.{n}"
    raise RuntimeError("no free loopback block")


def pin(pid: int, cpu: int, *, with_children: bool = False) -> None:
    pids = [pid]
    if with_children:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        subprocess.run(["taskset", "-pc", str(cpu), str(p)], check=True, capture_output=True)


def daemon_pid(cluster_dir: Path, key: str) -> int:
    pids = json.loads((cluster_dir / "pids.json").read_text())
    return int(next(d["pid"] for d in pids["daemons"] if d["key"] == key))


def login(dcos_url: str, uid: str, password: str) -> str:
    request = urllib.request.Request(
        f"{dcos_url}/acs/api/v1/auth/login", data=json.dumps({"uid": uid, "password": password}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        token: str = json.load(response)["token"]
    return token


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-pin", dest="pin", action="store_false", help="leave every process on every core")
    a = p.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (./pydcos.sh install adds it)")
    with run_local_cluster(agents=1, public_agents=0, net=free_net()) as cluster:
        info = cluster.info
        assert info.dcos_url and info.admin and info.masters[0].marathon_url
        token = login(info.dcos_url, info.admin["uid"], info.admin["password"])
        direct_url = f"{info.masters[0].marathon_url}/v2/info"
        router_url = f"{info.dcos_url}/marathon/v2/info"
        cpu = None
        if a.pin and (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
            cpu = (os.cpu_count() or 2) - 1
            pin(daemon_pid(cluster.dir, "master-1/marathon"), 0)
            nginx_pid = int(next(cluster.dir.glob("nodes/master-1/adminrouter/nginx/nginx.pid")).read_text())
            pin(nginx_pid, cpu, with_children=True)
        for url, tok in ((direct_url, None), (router_url, token)):
            wrk(url, token=tok, duration=1.0, connections=a.connections, cpu=cpu)  # warm-up
        direct, router = [], []
        for _ in range(a.rounds):
            direct.append(wrk(direct_url, token=None, duration=a.duration, connections=a.connections, cpu=cpu))
            router.append(wrk(router_url, token=token, duration=a.duration, connections=a.connections, cpu=cpu))
    d_rate, r_rate = statistics.median(r for r, _ in direct), statistics.median(r for r, _ in router)
    d_p99, r_p99 = statistics.median(p for _, p in direct), statistics.median(p for _, p in router)
    print(
        f"adminrouter_overhead GET /marathon/v2/info connections={a.connections} duration={a.duration:g}s "
        f"rounds={a.rounds} pinned={cpu is not None} "
        f"direct_rps={d_rate:.0f} router_rps={r_rate:.0f} ratio={r_rate / d_rate:.2f} "
        f"direct_p99_ms={d_p99:.2f} router_p99_ms={r_p99:.2f} added_p99_ms={r_p99 - d_p99:.2f}"
    )


if __name__ == "__main__":
    main()
