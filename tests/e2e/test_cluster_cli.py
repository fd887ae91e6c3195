"""`pydcos cluster up | status | down` on real processes.

Two kinds of test here: the supervisor driven directly over stand-in daemons
(`pydcos.testing.fake_daemon`, which misbehave on demand), and the CLI over the real master and
agents. Every test checks that it leaves no process behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pydcos.cli.cluster import EXTRA_ARGS_ENV
from pydcos.cluster import processes
from pydcos.cluster.cluster_files import DaemonRecord, decode_pids
from pydcos.cluster.errors import AddressInUse, ClusterRunning, DaemonFailed
from pydcos.cluster.plan import ClusterOptions, ClusterPlan, MachineFacts, plan_cluster
from pydcos.cluster.supervisor import Supervisor, cluster_status, read_pids, stop_cluster
from pydcos.core.waiting import wait_until_sync
from pydcos.testing.cluster import LocalCluster, free_test_net, pydcos_cli, run_local_cluster

pytestmark = pytest.mark.e2e


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def cluster_processes(cluster_dir: Path, records: Sequence[DaemonRecord]) -> list[int]:
    """Every live process of the cluster: recorded daemons, and anything carrying its mark or
    living in a daemon's session."""
    alive = [r.pid for r in records if processes.is_alive(r.pid)]
    return sorted(
        set(alive) | set(processes.left_behind(str(cluster_dir), sessions=[r.pid for r in records]))
    )


def assert_nothing_left(cluster_dir: Path, records: Sequence[DaemonRecord]) -> None:
    left = cluster_processes(cluster_dir, records)
    assert left == [], {pid: processes.cmdline(pid) for pid in left}
    assert not (cluster_dir / "pids.json").exists()


# --- the supervisor over stand-in daemons -----------------------------------------------------


def fake_plan(
    cluster_dir: Path, *, flags: dict[str, list[str]] | None = None, agents: int = 1, public_agents: int = 1
) -> ClusterPlan:
    """The real plan, with each daemon's command line swapped for the stand-in's."""
    base = plan_cluster(
        ClusterOptions(dir=cluster_dir, net=free_test_net(), agents=agents, public_agents=public_agents),
        MachineFacts(python=sys.executable, cpus=1, mem_mb=1024),
    )
    daemons = []
    # The stand-in plays masters and agents; the management daemons beside the master are left out.
    for n, d in enumerate(x for x in base.daemons if x.kind in ("master", "agent")):
        argv: tuple[str, ...] = (
            sys.executable,
            "-m",
            "pydcos.testing.fake_daemon",
            "--ip",
            d.ip,
            "--port",
            str(d.port),
        )
        if d.kind == "agent":
            argv += ("--agent-id", f"fake-S{n}")
        daemons.append(dataclasses.replace(d, argv=argv + tuple((flags or {}).get(d.key, ()))))
    return dataclasses.replace(base, daemons=tuple(daemons))


@pytest.fixture
def cluster_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "cluster"
    stop_cluster(tmp_path / "cluster", timeout=5)  # whatever a failed test left


async def test_supervisor_starts_stages_writes_files_and_stops_everything(cluster_dir: Path) -> None:
    plan = fake_plan(cluster_dir)
    sup = Supervisor(plan, detach=False, start_timeout=30)
    info = await sup.start()
    records = list(sup.records)
    assert [a.id for a in info.agents] == ["fake-S1", "fake-S2"]
    assert [a.zone for a in info.agents] == ["private", "public"]
    pids = read_pids(cluster_dir)
    assert pids is not None and [r.key for r in pids.daemons] == [d.key for d in plan.daemons]
    assert all(processes.is_ours(r.pid, r.start_ticks) for r in pids.daemons)
    assert json.loads(plan.cluster_json.read_text())["agents"][0]["id"] == "fake-S1"
    os.kill(pids.daemons[1].pid, signal.SIGKILL)
    wait_until_sync(lambda: not processes.is_alive(pids.daemons[1].pid), what="agent-1 to die")
    statuses = {s.key: (s.running, s.healthy) for s in await cluster_status(cluster_dir)}
    assert statuses == {
        "master-1/master": (True, True),
        "agent-1/agent": (False, False),
        "public-agent-1/agent": (True, True),
    }
    sup.stop()
    assert_nothing_left(cluster_dir, records)
    assert not plan.cluster_json.exists()


async def test_daemon_that_exits_fails_the_start_with_its_log_and_stops_the_rest(cluster_dir: Path) -> None:
    plan = fake_plan(cluster_dir, flags={"public-agent-1/agent": ["--exit-code", "3"]})
    sup = Supervisor(plan, detach=True, start_timeout=30)
    with pytest.raises(DaemonFailed) as failed:
        await sup.start()
    assert failed.value.key == "public-agent-1/agent"
    assert "exited with code 3" in str(failed.value)
    assert "failing on purpose with code 3" in failed.value.log_tail
    assert_nothing_left(cluster_dir, [])  # nothing carries the mark any more


async def test_daemon_that_never_gets_healthy_misses_the_deadline(cluster_dir: Path) -> None:
    plan = fake_plan(cluster_dir, flags={"master-1/master": ["--never-healthy"]})
    sup = Supervisor(plan, detach=True, start_timeout=1.0)
    with pytest.raises(DaemonFailed, match=r"master-1/master was not healthy within 1s"):
        await sup.start()
    assert_nothing_left(cluster_dir, [])


async def test_stop_kills_a_daemon_that_ignores_sigterm_and_sweeps_what_daemons_left(
    cluster_dir: Path,
) -> None:
    plan = fake_plan(
        cluster_dir, flags={"agent-1/agent": ["--ignore-sigterm"], "public-agent-1/agent": ["--leave-child"]}
    )
    await Supervisor(plan, detach=True, start_timeout=30).start()
    pids = read_pids(cluster_dir)
    assert pids is not None
    daemon_pids = {r.pid for r in pids.daemons}
    strays = set(cluster_processes(cluster_dir, pids.daemons)) - daemon_pids
    assert [processes.cmdline(p) for p in strays] == [["sleep", "1000"]]
    stopped = stop_cluster(cluster_dir, timeout=1.0)  # as `pydcos cluster down` does, from "another process"
    assert sorted(stopped) == sorted(d.key for d in plan.daemons)
    assert_nothing_left(cluster_dir, pids.daemons)
    assert all(not processes.is_alive(p) for p in strays)


async def test_second_start_on_a_running_directory_is_refused_and_changes_nothing(cluster_dir: Path) -> None:
    plan = fake_plan(cluster_dir)
    await Supervisor(plan, detach=True, start_timeout=30).start()
    with pytest.raises(ClusterRunning, match="already running"):
        await Supervisor(plan, detach=True, start_timeout=30).start()
    pids = read_pids(cluster_dir)
    assert pids is not None and all(processes.is_ours(r.pid, r.start_ticks) for r in pids.daemons)
    assert plan.cluster_json.exists()
    stop_cluster(cluster_dir)
    assert_nothing_left(cluster_dir, pids.daemons)


async def test_taken_address_is_refused_before_anything_starts(cluster_dir: Path) -> None:
    plan = fake_plan(cluster_dir)
    agent = plan.daemon("agent-1/agent")
    with socket.socket() as squatter:
        squatter.bind((agent.ip, agent.port))
        squatter.listen()
        with pytest.raises(AddressInUse, match=rf"{agent.ip}:{agent.port} \(agent-1/agent\)"):
            await Supervisor(plan, detach=True, start_timeout=30).start()
    assert_nothing_left(cluster_dir, [])


# --- the CLI over the real daemons ------------------------------------------------------------


def test_up_detach_writes_cluster_json_with_every_agent_registered(local_cluster: LocalCluster) -> None:
    raw = local_cluster.raw
    net = local_cluster.net
    assert set(raw) == {"masters", "agents", "zk", "dcos_url", "admin", "lb"}
    assert raw["masters"] == [
        {
            "ip": f"{net}.1.1",
            "mesos_url": f"http://{net}.1.1:5050",
            "marathon_url": f"http://{net}.1.1:8080",
            "dns_udp": f"{net}.1.1:53",
            "dns_http_url": f"http://{net}.1.1:8123",
            "adminrouter_url": f"http://{net}.1.1",
        }
    ]
    # Admin Router is the cluster's door; `cluster up` made its first user.
    assert raw["dcos_url"] == f"http://{net}.1.1"
    assert raw["admin"]["uid"] == "admin" and len(raw["admin"]["password"]) >= 16
    assert (local_cluster.dir / "cluster.json").stat().st_mode & 0o077 == 0
    assert [(a["ip"], a["zone"], a["url"]) for a in raw["agents"]] == [
        (f"{net}.2.1", "private", f"http://{net}.2.1:5051"),
        (f"{net}.2.2", "private", f"http://{net}.2.2:5051"),
        (f"{net}.3.1", "public", f"http://{net}.3.1:5051"),
    ]
    ids = [a["id"] for a in raw["agents"]]
    assert all(ids) and len(set(ids)) == 3
    state = get_json(f"{local_cluster.mesos_url}/master/state")
    assert set(ids) <= {s["id"] for s in state["slaves"]}


def test_agents_offer_disjoint_port_ranges_and_public_role(local_cluster: LocalCluster) -> None:
    slaves = {s["id"]: s for s in get_json(f"{local_cluster.mesos_url}/master/state")["slaves"]}
    ports = [slaves[a.id]["resources"]["ports"] for a in local_cluster.info.agents]
    assert ports == ["[31000-31999]", "[32000-32999]", "[33000-33999]"]
    reserved = [set(slaves[a.id]["reserved_resources"]) for a in local_cluster.info.agents]
    assert reserved == [set(), set(), {"slave_public"}]


def test_status_shows_every_daemon_healthy(local_cluster: LocalCluster) -> None:
    result = pydcos_cli("cluster", "status", "--dir", str(local_cluster.dir), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = json.loads(result.stdout)
    assert [s["key"] for s in statuses] == [
        "master-1/master",
        "agent-1/agent",
        "agent-2/agent",
        "public-agent-1/agent",
        "master-1/marathon",
        "master-1/dns",
        "master-1/adminrouter",
    ]
    assert all(s["running"] and s["healthy"] for s in statuses)
    table = pydcos_cli("cluster", "status", "--dir", str(local_cluster.dir))
    assert table.returncode == 0 and table.stdout.count("healthy") == 7 and "unhealthy" not in table.stdout


def test_second_up_on_a_running_cluster_refuses(local_cluster: LocalCluster) -> None:
    args = ("cluster", "up", "--detach", "--dir", str(local_cluster.dir), "--net", local_cluster.net)
    result = pydcos_cli(*args)
    assert result.returncode == 1
    assert "already running" in result.stderr
    assert pydcos_cli("cluster", "status", "--dir", str(local_cluster.dir)).returncode == 0


def test_down_leaves_no_process() -> None:
    with run_local_cluster(agents=1, public_agents=1) as cluster:
        pids = decode_pids((cluster.dir / "pids.json").read_bytes())
        assert all(processes.is_ours(r.pid, r.start_ticks) for r in pids.daemons)
        result = pydcos_cli("cluster", "down", "--dir", str(cluster.dir))
        assert result.returncode == 0, result.stderr
        assert "stopped: public-agent-1/agent" in result.stdout or "stopped:" in result.stdout
        assert_nothing_left(cluster.dir, pids.daemons)
        assert not (cluster.dir / "cluster.json").exists()
        status = pydcos_cli("cluster", "status", "--dir", str(cluster.dir))
        assert status.returncode == 1 and "no cluster" in status.stderr


def test_daemon_that_fails_to_start_fails_up_with_its_log_tail(tmp_path: Path) -> None:
    cluster_dir = tmp_path / "c"
    env = dict(os.environ, **{EXTRA_ARGS_ENV: json.dumps({"agent-1/agent": ["--no-such-flag"]})})
    try:
        result = pydcos_cli(
            "cluster", "up", "--detach", "--dir", str(cluster_dir), "--net", free_test_net(),
            "--agents", "1", "--public-agents", "1", env=env,
        )  # fmt: skip
        assert result.returncode == 1
        assert "agent-1/agent exited with code" in result.stderr
        assert "--- last lines of" in result.stderr and "agent-1/agent.log" in result.stderr
        assert "--no-such-flag" in result.stderr  # the daemon's own complaint, from its log
        assert_nothing_left(cluster_dir, [])
        assert not (cluster_dir / "cluster.json").exists()
    finally:
        pydcos_cli("cluster", "down", "--dir", str(cluster_dir))


def test_up_refuses_an_occupied_port_and_starts_nothing(tmp_path: Path) -> None:
    cluster_dir, net = tmp_path / "c", free_test_net()
    with socket.socket() as squatter:
        squatter.bind((f"{net}.2.1", 5051))
        squatter.listen()
        result = pydcos_cli("cluster", "up", "--detach", "--dir", str(cluster_dir), "--net", net)
    assert result.returncode == 1
    assert f"{net}.2.1:5051 (agent-1/agent)" in result.stderr and "already in use" in result.stderr
    assert_nothing_left(cluster_dir, [])


def _start_foreground(
    cluster_dir: Path, net: str
) -> tuple[subprocess.Popen[bytes], Path, list[DaemonRecord]]:
    cluster_dir.mkdir(parents=True)
    output = cluster_dir.parent / "up.out"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pydcos.cli", "cluster", "up", "--dir", str(cluster_dir), "--net", net,
             "--agents", "1", "--public-agents", "1"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def up_or_exited() -> bool:
        return (cluster_dir / "cluster.json").exists() or proc.poll() is not None

    wait_until_sync(up_or_exited, timeout=90, what="the foreground cluster to come up")
    assert proc.poll() is None, output.read_text()
    pids = read_pids(cluster_dir)
    assert pids is not None and not pids.detached
    return proc, output, pids.daemons


def test_foreground_up_reports_a_dead_daemon_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    cluster_dir = tmp_path / "c"
    proc, output, daemons = _start_foreground(cluster_dir, free_test_net())
    try:
        agent = next(d for d in daemons if d.key == "agent-1/agent")
        os.kill(agent.pid, signal.SIGKILL)
        warning = f"warning: agent-1/agent (pid {agent.pid}) exited with code -9"
        wait_until_sync(lambda: warning in output.read_text(), timeout=30, what="the supervisor's warning")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0, output.read_text()
        text = output.read_text()
        assert "listens on" in text and "stopping the cluster" in text and "last lines of" in text
        assert_nothing_left(cluster_dir, daemons)
    finally:
        proc.kill()
        proc.wait()
        pydcos_cli("cluster", "down", "--dir", str(cluster_dir))


def test_down_from_another_process_stops_a_foreground_up(tmp_path: Path) -> None:
    cluster_dir = tmp_path / "c"
    proc, output, daemons = _start_foreground(cluster_dir, free_test_net())
    try:
        result = pydcos_cli("cluster", "down", "--dir", str(cluster_dir))
        assert result.returncode == 0 and "supervisor" in result.stdout, result.stdout + result.stderr
        assert proc.wait(timeout=30) == 0, output.read_text()
        assert_nothing_left(cluster_dir, daemons)
    finally:
        proc.kill()
        proc.wait()


def test_client_libraries_import_in_their_venv(clients_python: Path) -> None:
    code = (
        "import collections, pymesos, marathon, http_parser.http, http_parser.pyparser;"
        "assert http_parser.http.HttpParser is http_parser.pyparser.HttpParser;"
        "assert collections.Mapping is collections.abc.Mapping; print('ok')"
    )
    result = subprocess.run([str(clients_python), "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


# --- frameworks against the cluster -------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"

# A framework that starts one long task and leaves (failover): the task runs on without it.
LONG_TASK_FRAMEWORK = """
import socket, sys, uuid
from addict import Dict
from pymesos import MesosSchedulerDriver, Scheduler

class Sleeper(Scheduler):
    launched = False
    def resourceOffers(self, driver, offers):
        for offer in offers:
            if self.launched:
                driver.declineOffer(offer.id)
                continue
            task = Dict()
            task.task_id.value = str(uuid.uuid4())
            task.agent_id.value = offer.agent_id.value
            task.name = "sleeper"
            task.command.value = "sleep 1000"
            task.resources = [dict(name="cpus", type="SCALAR", scalar={"value": 0.1}),
                              dict(name="mem", type="SCALAR", scalar={"value": 16})]
            driver.launchTasks(offer.id, [task])
            self.launched = True
    def statusUpdate(self, driver, update):
        print(update.state, flush=True)
        driver.stop(failover=True)

framework = Dict(user="root", name="sleeper", hostname=socket.gethostname(), failover_timeout=3600)
MesosSchedulerDriver(Sleeper(), framework, sys.argv[1], use_addict=True).run()
"""


def readme_pymesos_example() -> str:
    text = README.read_text()
    block = text.split("<!-- pymesos-example: begin", 1)[1].split("<!-- pymesos-example: end", 1)[0]
    return block.split("```python\n", 1)[1].split("```", 1)[0]


def run_framework(clients_python: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(clients_python), "-c", code, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_readme_pymesos_example_runs_a_task(local_cluster: LocalCluster, clients_python: Path) -> None:
    master = local_cluster.mesos_url.removeprefix("http://")
    code = readme_pymesos_example()
    assert '"127.0.1.1:5050"' in code
    result = run_framework(clients_python, code.replace('"127.0.1.1:5050"', f'"{master}"'))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["TASK_RUNNING", "TASK_FINISHED"], result.stdout + result.stderr


def test_down_stops_running_tasks_too(clients_python: Path) -> None:
    with run_local_cluster(agents=1, public_agents=0) as cluster:
        pids = decode_pids((cluster.dir / "pids.json").read_bytes())
        master = cluster.mesos_url.removeprefix("http://")
        result = run_framework(clients_python, LONG_TASK_FRAMEWORK, master)
        assert result.stdout.split() == ["TASK_RUNNING"], result.stdout + result.stderr
        strays = set(cluster_processes(cluster.dir, pids.daemons)) - {r.pid for r in pids.daemons}
        assert any(processes.cmdline(p)[-2:] == ["sleep", "1000"] for p in strays), strays
        assert pydcos_cli("cluster", "down", "--dir", str(cluster.dir)).returncode == 0
        assert_nothing_left(cluster.dir, pids.daemons)
