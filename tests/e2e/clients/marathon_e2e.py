"""Helpers for the Marathon and DNS e2e tests (run in pydcos's venv, imported as `clients.marathon_e2e`).

Everything talks to the cluster the way a user would: `curl -sS` for the REST API, the
marathon-python script (`marathon_client.py`, in .venv-clients) for the client library, `dig` for
DNS, and /proc for the processes of a task. Waiting is always on a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydcos.core.waiting import WaitTimeout, wait_until_sync
from pydcos.testing.cluster import LocalCluster

ROOT = Path(__file__).resolve().parents[3]
CLIENT_PYTHON = ROOT / ".venv-clients" / "bin" / "python"
MARATHON_CLIENT = Path(__file__).with_name("marathon_client.py")


def marathon_of(cluster: LocalCluster) -> MarathonCurl:
    url = cluster.info.masters[0].marathon_url
    assert url, "cluster.json lists no Marathon"
    return MarathonCurl(url)


def dns_server_of(cluster: LocalCluster) -> str:
    """The first master's DNS address, `IP:PORT`."""
    server = cluster.info.masters[0].dns_udp
    assert server, "cluster.json lists no DNS server"
    return server


def require_client_venv() -> None:
    if not CLIENT_PYTHON.exists():
        raise AssertionError("the client venv is missing: run scripts/setup-clients.sh (./pydcos.sh test does)")


# --- curl -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    text: str
    content_type: str

    def json(self) -> Any:
        return json.loads(self.text)


def curl(method: str, url: str, body: Any = None, *, timeout: float = 10.0) -> Reply:
    """One request with `curl -sS`; the status and Content-Type come from `-w`, after a marker line."""
    marker = "\n--pydcos-e2e--"
    args = ["curl", "-sS", "-X", method, "--max-time", str(timeout), "-w", marker + "%{http_code} %{content_type}"]
    if body is not None:
        data = body if isinstance(body, str) else json.dumps(body)
        args += ["-H", "Content-Type: application/json", "--data-binary", data]
    run = subprocess.run([*args, url], capture_output=True, text=True, timeout=timeout + 5, check=False)
    assert run.returncode == 0, f"curl {method} {url} failed: {run.stderr}"
    text, _, tail = run.stdout.rpartition(marker)
    status, _, content_type = tail.partition(" ")
    return Reply(int(status), text, content_type)


class MarathonCurl:
    """Marathon's REST API through curl: `m.get("/v2/apps")` is the parsed JSON of a 2xx answer."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def request(self, method: str, path: str, body: Any = None) -> Reply:
        return curl(method, self.url + path, body)

    def _ok(self, method: str, path: str, body: Any = None) -> Any:
        reply = self.request(method, path, body)
        assert 200 <= reply.status < 300, f"{method} {path}: {reply.status} {reply.text}"
        return reply.json()

    def get(self, path: str) -> Any:
        return self._ok("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self._ok("POST", path, body if body is not None else "")

    def put(self, path: str, body: Any) -> Any:
        return self._ok("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self._ok("DELETE", path)

    # -- conditions, for wait_until_sync --

    def app(self, app_id: str) -> dict[str, Any]:
        return self.get(f"/v2/apps/{app_id.strip('/')}?embed=app.tasks")["app"]  # type: ignore[no-any-return]

    def tasks_in_state(self, app_id: str, state: str = "TASK_RUNNING") -> list[dict[str, Any]]:
        return [t for t in self.app(app_id)["tasks"] if t["state"] == state]

    def running_tasks(self, app_id: str, n: int, *, healthy: bool = False) -> list[dict[str, Any]]:
        """The app's tasks when exactly `n` are TASK_RUNNING (all healthy, if asked) and no deployment
        is left; else an empty list."""
        app = self.app(app_id)
        tasks = [t for t in app["tasks"] if t["state"] == "TASK_RUNNING"]
        if app["tasksRunning"] != n or len(tasks) != n or len(app["tasks"]) != n or app["deployments"]:
            return []
        if healthy and not all(t["healthCheckResults"] and t["healthCheckResults"][0]["alive"] for t in tasks):
            return []
        return tasks

    def wait_running(self, app_id: str, n: int, *, healthy: bool = False, timeout: float = 20.0) -> list[dict[str, Any]]:
        return wait_until_sync(lambda: self.running_tasks(app_id, n, healthy=healthy), timeout=timeout,
                               interval=0.05, what=f"{n} tasks of {app_id} running{' and healthy' if healthy else ''}")

    def deployment_gone(self, deployment_id: str) -> bool:
        return all(d["id"] != deployment_id for d in self.get("/v2/deployments"))

    def remove_app(self, app_id: str, *, timeout: float = 20.0) -> None:
        """Delete the app (if there) and wait until Marathon has forgotten it and its deployment ended."""
        reply = self.request("DELETE", f"/v2/apps/{app_id.strip('/')}?force=true")
        if reply.status == 404:
            return
        assert reply.status == 200, (reply.status, reply.text)
        deployment = reply.json()["deploymentId"]
        wait_until_sync(lambda: self.request("GET", f"/v2/apps/{app_id.strip('/')}").status == 404
                        and self.deployment_gone(deployment), timeout=timeout, interval=0.05,
                        what=f"{app_id} deleted")


# --- marathon-python -------------------------------------------------------------------------


def marathon_python(url: str, op: str, *args: str) -> Any:
    """Run one marathon-python call (see marathon_client.py); its result, or raise on a client error."""
    out = marathon_python_raw(url, op, *args)
    assert "ok" in out, f"marathon-python {op} {args}: {out}"
    return out["ok"]


def marathon_python_raw(url: str, op: str, *args: str) -> dict[str, Any]:
    require_client_venv()
    run = subprocess.run([str(CLIENT_PYTHON), str(MARATHON_CLIENT), url, op, *args], capture_output=True,
                         text=True, timeout=30, check=False)
    assert run.returncode == 0, f"marathon-python {op} {args} crashed:\n{run.stderr[-3000:]}"
    return json.loads(run.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- Mesos -----------------------------------------------------------------------------------


def master_tasks(mesos_url: str, framework_name: str = "marathon") -> dict[str, dict[str, Any]]:
    """The tasks of a framework in the master's /master/state, by id."""
    state = curl("GET", mesos_url + "/master/state").json()
    return {t["id"]: t for f in state["frameworks"] if f["name"] == framework_name for t in f["tasks"]}


def master_completed(mesos_url: str, framework_name: str = "marathon") -> dict[str, dict[str, Any]]:
    """The framework's completed tasks in /master/state, by id."""
    state = curl("GET", mesos_url + "/master/state").json()
    return {t["id"]: t for f in state["frameworks"] if f["name"] == framework_name for t in f["completed_tasks"]}


def master_running(mesos_url: str, task_ids: set[str]) -> bool:
    tasks = master_tasks(mesos_url)
    return all(tasks.get(t, {}).get("state") == "TASK_RUNNING" for t in task_ids)


# --- processes -------------------------------------------------------------------------------


def task_pids(task_id: str) -> list[int]:
    """Processes whose environment says they belong to this task (MESOS_TASK_ID, set by Marathon)."""
    needle = f"MESOS_TASK_ID={task_id}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if needle in environ:
            pids.append(int(entry.name))
    return pids


def kill_pids(pids: list[int], sig: signal.Signals = signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def kill_task_by_hand(task_id: str) -> list[int]:
    """SIGKILL every process of a task, as an operator's `kill -9` would; wait until they are gone."""
    pids = wait_until_sync(lambda: task_pids(task_id), timeout=5, what=f"processes of {task_id}")
    kill_pids(pids)
    wait_until_sync(lambda: not any(pid_alive(p) for p in pids), timeout=5, what=f"{task_id}'s processes to die")
    return pids


# --- the event stream, through curl -----------------------------------------------------------


@dataclass
class EventStream:
    """`curl -N URL/v2/events` in the background; `events` fills as they arrive. Stop with `close()`."""

    url: str
    event_types: tuple[str, ...] = ()
    events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        query = "&".join(f"event_type={t}" for t in self.event_types)
        self._proc = subprocess.Popen(
            ["curl", "-sS", "-N", "-H", "Accept: text/event-stream", f"{self.url.rstrip('/')}/v2/events?{query}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith("data:"):
                with self._lock:
                    self.events.append(json.loads(line[5:]))

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def wait_attached(self) -> None:
        wait_until_sync(lambda: any(e["eventType"] == "event_stream_attached" for e in self.snapshot()),
                        timeout=5, what="the event stream to attach")

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._reader.join(timeout=5)


# --- dig --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dig:
    """`dig @SERVER -p PORT NAME TYPE`: `answers` are the +short lines, `status` the header's rcode."""

    status: str
    answers: list[str]


def dig(server: str, name: str, rtype: str = "A", *, tcp: bool = False) -> Dig:
    host, _, port = server.rpartition(":")
    args = ["dig", f"@{host}", "-p", port, name, rtype, "+noall", "+answer", "+comments", "+time=2", "+tries=1"]
    if tcp:
        args.append("+tcp")
    run = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    assert run.returncode == 0, f"dig {name} {rtype} failed: {run.stdout}{run.stderr}"
    status = ""
    answers = []
    for line in run.stdout.splitlines():
        if "status:" in line:
            status = line.split("status:")[1].split(",")[0].strip()
        elif line and not line.startswith(";"):
            parts = line.split(None, 4)  # name ttl class type data
            if len(parts) == 5 and parts[3] == rtype:
                answers.append(parts[4].strip())
    return Dig(status, answers)


def wait_dig(server: str, name: str, expect: Callable[[Dig], bool], *, rtype: str = "A", timeout: float = 1.0,
             what: str = "") -> Dig:
    """Ask again until `expect(answer)`; on the deadline fail with the last answer seen."""
    seen: list[Dig] = []

    def probe() -> Dig | None:
        seen.append(dig(server, name, rtype))
        return seen[-1] if expect(seen[-1]) else None

    try:
        found = wait_until_sync(probe, timeout=timeout, interval=0.02, what=what or f"{name} {rtype}")
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc}; last answer: {seen[-1] if seen else None}") from None
    assert found is not None
    return found
