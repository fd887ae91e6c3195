"""A throwaway local cluster for the Marathon benchmarks: one master, N agents and Marathon, each
its own process (as `pydcos cluster up` runs them), on free loopback ports, in a temp directory.

    with BenchCluster(agents=2) as c:
        requests... c.marathon_url
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def http_json(method: str, url: str, body: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def wait_for(what: str, check: Any, timeout: float = 60.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


class BenchCluster:
    def __init__(self, agents: int = 2, agent_resources: str = "cpus:4;mem:8192;disk:10000;ports:[31000-32000]",
                 marathon_args: tuple[str, ...] = ()) -> None:
        self.agents = agents
        self.agent_resources = agent_resources
        self.marathon_args = marathon_args
        self.dir = Path(tempfile.mkdtemp(prefix="pydcos-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.master_port = free_port()
        self.marathon_port = free_port()
        self.marathon_url = f"http://127.0.0.1:{self.marathon_port}"
        self.master_url = f"http://127.0.0.1:{self.master_port}"
        self.marathon: subprocess.Popen[bytes] | None = None

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=str(Path(__file__).resolve().parents[1]))
        self.procs.append(proc)
        return proc

    def __enter__(self) -> BenchCluster:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        self._spawn("master", "-m", "pydcos.mesos.master", "--ip", "127.0.0.1", "--port", str(self.master_port),
                    "--allocation-interval", "0.2", "--work-dir", str(self.dir / "master"), "--log-file",
                    str(self.dir / "master.log"))
        wait_for("master", lambda: http_json("GET", self.master_url + "/health")[0] == 200)
        for n in range(self.agents):
            ip = f"127.0.9.{n + 1}"
            self._spawn(f"agent{n}", "-m", "pydcos.mesos.agent", "--ip", ip, "--port", "0",
                        "--master", f"127.0.0.1:{self.master_port}", "--work-dir", str(self.dir / f"agent{n}"),
                        "--resources", self.agent_resources, "--no-switch-user", "--log-level", "WARNING",
                        "--log-file", str(self.dir / f"agent{n}.log"))
        wait_for("agents", lambda: len(http_json("GET", self.master_url + "/master/state")[1]["slaves"])
                 == self.agents)
        self.start_marathon()

    def start_marathon(self) -> None:
        self.marathon = self._spawn(
            "marathon", "-m", "pydcos.marathon", "--ip", "127.0.0.1", "--port", str(self.marathon_port),
            "--master", f"127.0.0.1:{self.master_port}", "--work-dir", str(self.dir / "marathon"),
            "--log-file", str(self.dir / "marathon.log"), "--log-level", "WARNING", *self.marathon_args)
        wait_for("marathon", lambda: http_json("GET", self.marathon_url + "/v2/info")[1]["frameworkId"])

    def marathon_rss(self) -> int:
        assert self.marathon is not None
        with open(f"/proc/{self.marathon.pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if os.environ.get("PYDCOS_BENCH_KEEP"):
            print(f"kept {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
