"""Readiness checks on a real `pydcos cluster up`: the task is a small HTTP server that answers
`/ready` with 503 until a flag file exists. Its deployment waits for the file; a rolling restart
keeps the old task (and its process) until the new one is ready."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clients.marathon_e2e import MarathonCurl, marathon_of, require_client_venv, task_pids

from pydcos.core.waiting import wait_until_sync
from pydcos.testing.cluster import LocalCluster

APP_ID = "/e2e-ready"
SERVER = """\
import http.server, os
flag = os.environ["READY_FLAG"]
class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ready = os.path.exists(flag)
        body = b"ready" if ready else ("waiting for " + flag).encode()
        self.send_response(200 if ready else 503)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT_HTTP"])), Ready).serve_forever()
"""


@pytest.fixture
def marathon(local_cluster: LocalCluster) -> Iterator[MarathonCurl]:
    require_client_venv()
    m = marathon_of(local_cluster)
    yield m
    m.remove_app(APP_ID)


@pytest.fixture
def flags() -> Iterator[Path]:
    """A directory the task (whatever user it runs as) can read, holding the server and the flags."""
    path = Path(tempfile.mkdtemp(prefix="pydcos-e2e-ready-"))
    path.chmod(0o755)
    (path / "server.py").write_text(SERVER)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def ready_app(flags: Path, flag: str) -> dict[str, Any]:
    return {
        "id": APP_ID, "cmd": f"exec python3 {flags / 'server.py'}", "cpus": 0.05, "mem": 32, "instances": 1,
        "env": {"READY_FLAG": str(flags / flag)},
        "portDefinitions": [{"port": 0, "name": "http"}],
        "readinessChecks": [{"name": "warm", "path": "/ready", "portName": "http", "intervalSeconds": 1,
                             "timeoutSeconds": 0.5, "preserveLastResponse": True}],
    }


def waiting_result(marathon: MarathonCurl, deployment_id: str) -> dict[str, Any] | None:
    """The deployment's not-ready result once the server answered (before it listens, the first
    probes are refused and read as 504)."""
    for d in marathon.get("/v2/deployments"):
        if d["id"] != deployment_id:
            continue
        for action in d["currentActions"]:
            for result in action["readinessCheckResults"]:
                if not result["ready"] and result["lastResponse"]["status"] == 503:
                    return result  # type: ignore[no-any-return]
    return None


def test_deployment_waits_for_readiness_and_a_restart_keeps_the_old_task(
        marathon: MarathonCurl, flags: Path) -> None:
    created = marathon.post("/v2/apps", ready_app(flags, "first"))
    deployment = created["deployments"][0]["id"]
    result = wait_until_sync(lambda: waiting_result(marathon, deployment), timeout=60, interval=0.2,
                             what="a not-ready readiness result from the running task")
    assert result["lastResponse"]["body"] == f"waiting for {flags / 'first'}"
    [task] = marathon.tasks_in_state(APP_ID)
    assert result["taskId"] == task["id"]
    assert not marathon.deployment_gone(deployment)  # running, but not ready: the deployment waits

    (flags / "first").touch()
    wait_until_sync(lambda: marathon.deployment_gone(deployment), timeout=30, interval=0.2,
                    what="the deployment to finish once the task is ready")
    [old] = marathon.wait_running(APP_ID, 1)

    # A new configuration: a rolling restart whose new task waits for another flag.
    update = marathon.put(f"/v2/apps{APP_ID}", {"env": {"READY_FLAG": str(flags / "second")}})
    restart = update["deploymentId"]

    def new_task_waiting() -> dict[str, Any] | None:
        found = waiting_result(marathon, restart)
        return found if found is not None and found["taskId"] != old["id"] else None

    waiting = wait_until_sync(new_task_waiting, timeout=60, interval=0.2, what="the new task probed, not ready")
    running = {t["id"] for t in marathon.tasks_in_state(APP_ID)}
    assert {old["id"], waiting["taskId"]} <= running  # the old task was not killed for a task not ready
    assert task_pids(old["id"]), "the old task's process is gone before the new task is ready"
    assert not marathon.deployment_gone(restart)

    (flags / "second").touch()
    wait_until_sync(lambda: marathon.deployment_gone(restart), timeout=30, interval=0.2,
                    what="the restart to finish once the new task is ready")
    [new] = marathon.wait_running(APP_ID, 1)
    assert new["id"] == waiting["taskId"]
    wait_until_sync(lambda: not task_pids(old["id"]), timeout=20, what="the old task's process to end")
