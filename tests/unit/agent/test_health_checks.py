"""The pure half of the agent's health checks: validation as Mesos does it, and the state machine
that turns results into `healthy` updates and a kill."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from pydcos.mesos.agent import health_checks
from pydcos.mesos.agent.errors import InvalidTask
from pydcos.mesos.agent.health_checks import (
    CheckResult,
    HealthCheckSpec,
    HealthState,
    HttpCheckInfo,
    KillTask,
    ReportHealth,
    check_host,
    http_status_ok,
    http_url,
    last_reported_health,
    parse_health_check,
)
from pydcos.mesos.agent.task_launch import check_task
from pydcos.mesos.v1.messages import CommandInfo, FrameworkInfo, Id, TaskInfo, TaskStatus

PREFIX = "Task uses invalid health check: "


def test_doctests() -> None:
    assert doctest.testmod(health_checks).failed == 0


def test_pure_module_imports_no_io() -> None:
    source = Path(health_checks.__file__).read_text()
    for name in ("asyncio", "aiohttp", "socket", "subprocess", "time", "random"):
        assert f"import {name}" not in source


# --- validation -----------------------------------------------------------------------------


def test_mesos_defaults_fill_what_is_left_out() -> None:
    spec = parse_health_check({"type": "COMMAND", "command": {"value": "true"}})
    assert (spec.delay_seconds, spec.interval_seconds, spec.timeout_seconds, spec.consecutive_failures,
            spec.grace_period_seconds) == (15.0, 10.0, 20.0, 3, 10.0)
    assert spec.kind == "COMMAND" and spec.command == CommandInfo(value="true")


def test_a_mesos_1_0_check_without_type_is_a_command_check() -> None:
    assert parse_health_check({"command": {"value": "true"}, "interval_seconds": 2}).kind == "COMMAND"


def test_http_and_tcp_checks_parse() -> None:
    http = parse_health_check({"type": "HTTP", "http": {"port": 8080, "path": "/ping", "scheme": "https",
                                                        "statuses": [200, 204]}})
    assert http.kind == "HTTP" and http.http == HttpCheckInfo(port=8080, scheme="https", path="/ping",
                                                               statuses=[200, 204])
    tcp = parse_health_check({"type": "TCP", "tcp": {"port": 9000}, "consecutive_failures": 0})
    assert tcp.kind == "TCP" and tcp.tcp is not None and tcp.tcp.port == 9000 and tcp.consecutive_failures == 0


@pytest.mark.parametrize(("raw", "message"), [
    ({}, "HealthCheck must specify 'type'"),
    ({"type": "COMMAND"}, "Expecting 'command' to be set for command health check"),
    ({"type": "COMMAND", "command": {}}, "Command health check must contain 'shell command'"),
    ({"type": "COMMAND", "command": {"shell": False}}, "Command health check must contain 'executable path'"),
    ({"type": "COMMAND", "command": {"value": "a\0b"}}, "Command health check contains a NUL byte"),
    ({"type": "HTTP"}, "Expecting 'http' to be set for HTTP health check"),
    ({"type": "HTTP", "http": {"port": 80, "scheme": "ftp"}}, "Unsupported HTTP health check scheme: 'ftp'"),
    ({"type": "HTTP", "http": {"port": 80, "path": "ping"}},
     "The path 'ping' of HTTP health check must start with '/'"),
    ({"type": "HTTP", "http": {"port": 80, "path": "/a b"}},
     "The path '/a b' of HTTP health check contains whitespace or control characters"),
    ({"type": "HTTP", "http": {"port": 0}}, "The port 0 of HTTP health check is not between 1 and 65535"),
    ({"type": "TCP"}, "Expecting 'tcp' to be set for TCP health check"),
    ({"type": "TCP", "tcp": {"port": 70000}}, "The port 70000 of TCP health check is not between 1 and 65535"),
    ({"type": "TCP", "tcp": {"port": 80, "protocol": "IPX"}}, "Unsupported TCP health check protocol: 'IPX'"),
    ({"type": "UNKNOWN"}, "Unsupported health check type: 'UNKNOWN'"),
    ({"type": "TCP", "tcp": {"port": 80}, "interval_seconds": -1}, "Expecting 'interval_seconds' to be non-negative"),
    ({"type": "TCP", "tcp": {"port": 80}, "delay_seconds": -0.5}, "Expecting 'delay_seconds' to be non-negative"),
    ({"type": "TCP", "tcp": {"port": 80}, "timeout_seconds": -3}, "Expecting 'timeout_seconds' to be non-negative"),
    ({"type": "TCP", "tcp": {"port": 80}, "grace_period_seconds": -3},
     "Expecting 'grace_period_seconds' to be non-negative"),
    ({"type": "TCP", "tcp": {"port": 80}, "interval_seconds": float("inf")},
     "Expecting 'interval_seconds' to be non-negative"),
    ({"type": "TCP", "tcp": {"port": 80}, "consecutive_failures": -1},
     "Expecting 'consecutive_failures' to be an unsigned 32-bit integer"),
    ({"type": "TCP", "tcp": {"port": 80}, "consecutive_failures": 2**32},
     "Expecting 'consecutive_failures' to be an unsigned 32-bit integer"),
])
def test_bad_checks_are_refused_with_mesos_messages(raw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidTask) as info:
        parse_health_check(raw)
    assert info.value.message == PREFIX + message


@pytest.mark.parametrize(("raw", "where"), [
    ({"type": "TCP", "tcp": {"port": "80"}}, "$.tcp.port"),
    ({"type": "COMMAND", "command": "true"}, "$.command"),
    ({"type": 3, "tcp": {"port": 80}}, "$.type"),
    ({"type": "TCP", "tcp": {"port": 80}, "interval_seconds": "10"}, "$.interval_seconds"),
    ({"type": "HTTP", "http": {"port": 80, "statuses": ["200"]}}, "$.http.statuses[0]"),
])
def test_wrongly_typed_fields_name_their_path(raw: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidTask) as info:
        parse_health_check(raw)
    assert info.value.message.startswith(PREFIX) and where in info.value.message


def test_check_task_refuses_a_task_with_a_bad_check() -> None:
    task = TaskInfo(name="t", task_id=Id("t1"), command=CommandInfo(value="sleep 1"),
                    health_check={"type": "HTTP", "http": {"port": 80, "path": "x"}})
    with pytest.raises(InvalidTask, match="Task uses invalid health check: The path 'x'"):
        check_task(FrameworkInfo(user="", name="f", id=Id("F0")), task)


# --- targets --------------------------------------------------------------------------------


def test_http_checks_go_to_the_agents_address_and_accept_2xx_3xx_or_the_listed_statuses() -> None:
    assert check_host("127.0.2.1") == "127.0.2.1"
    assert check_host("::") == "127.0.0.1" and check_host("fe80::1", "IPv6") == "fe80::1"
    assert http_url(HttpCheckInfo(port=31000), "127.0.2.1") == "http://127.0.2.1:31000/"
    assert http_url(HttpCheckInfo(port=443, scheme="https", path="/x?y=1"), "h") == "https://h:443/x?y=1"
    plain = HttpCheckInfo(port=1)
    assert [http_status_ok(plain, s) for s in (199, 200, 302, 399, 400, 503)] == [False, True, True, True, False,
                                                                                   False]
    listed = HttpCheckInfo(port=1, statuses=[204, 503])
    assert [http_status_ok(listed, s) for s in (200, 204, 503)] == [False, True, True]


# --- the state machine ----------------------------------------------------------------------


def ok(at: float) -> CheckResult:
    return CheckResult(ok=True, at=at)


def bad(at: float, message: str = "exit 1") -> CheckResult:
    return CheckResult(ok=False, at=at, message=message)


def test_first_success_is_reported_once_then_nothing_while_healthy() -> None:
    state = HealthState(max_failures=3, grace_s=0.0, started_at=0.0)
    assert state.handle(ok(1.0)) == [ReportHealth(True)]
    assert state.handle(ok(2.0)) == []
    assert state.handle(ok(3.0)) == []


def test_failures_in_the_grace_period_are_ignored_until_the_first_success() -> None:
    state = HealthState(max_failures=1, grace_s=10.0, started_at=100.0)
    assert state.handle(bad(101.0)) == []
    assert state.handle(bad(110.0)) == []  # the end of the grace period still belongs to it
    assert state.failures == 0 and state.reported is None
    assert state.handle(ok(111.0)) == [ReportHealth(True)]


def test_after_the_first_success_the_grace_period_no_longer_hides_failures() -> None:
    state = HealthState(max_failures=2, grace_s=60.0, started_at=0.0)
    assert state.handle(ok(1.0)) == [ReportHealth(True)]
    assert state.handle(bad(2.0, "exit 3")) == [ReportHealth(False, "exit 3")]
    assert state.handle(bad(3.0)) == [KillTask("exit 1")]


def test_a_failure_after_the_grace_period_counts_without_any_success() -> None:
    state = HealthState(max_failures=3, grace_s=5.0, started_at=0.0)
    assert state.handle(bad(4.0)) == []
    assert state.handle(bad(6.0)) == [ReportHealth(False, "exit 1")]
    assert state.failures == 1


def test_consecutive_failures_kill_and_a_success_resets_the_count() -> None:
    state = HealthState(max_failures=3, grace_s=0.0, started_at=0.0)
    assert state.handle(bad(1.0)) == [ReportHealth(False, "exit 1")]
    assert state.handle(bad(2.0)) == []
    assert state.handle(ok(3.0)) == [ReportHealth(True)]  # flip back
    assert state.failures == 0
    assert state.handle(bad(4.0)) == [ReportHealth(False, "exit 1")]
    assert state.handle(bad(5.0)) == []
    assert state.handle(bad(6.0, "timed out")) == [KillTask("timed out")]
    assert state.killed
    assert state.handle(ok(7.0)) == [] and state.handle(bad(8.0)) == []  # nothing after the kill


def test_one_allowed_failure_reports_and_kills_at_once() -> None:
    state = HealthState(max_failures=1, grace_s=0.0, started_at=0.0)
    assert state.handle(bad(1.0)) == [ReportHealth(False, "exit 1"), KillTask("exit 1")]


def test_zero_consecutive_failures_kills_at_the_first_counted_failure_as_mesos() -> None:
    state = HealthState.for_spec(parse_health_check({"type": "TCP", "tcp": {"port": 1}, "consecutive_failures": 0,
                                                     "grace_period_seconds": 0}), started_at=0.0)
    assert state.handle(bad(1.0)) == [ReportHealth(False, "exit 1"), KillTask("exit 1")]


def test_a_reattached_task_does_not_repeat_what_it_reported_and_gets_no_new_grace() -> None:
    spec = HealthCheckSpec(type="TCP", consecutive_failures=2, grace_period_seconds=100.0)
    healthy = HealthState.for_spec(spec, started_at=0.0, reported=True)
    assert healthy.handle(ok(1.0)) == []
    assert healthy.handle(bad(2.0)) == [ReportHealth(False, "exit 1")]  # not hidden by the grace period
    unhealthy = HealthState.for_spec(spec, started_at=0.0, reported=False)
    assert unhealthy.handle(bad(1.0)) == []
    assert unhealthy.handle(bad(2.0)) == [KillTask("exit 1")]
    fresh = HealthState.for_spec(spec, started_at=0.0, reported=None)
    assert fresh.handle(bad(1.0)) == []  # a task never reported gets its grace period again


def test_last_reported_health_reads_the_newest_status_with_a_flag() -> None:
    def st(healthy: bool | None) -> TaskStatus:
        return TaskStatus(task_id=Id("t"), state="TASK_RUNNING", healthy=healthy)

    assert last_reported_health([]) is None
    assert last_reported_health([st(None)]) is None
    assert last_reported_health([st(True), st(False), st(None)]) is False
    assert last_reported_health([st(False), st(True)]) is True
