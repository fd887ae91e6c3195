"""Agent flags: resources, attributes, roles, the command line, and which modules stay pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pydcos.mesos.agent.__main__ import build_parser, config_from_args
from pydcos.mesos.agent.config import (
    AgentConfig,
    agent_resources,
    attributes_json,
    detect_resources,
    flags_json,
    parse_attributes,
)
from pydcos.mesos.resources import Resources

DETECTED = Resources.parse("cpus:8;mem:15000;disk:50000;ports:[31000-32000]")


def test_flag_resources_override_detected_ones_by_name() -> None:
    assert agent_resources("cpus:2;mem:512", DETECTED).render() == "cpus:2;mem:512;disk:50000;ports:[31000-32000]"
    full = "cpus:4;mem:4096;disk:10000;ports:[31000-31999]"
    assert agent_resources(full, DETECTED).render() == full
    assert agent_resources(None, DETECTED) == DETECTED
    assert agent_resources("gpus:1;ports:[5000-5001]", DETECTED).render() == (
        "gpus:1;cpus:8;mem:15000;disk:50000;ports:[5000-5001]")


@pytest.mark.parametrize("bad", ["cpus", "cpus:", "cpus:x", "ports:[1-", "mem:-1", "ports:[5]"])
def test_bad_resource_flags_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        agent_resources(bad, DETECTED)


def test_detected_resources(tmp_path: Path) -> None:
    found = detect_resources(str(tmp_path / "not" / "yet"))
    assert found.scalar("cpus") >= 1 and found.scalar("mem") >= 1024 and found.scalar("disk") >= 0
    assert found.ranges["ports"] == ((31000, 32000),)


def test_attributes() -> None:
    attrs = parse_attributes("rack:r1; level:3 ;ids:[1-4,8-9];tags:{a,b};nan:nan")
    assert [(a.name, a.type) for a in attrs] == [
        ("rack", "TEXT"), ("level", "SCALAR"), ("ids", "RANGES"), ("tags", "SET"), ("nan", "TEXT")]
    assert attributes_json(attrs) == {"rack": "r1", "level": 3.0, "ids": "[1-4, 8-9]", "tags": "{a,b}", "nan": "nan"}
    assert parse_attributes("") == []
    for bad in ("rack", "rack:", ":x", "ids:[1]"):
        with pytest.raises(ValueError):
            parse_attributes(bad)


def test_roles_and_hostname() -> None:
    assert AgentConfig().role == "*"
    assert AgentConfig(zone="public").role == "slave_public"
    assert AgentConfig(zone="public", default_role="web").role == "web"
    assert AgentConfig(ip="10.0.0.3").advertised_hostname == "10.0.0.3"
    assert AgentConfig(hostname="node3").advertised_hostname == "node3"
    assert AgentConfig(master="a:5050, b:5050,").masters == ["a:5050", "b:5050"]


def test_flags_are_strings() -> None:
    flags = flags_json(AgentConfig(log_file="/var/log/a.log"), DETECTED)
    assert all(isinstance(v, str) for v in flags.values())
    assert flags["resources"] == DETECTED.render() and flags["external_log_file"] == "/var/log/a.log"


def test_command_line() -> None:
    args = build_parser().parse_args([
        "--ip", "10.0.0.5", "--port", "0", "--master", "10.0.0.1:5050", "--work-dir", "/tmp/w",
        "--resources", "cpus:2;mem:512", "--attributes", "rack:r1", "--zone", "public",
        "--hostname", "node5", "--kill-grace", "1.5", "--status-update-retry", "0.5", "--no-switch-user",
    ])
    config = config_from_args(args)
    assert (config.ip, config.port, config.master, config.work_dir) == ("10.0.0.5", 0, "10.0.0.1:5050", "/tmp/w")
    assert (config.role, config.hostname, config.kill_grace_s) == ("slave_public", "node5", 1.5)
    assert config.status_update_retry_s == 0.5 and config.switch_user is False
    with pytest.raises(ValueError):
        config_from_args(build_parser().parse_args(["--resources", "cpus:x"]))


def test_executor_fetcher_and_isolation_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    args = build_parser().parse_args([
        "--work-dir", "/w", "--executor-registration-timeout", "5", "--executor-heartbeat", "2",
        "--fetch-timeout", "9", "--isolation", "none", "--cgroups-root", "mine", "--cgroups-cpu-quota",
    ])
    config = config_from_args(args)
    assert (config.executor_registration_timeout_s, config.executor_heartbeat_s, config.fetch_timeout_s) == (5, 2, 9)
    assert (config.isolation, config.cgroups_root, config.cgroups_cpu_quota) == ("none", "mine", True)
    assert config.cache_dir == "/w/fetch-cache" and flags_json(config, DETECTED)["isolation"] == "none"
    assert config_from_args(build_parser().parse_args([])).isolation == "auto"
    monkeypatch.setenv("PYDCOS_AGENT_ISOLATION", "none")
    assert config_from_args(build_parser().parse_args([])).isolation == "none"
    monkeypatch.setenv("PYDCOS_AGENT_ISOLATION", "bogus")
    with pytest.raises(ValueError, match="bogus"):
        config_from_args(build_parser().parse_args([]))


PURE = ["status_updates.py", "state.py", "state_json.py", "environment.py", "task_launch.py",
        "task_status.py", "config.py", "errors.py", "executor_core.py", "executor_events.py",
        "executor_messages.py", "fetch_plan.py", "isolation.py"]
FORBIDDEN = {"asyncio", "aiohttp", "kazoo", "sqlite3", "time", "random", "socket", "subprocess", "uvloop"}


@pytest.mark.parametrize("module", PURE)
def test_pure_agent_modules_do_no_io(module: str) -> None:
    path = Path(__file__).resolve().parents[3] / "pydcos" / "mesos" / "agent" / module
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    assert names & FORBIDDEN == set()
