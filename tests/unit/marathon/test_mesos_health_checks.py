"""Marathon's Mesos health checks (COMMAND, MESOS_HTTP, MESOS_HTTPS, MESOS_TCP): the TaskInfo's
`health_check` the agent runs, and what the `healthy` flag of status updates does to instances,
counts, events, replacements and rolling restarts. No sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from core_helpers import Harness

from pydcos.marathon import commands, queries
from pydcos.marathon.app_specs import apply_spec
from pydcos.marathon.model import APP_SPEC_DECODER
from pydcos.marathon.validation import validate_app
from pydcos.mesos.agent.health_checks import parse_health_check
from pydcos.mesos.v1 import messages as v1

TIMING = {"gracePeriodSeconds": 30, "intervalSeconds": 5, "timeoutSeconds": 2, "maxConsecutiveFailures": 4}


def create(h: Harness, *checks: dict[str, Any], **app: Any) -> list[v1.TaskInfo]:
    body = {"id": "/web", "cmd": "serve", "cpus": 0.1, "portDefinitions": [{"port": 0}, {"port": 0}],
            "healthChecks": list(checks), **app}
    h.create(json.dumps(body))
    return h.offer()


def counts(h: Harness) -> tuple[int, int, int]:
    c = queries.app_counts(h.core, h.core.instances.of_app("/web"))
    return c.running, c.healthy, c.unhealthy


def results(h: Harness, task_id: str) -> list[dict[str, Any]]:
    instance = h.core.instances.get(task_id)
    assert instance is not None
    rendered: list[dict[str, Any]] = queries.render_task(h.core, instance)["healthCheckResults"]
    return rendered


def healthy(h: Harness, task_id: str, value: bool, **extra: Any) -> None:
    h.update(task_id, "TASK_RUNNING", healthy=value, reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", **extra)


# --- the TaskInfo ---------------------------------------------------------------------------


def test_command_check_becomes_the_tasks_mesos_health_check() -> None:
    [task] = create(Harness(), {"protocol": "COMMAND", "command": {"value": "curl -f localhost:$PORT0"}, **TIMING})
    assert task.health_check == {
        "type": "COMMAND", "command": {"value": "curl -f localhost:$PORT0"}, "delay_seconds": 0.0,
        "interval_seconds": 5.0, "timeout_seconds": 2.0, "consecutive_failures": 4, "grace_period_seconds": 30.0,
    }
    assert parse_health_check(task.health_check).kind == "COMMAND"  # what the agent accepts


def test_mesos_http_check_targets_the_host_port_of_its_port_index() -> None:
    [task] = create(Harness(), {"protocol": "MESOS_HTTP", "path": "/ping", "portIndex": 1, **TIMING})
    ports = [int(v.value) for v in task.command.environment.variables if v.name in ("PORT0", "PORT1")]  # type: ignore[union-attr]
    assert task.health_check is not None
    assert task.health_check["type"] == "HTTP"
    assert task.health_check["http"] == {"scheme": "http", "port": ports[1], "path": "/ping"}
    assert parse_health_check(task.health_check).http is not None


def test_mesos_https_and_tcp_checks() -> None:
    [https] = create(Harness(), {"protocol": "MESOS_HTTPS", **TIMING})
    assert https.health_check is not None and https.health_check["http"]["scheme"] == "https"
    assert https.health_check["http"]["path"] == "/"
    [tcp] = create(Harness(), {"protocol": "MESOS_TCP", "port": 8443, **TIMING})
    assert tcp.health_check is not None
    assert (tcp.health_check["type"], tcp.health_check["tcp"]) == ("TCP", {"port": 8443})
    assert parse_health_check(tcp.health_check).kind == "TCP"


def test_only_mesos_kinds_go_to_the_agent() -> None:
    [task] = create(Harness(), {"protocol": "HTTP", "path": "/", **TIMING}, {"protocol": "TCP", **TIMING})
    assert task.health_check is None
    [mixed] = create(Harness(), {"protocol": "HTTP", **TIMING}, {"protocol": "MESOS_TCP", "portIndex": 0, **TIMING})
    assert mixed.health_check is not None and mixed.health_check["type"] == "TCP"


# --- validation -----------------------------------------------------------------------------


def problems(*checks: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    body = {"id": "/web", "cmd": "x", "portDefinitions": [{"port": 0}], "healthChecks": list(checks)}
    app = apply_spec(APP_SPEC_DECODER.decode(json.dumps(body).encode()), "/web", None)
    return [(p.path, tuple(p.errors)) for p in validate_app(app)]


def test_mesos_kinds_are_valid() -> None:
    assert problems({"protocol": "MESOS_HTTP", "path": "/health"}) == []
    assert problems({"protocol": "MESOS_HTTPS"}) == []
    assert problems({"protocol": "MESOS_TCP", "portIndex": 0}) == []
    assert problems({"protocol": "COMMAND", "command": {"value": "true"}}, {"protocol": "HTTP"}) == []


@pytest.mark.parametrize(("checks", "path"), [
    ([{"protocol": "COMMAND", "command": "true"}, {"protocol": "MESOS_TCP"}], "/healthChecks(1)/protocol"),
    ([{"protocol": "MESOS_HTTP"}, {"protocol": "COMMAND", "command": "true"}], "/healthChecks(1)/protocol"),
    ([{"protocol": "MESOS_HTTP", "path": "health"}], "/healthChecks(0)/path"),
    ([{"protocol": "MESOS_TCP", "portIndex": 3}], "/healthChecks(0)/portIndex"),
    ([{"protocol": "MESOS_TCP", "port": 70000}], "/healthChecks(0)/port"),
])
def test_bad_mesos_checks_are_refused(checks: list[dict[str, Any]], path: str) -> None:
    assert path in [p for p, _ in problems(*checks)]


def test_two_mesos_checks_say_why() -> None:
    found = problems({"protocol": "COMMAND", "command": "true"}, {"protocol": "COMMAND", "command": "false"})
    assert found == [("/healthChecks(1)/protocol", ("AppDefinition can contain at most one Mesos health check",))]


# --- results from status updates -----------------------------------------------------------


def test_healthy_flag_makes_the_task_healthy_and_is_announced() -> None:
    h = Harness()
    [task] = create(h, {"protocol": "COMMAND", "command": "true", **TIMING})
    tid = task.task_id.value
    h.update(tid, "TASK_RUNNING")
    assert counts(h) == (1, 0, 0)  # running, not yet known healthy
    assert results(h, tid)[0]["alive"] is False and results(h, tid)[0]["lastSuccess"] is None
    h.events.clear()
    healthy(h, tid, True)
    assert counts(h) == (1, 1, 0)
    [result] = results(h, tid)
    assert result["alive"] is True and result["consecutiveFailures"] == 0 and result["taskId"] == tid
    assert result["firstSuccess"] == result["lastSuccess"] is not None
    changed = [e for e in h.events if e["eventType"] == "health_status_changed_event"]
    assert [(e["taskId"], e["alive"]) for e in changed] == [(tid, True)]
    assert "status_update_event" not in h.event_types()  # TASK_RUNNING again is no state change


def test_unhealthy_flag_counts_and_keeps_the_agents_cause_but_marathon_does_not_kill() -> None:
    h = Harness()
    [task] = create(h, {"protocol": "COMMAND", "command": "false", **{**TIMING, "maxConsecutiveFailures": 1}})
    tid = task.task_id.value
    h.update(tid, "TASK_RUNNING")
    healthy(h, tid, True)
    h.events.clear()
    healthy(h, tid, False, message="COMMAND health check failed: command returned status 1")
    assert counts(h) == (1, 0, 1)
    [result] = results(h, tid)
    assert result["alive"] is False and result["consecutiveFailures"] == 1 and result["lastFailure"] is not None
    assert result["lastFailureCause"] == "COMMAND health check failed: command returned status 1"
    assert {"health_status_changed_event", "failed_health_check_event"} <= set(h.event_types())
    # A reconciliation repeats the flag with a message of its own: the agent's cause stays.
    h.update(tid, "TASK_RUNNING", healthy=False, reason="REASON_RECONCILIATION",
             message="Reconciliation: Latest task state")
    assert results(h, tid)[0]["consecutiveFailures"] == 2
    assert results(h, tid)[0]["lastFailureCause"] == "COMMAND health check failed: command returned status 1"
    assert h.kills() == []  # the agent kills after consecutive_failures, not Marathon
    assert "unhealthy_task_kill_event" not in h.event_types()


def test_a_task_the_agent_killed_for_its_health_is_replaced() -> None:
    h = Harness()
    [task] = create(h, {"protocol": "MESOS_TCP", **TIMING}, backoffSeconds=0)
    tid = task.task_id.value
    h.update(tid, "TASK_RUNNING")
    healthy(h, tid, False)
    h.update(tid, "TASK_KILLED", healthy=False, message="Command terminated with signal Terminated")
    assert h.core.instances.get(tid) is None
    assert h.core.last_failures["/web"].state == "TASK_KILLED"
    [replacement] = h.offer()
    assert replacement.task_id.value != tid


def test_health_from_a_reconciliation_restores_a_forgotten_result() -> None:
    h = Harness()
    [task] = create(h, {"protocol": "COMMAND", "command": "true", **TIMING})
    tid = task.task_id.value
    h.update(tid, "TASK_RUNNING", healthy=True, reason="REASON_RECONCILIATION")
    assert counts(h) == (1, 1, 0)
    other = Harness()
    [task] = create(other, {"protocol": "COMMAND", "command": "true", **TIMING})
    other.update(task.task_id.value, "TASK_RUNNING", healthy=False, reason="REASON_RECONCILIATION",
                 message="Reconciliation: Latest task state")
    assert results(other, task.task_id.value)[0]["lastFailureCause"] == "COMMAND health check failed"


def test_rolling_restart_waits_for_the_new_task_to_be_healthy() -> None:
    h = Harness()
    [old] = create(h, {"protocol": "COMMAND", "command": "true", **TIMING},
                   upgradeStrategy={"minimumHealthCapacity": 1, "maximumOverCapacity": 1})
    h.update(old.task_id.value, "TASK_RUNNING")
    healthy(h, old.task_id.value, True)
    assert len(h.core.deployments) == 0
    commands.restart_app(h.core, "/web", force=False)
    h.drain()
    assert h.kills() == []
    [new] = h.offer()
    h.update(new.task_id.value, "TASK_RUNNING")
    assert h.kills() == []  # running is not enough while the app has a health check
    healthy(h, new.task_id.value, False)
    assert h.kills() == []
    healthy(h, new.task_id.value, True)
    assert h.kills() == [old.task_id.value]
    h.update(old.task_id.value, "TASK_KILLED")
    assert len(h.core.deployments) == 0
