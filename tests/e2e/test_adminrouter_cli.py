"""The published dcos CLI 0.4.16 (in .venv-clients) against a real local cluster through Admin Router:
`core.dcos_url` = `http://MASTER_IP`, login with the admin credentials from cluster.json, then the
commands a DC/OS 1.8 user runs. Each runs as a subprocess with a timeout; a traceback anywhere
fails the test."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pydcos.core.waiting import wait_until_sync
from pydcos.testing.cluster import LocalCluster, run_local_cluster

CLI_TIMEOUT_S = 60.0
TICKER = "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.3; done"


class DcosCli:
    """`dcos` with a private config file (mode 0600, as the CLI insists) and a private HOME."""

    def __init__(self, venv: Path, home: Path) -> None:
        self.binary = venv / "bin" / "dcos"
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.config = home / "dcos.toml"
        self.config.touch(mode=0o600)
        self.env = {
            "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(home),
            "DCOS_CONFIG": str(self.config),
            "LANG": "C.UTF-8",
        }

    def run(self, *args: str, timeout: float = CLI_TIMEOUT_S, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(self.binary), *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
        assert "Traceback" not in done.stderr + done.stdout, f"dcos {' '.join(args)}:\n{done.stderr}"
        if check:
            assert done.returncode == 0, f"dcos {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args).stdout)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with run_local_cluster(agents=1, public_agents=0) as c:
        yield c


@pytest.fixture(scope="module")
def cli(cluster: LocalCluster, clients_python: Path, tmp_path_factory: pytest.TempPathFactory) -> DcosCli:
    dcos = DcosCli(clients_python.parent.parent, tmp_path_factory.mktemp("dcos-home"))
    assert cluster.info.dcos_url == f"http://{cluster.info.masters[0].ip}"
    dcos.run("config", "set", "core.dcos_url", cluster.info.dcos_url)
    admin = cluster.info.admin
    assert admin is not None
    dcos.env["ADMIN_PASSWORD"] = admin["password"]
    out = dcos.run("auth", "login", "--username", admin["uid"], "--password-env", "ADMIN_PASSWORD")
    assert "Login successful" in out.stdout
    return dcos


def test_without_login_the_cli_is_told_to_log_in(cluster: LocalCluster, clients_python: Path, tmp_path: Path) -> None:
    dcos = DcosCli(clients_python.parent.parent, tmp_path / "home")
    assert cluster.info.dcos_url is not None
    dcos.run("config", "set", "core.dcos_url", cluster.info.dcos_url)
    done = dcos.run("node", check=False)
    assert done.returncode != 0 and "auth" in (done.stdout + done.stderr).lower()
    wrong = dcos.run("auth", "login", "--username", "admin", "--password", "not-the-password", check=False)
    assert wrong.returncode != 0


def test_nodes_services_and_the_leader_log(cluster: LocalCluster, cli: DcosCli) -> None:
    nodes = cli.json("node", "--json")
    assert sorted(n["id"] for n in nodes) == sorted(a.id for a in cluster.info.agents)
    table = cli.run("node").stdout
    assert cluster.info.agents[0].id in table
    services = cli.run("service").stdout
    assert "marathon" in services
    log = cli.run("node", "log", "--leader", "--lines=5").stdout
    assert log.strip(), "the master's log through /mesos/files/read.json"
    agent_log = cli.run("node", "log", f"--mesos-id={cluster.info.agents[0].id}", "--lines=5").stdout
    assert agent_log.strip(), "the agent's log through /slave/ID/files/read.json"


def test_service_account_login_with_a_private_key(cluster: LocalCluster, cli: DcosCli, tmp_path: Path,
                                                  clients_python: Path) -> None:
    """`dcos auth login --username --private-key`: the CLI signs {uid, exp} with RS256 (PyJWT 1.x)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "svc.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    key_file.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    token = cli.run("config", "show", "core.dcos_acs_token").stdout.strip()
    request = urllib.request.Request(
        f"{cluster.info.dcos_url}/acs/api/v1/users/svc-robot", method="PUT",
        data=json.dumps({"public_key": public, "description": "robot"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"token={token}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 201
    robot = DcosCli(clients_python.parent.parent, tmp_path / "robot-home")
    assert cluster.info.dcos_url is not None
    robot.run("config", "set", "core.dcos_url", cluster.info.dcos_url)
    assert "Login successful" in robot.run("auth", "login", "--username", "svc-robot", "--private-key", str(key_file)).stdout
    assert robot.json("node", "--json")


def test_marathon_app_lifecycle_and_tasks(cluster: LocalCluster, cli: DcosCli, tmp_path: Path) -> None:
    app = {"id": "/ticker", "cmd": TICKER, "cpus": 0.1, "mem": 32, "instances": 1}
    (tmp_path / "ticker.json").write_text(json.dumps(app))
    created = cli.run("marathon", "app", "add", str(tmp_path / "ticker.json")).stdout
    assert "Created deployment" in created
    wait_until_sync(lambda: _running(cli, "/ticker") == 1, timeout=60, what="ticker running")
    assert "/ticker" in cli.run("marathon", "app", "list").stdout
    assert cli.json("marathon", "app", "show", "/ticker")["id"] == "/ticker"
    assert [t["appId"] for t in cli.json("marathon", "task", "list", "--json")] == ["/ticker"]
    cli.run("marathon", "group", "list")
    tasks = cli.run("task").stdout
    assert "ticker" in tasks and " R " in tasks
    wait_until_sync(lambda: "tick-" in cli.run("task", "log", "ticker").stdout, timeout=30, what="task log")
    assert "stdout" in cli.run("task", "ls", "ticker").stdout

    # Update, then restart and watch the restart's deployment until it is gone.
    cli.run("marathon", "app", "update", "/ticker", "cpus=0.2")
    wait_until_sync(lambda: cli.json("marathon", "deployment", "list", "--json") == [], timeout=60,
                    what="the update's deployment to finish")  # fmt: skip
    restarted = cli.run("marathon", "app", "restart", "/ticker").stdout
    deployment = restarted.strip().split()[-1]
    listed = cli.run("marathon", "deployment", "list", check=False)
    assert "Traceback" not in listed.stderr
    cli.run("marathon", "deployment", "watch", "--max-count=60", "--interval=1", deployment, timeout=90)
    wait_until_sync(lambda: _running(cli, "/ticker") == 1, timeout=60, what="ticker running after restart")
    assert cli.json("marathon", "app", "show", "/ticker")["cpus"] == 0.2

    cli.run("marathon", "app", "remove", "/ticker")
    wait_until_sync(lambda: cli.json("marathon", "app", "list", "--json") == [], timeout=60, what="ticker removed")


def test_task_log_follow_streams_new_lines(cluster: LocalCluster, cli: DcosCli, tmp_path: Path) -> None:
    (tmp_path / "follow.json").write_text(json.dumps({"id": "/follow", "cmd": TICKER, "cpus": 0.1, "mem": 32}))
    cli.run("marathon", "app", "add", str(tmp_path / "follow.json"))
    wait_until_sync(lambda: "tick-" in cli.run("task", "log", "follow", check=False).stdout, timeout=60,
                    what="the follow task's first lines")  # fmt: skip
    out_path = tmp_path / "follow.out"
    with out_path.open("w") as out:
        proc = subprocess.Popen([str(cli.binary), "task", "log", "--follow", "follow"], stdout=out,
                                stderr=subprocess.STDOUT, env=cli.env, stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        def ticks() -> list[int]:
            return [int(line[5:]) for line in out_path.read_text().split() if line.startswith("tick-")]

        first = wait_until_sync(ticks, timeout=30, what="the first followed lines")
        wait_until_sync(lambda: max(ticks()) >= max(first) + 3, timeout=30, what="lines written after follow began")
        assert proc.poll() is None, "follow must keep running"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        cli.run("marathon", "app", "remove", "/follow")
    assert "Traceback" not in out_path.read_text()


def test_curl_and_the_router_local_endpoints(cluster: LocalCluster) -> None:
    url = cluster.info.dcos_url
    with urllib.request.urlopen(f"{url}/metadata", timeout=10) as r:
        assert json.load(r)["PUBLIC_IPV4"] == cluster.info.masters[0].ip
    with urllib.request.urlopen(f"{url}/dcos-metadata/dcos-version.json", timeout=10) as r:
        assert json.load(r)["version"].startswith("1.8")
    request = urllib.request.Request(f"{url}/marathon/v2/info")
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("expected 401")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401 and exc.headers["WWW-Authenticate"] == "oauthjwt"


def _running(cli: DcosCli, app_id: str) -> int:
    app = cli.json("marathon", "app", "show", app_id)
    return int(app.get("tasksRunning", 0))

