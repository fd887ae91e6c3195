"""`dcos marathon app update` (the dcos CLI 0.4.16 in .venv-clients, through Admin Router) and objects.

The CLI parses each `key=value` property without a schema, trying int, float, bool, array, URL,
object, string in that order; its URL parser turns anything that is no URL into
`https://<value>`, so `env={"A":"B"}` is sent as the string `https://{"A":"B"}` (see
dcos/jsonitem.py). Real Marathon 1.3 refuses that too (400 "Invalid JSON", `/env`
`error.expected.jsobject`); we answer 422 with the path and the way out in the message, which is
all the CLI prints. The form that works sends the JSON on stdin."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from clients.marathon_e2e import MarathonCurl, marathon_of

from pydcos.core.waiting import wait_until_sync
from pydcos.testing.cluster import LocalCluster

APP_ID = "/e2e-cli-env"
CLI_TIMEOUT_S = 60.0


class Dcos:
    """The `dcos` binary with a private HOME and config file (mode 0600, as the CLI insists)."""

    def __init__(self, venv: Path, home: Path) -> None:
        self.binary = venv / "bin" / "dcos"
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dcos.toml"
        config.touch(mode=0o600)
        self.env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(home), "DCOS_CONFIG": str(config),
                    "LANG": "C.UTF-8"}

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(self.binary), *args], input=stdin, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT_S, env=self.env, check=False)
        assert "Traceback" not in done.stdout + done.stderr, f"dcos {' '.join(args)}:\n{done.stderr}"
        return done


@pytest.fixture
def dcos(local_cluster: LocalCluster, clients_python: Path, tmp_path: Path) -> Dcos:
    cli = Dcos(clients_python.parent.parent, tmp_path / "home")
    url, admin = local_cluster.info.dcos_url, local_cluster.info.admin
    assert url is not None and admin is not None, "the cluster has no Admin Router"
    assert cli.run("config", "set", "core.dcos_url", url).returncode == 0
    cli.env["ADMIN_PASSWORD"] = admin["password"]
    login = cli.run("auth", "login", "--username", admin["uid"], "--password-env", "ADMIN_PASSWORD")
    assert login.returncode == 0, login.stderr
    return cli


@pytest.fixture
def marathon(local_cluster: LocalCluster) -> Iterator[MarathonCurl]:
    m = marathon_of(local_cluster)
    yield m
    m.remove_app(APP_ID)


def test_env_update_by_property_is_refused_clearly_and_by_stdin_works(dcos: Dcos, marathon: MarathonCurl) -> None:
    marathon.post("/v2/apps", {"id": APP_ID, "cmd": "sleep 3600", "cpus": 0.05, "mem": 16, "instances": 1})
    marathon.wait_running(APP_ID, 1)

    refused = dcos.run("marathon", "app", "update", APP_ID, 'env={"A":"B"}')
    assert refused.returncode == 1
    said = refused.stdout + refused.stderr
    assert "Invalid JSON at /env: Expected object | null, got str" in said, said
    assert "send the JSON on stdin" in said, said
    assert marathon.app(APP_ID)["env"] == {}

    updated = dcos.run("marathon", "app", "update", APP_ID, stdin=json.dumps({"env": {"A": "B"}}))
    assert updated.returncode == 0, updated.stderr
    deployment = updated.stdout.strip().split()[-1]
    assert updated.stdout.startswith("Created deployment ")
    wait_until_sync(lambda: marathon.deployment_gone(deployment), timeout=30, what="the env update's deployment")
    assert marathon.app(APP_ID)["env"] == {"A": "B"}
    [task] = marathon.wait_running(APP_ID, 1)
    assert task["version"] == marathon.app(APP_ID)["version"]  # restarted with the new environment

    scaled = dcos.run("marathon", "app", "update", APP_ID, "instances=2")  # a number parses as a number
    assert scaled.returncode == 0, scaled.stderr
    marathon.wait_running(APP_ID, 2)
