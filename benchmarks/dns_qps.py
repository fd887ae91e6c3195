"""Queries per second: pydcos's dns against dnsmasq, same records, same load, one core each.

The record set (fixed seed): 2,500 running tasks of one framework on 100 agents, one port each,
which by the Mesos-DNS scheme make 10,000 A names and 10,000 SRV names (plus a few cluster names).
pydcos's dns loads it from a /master/state document, exactly as it would from a master; dnsmasq
gets the same records as a hosts file (A) and `srv-host` lines (SRV).

Two loads, each run against both servers with dnsperf (fixed query files, all names exist):
- mixed: half A, half SRV queries, both servers holding all 20,000 names;
- A only: A queries, dnsmasq holding only its hosts file (its fastest case: dnsmasq scans its
  SRV list on every query, which makes it slow once it holds thousands of SRV records).

Each server runs alone on cpu 1 (taskset), dnsperf on cpu 0; servers listen on 127.0.0.0/8 only;
every process started here is stopped here, by pid. Needs `dnsperf` and `dnsmasq` (Debian packages
dnsperf and dnsmasq-base; installed with apt-get when missing and running as root).

    .venv/bin/python benchmarks/dns_qps.py [--seconds 8] [--tasks 2500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

import dns.message  # noqa: E402
import dns.query  # noqa: E402

from pydcos.dns.master_view import view_from_state  # noqa: E402
from pydcos.dns.records import RecordConfig, RecordSet, generate  # noqa: E402

SERVER_CPU = 1
DNSPERF_CPU = 0
OURS_IP = "127.0.53.1"
DNSMASQ_IP = "127.0.53.2"
QUERIES = 50_000


def synthetic_state(tasks: int, agents: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    slaves = [{"id": f"bench-S{i}", "hostname": f"10.1.{i // 250}.{i % 250 + 1}",
               "pid": f"slave(1)@10.1.{i // 250}.{i % 250 + 1}:5051"} for i in range(agents)]
    task_list = []
    for i in range(tasks):
        agent = slaves[rng.randrange(agents)]
        port = 31000 + rng.randrange(1000)
        task_list.append({"id": f"app{i}.{rng.getrandbits(32):08x}", "name": f"app{i}", "framework_id": "bench-0000",
                          "slave_id": agent["id"], "state": "TASK_RUNNING",
                          "resources": {"ports": f"[{port}-{port}]"}, "statuses": []})
    return {"leader": "master@127.0.53.10:5050", "slaves": slaves,
            "frameworks": [{"id": "bench-0000", "name": "marathon", "hostname": "127.0.53.11", "tasks": task_list}]}


def write_inputs(work: Path, state: dict[str, Any], seed: int) -> tuple[RecordSet, dict[str, Path]]:
    body = json.dumps(state).encode()
    (work / "state.json").write_bytes(body)
    records = generate(view_from_state(body), RecordConfig())
    with open(work / "hosts", "w") as hosts:
        for name, ips in records.a.items():
            for ip in ips:
                hosts.write(f"{ip} {name.rstrip('.')}\n")
    with open(work / "srv.conf", "w") as conf:
        for name, targets in records.srv.items():
            for target, port in targets:
                conf.write(f"srv-host={name.rstrip('.')},{target.rstrip('.')},{port}\n")
    rng = random.Random(seed)
    a_names, srv_names = list(records.a), list(records.srv)
    with open(work / "mixed.txt", "w") as mixed, open(work / "a_only.txt", "w") as a_only:
        for i in range(QUERIES):
            mixed.write(f"{rng.choice(a_names)} A\n" if i % 2 else f"{rng.choice(srv_names)} SRV\n")
            a_only.write(f"{rng.choice(a_names)} A\n")
    return records, {"state": work / "state.json", "hosts": work / "hosts", "srv": work / "srv.conf",
                     "mixed": work / "mixed.txt", "a_only": work / "a_only.txt"}


def free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        udp.bind((ip, 0))
        port = udp.getsockname()[1]
        tcp.bind((ip, port))
        return int(port)


def wait_answering(ip: str, port: int, name: str, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    query = dns.message.make_query(name, "A")
    while True:
        try:
            if dns.query.udp(query, ip, port=port, timeout=0.2).answer:
                return
        except (dns.exception.Timeout, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer for {name} from {ip}:{port}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def start_ours(state: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = ["taskset", "-c", str(SERVER_CPU), sys.executable, str(Path(__file__).resolve()),
           "--serve", str(state), "--port", str(port)]
    return subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def start_dnsmasq(hosts: Path, srv: Path | None, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = ["taskset", "-c", str(SERVER_CPU), "dnsmasq", "--keep-in-foreground", "--log-facility=-",
           f"--conf-file={srv or '/dev/null'}", "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
           f"--listen-address={DNSMASQ_IP}", "--bind-interfaces", f"--port={port}", "--pid-file=",
           "--cache-size=10000"]
    return subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def dnsperf(ip: str, port: int, queries: Path, seconds: float) -> float:
    cmd = ["taskset", "-c", str(DNSPERF_CPU), "dnsperf", "-s", ip, "-p", str(port), "-d", str(queries),
           "-l", str(seconds), "-c", "1", "-T", "1", "-q", "100", "-t", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    match = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    if match is None:
        raise RuntimeError(f"dnsperf printed no rate:\n{out}")
    if lost and int(lost.group(1)) > 100:
        print(f"warning: dnsperf lost {lost.group(1)} queries against {ip}", file=sys.stderr)
    return float(match.group(1))


def measure(proc_start: Any, ip: str, port: int, probe: str, queries: Path, seconds: float) -> float:
    proc = proc_start()
    try:
        wait_answering(ip, port, probe)
        dnsperf(ip, port, queries, 1.0)  # warm up
        return dnsperf(ip, port, queries, seconds)
    finally:
        stop(proc)


def ensure_tools() -> None:
    missing = [tool for tool in ("dnsperf", "dnsmasq", "taskset") if shutil.which(tool) is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-qq", "dnsperf", "dnsmasq-base"], env=env,
                       capture_output=True, timeout=600, check=False)
    missing = [tool for tool in ("dnsperf", "dnsmasq", "taskset") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"dns_qps needs {', '.join(missing)} (apt-get install dnsperf dnsmasq-base util-linux)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--tasks", type=int, default=2500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve:
        serve(Path(a.serve), a.port)
        return
    ensure_tools()
    with tempfile.TemporaryDirectory(prefix="dns-qps-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # dnsmasq reads its files after dropping to user nobody
        records, files = write_inputs(work, synthetic_state(a.tasks, 100, a.seed), a.seed)
        probe = next(iter(n for n in records.a if n.startswith("app")))
        rates: dict[str, float] = {}
        for load, srv in (("mixed", files["srv"]), ("a_only", None)):
            port = free_port(OURS_IP)
            rates[f"ours_{load}"] = measure(lambda p=port: start_ours(files["state"], p, work / "ours.log"),
                                            OURS_IP, port, probe, files[load], a.seconds)
            port = free_port(DNSMASQ_IP)
            rates[f"dnsmasq_{load}"] = measure(
                lambda p=port, s=srv: start_dnsmasq(files["hosts"], s, p, work / "dnsmasq.log"),
                DNSMASQ_IP, port, probe, files[load], a.seconds)
    a_names, srv_names = len(records.a), len(records.srv)
    print(f"dns_qps records={a_names}A+{srv_names}SRV server_cpu={SERVER_CPU} dnsperf_cpu={DNSPERF_CPU} "
          f"mixed_50%A_50%SRV: pydcos_qps={rates['ours_mixed']:.0f} dnsmasq_qps={rates['dnsmasq_mixed']:.0f} "
          f"ratio={rates['ours_mixed'] / rates['dnsmasq_mixed']:.2f} | "
          f"A_only(dnsmasq_hosts_file_only): pydcos_qps={rates['ours_a_only']:.0f} "
          f"dnsmasq_qps={rates['dnsmasq_a_only']:.0f} ratio={rates['ours_a_only'] / rates['dnsmasq_a_only']:.2f}")


# --- the server side: pydcos's dns holding the state, no master needed --------------------------


def serve(state: Path, port: int) -> None:
    from pydcos.core.service import run_loop
    from pydcos.dns.config import DnsConfig
    from pydcos.dns.service import DnsServer

    body = state.read_bytes()

    async def run() -> None:
        config = DnsConfig(ip=OURS_IP, port=port, http_port=0, masters=(), forward=False)
        stop_event = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop_event.set)
        async with DnsServer(config) as server:
            view = view_from_state(body)
            view.leader = "127.0.53.10:5050"
            server.catalog.load(view)
            server.records_changed()
            print(f"serving names={len(server.catalog.zone.a) + len(server.catalog.zone.srv)}", flush=True)
            await stop_event.wait()

    run_loop(run())


if __name__ == "__main__":
    main()
