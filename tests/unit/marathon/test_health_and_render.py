"""Health check scheduling and results; the App and Task JSON and Marathon's datetimes."""

from __future__ import annotations

from pydcos.marathon.health import HealthSchedule, is_healthy, is_unhealthy, record, record_mesos
from pydcos.marathon.instances import HealthResult, Instance
from pydcos.marathon.model import (
    AppDefinition,
    CommandValue,
    HealthCheck,
    PortDefinition,
    format_time,
    parse_time,
)
from pydcos.marathon.render import app_definition_json, health_check_json, task_json


def checked_app(*checks: HealthCheck) -> AppDefinition:
    return AppDefinition(id="/web", cmd="x", port_definitions=[PortDefinition(10000)], health_checks=list(checks),
                         version="v1")


def running(task_id: str = "t1") -> Instance:
    return Instance(task_id=task_id, app_id="/web", version="v1", config_version="v1", agent_id="a", host="10.0.0.1",
                    ports=[31000], state="TASK_RUNNING", staged_at=0.0, started_at=0.0)


def test_probes_come_due_every_interval() -> None:
    hc = HealthCheck(protocol="HTTP", path="/ping", interval_seconds=10, timeout_seconds=2)
    app = checked_app(hc)
    schedule = HealthSchedule()
    inst = running()
    [probe] = schedule.due(0.0, [(inst, app)])
    assert (probe.host, probe.port, probe.path, probe.timeout) == ("10.0.0.1", 31000, "/ping", 2)
    assert schedule.due(9.9, [(inst, app)]) == []
    assert len(schedule.due(10.0, [(inst, app)])) == 1
    staging = running("t2")
    staging.state = "TASK_STAGING"
    assert schedule.due(20.0, [(staging, app)]) == []
    schedule.forget("t1")
    assert schedule.next_due() is None


def test_command_checks_are_not_probed_by_marathon() -> None:
    app = checked_app(HealthCheck(protocol="COMMAND", command=CommandValue("true")))
    assert HealthSchedule().due(0.0, [(running(), app)]) == []


def test_grace_period_hides_failures_until_first_success() -> None:
    hc = HealthCheck(grace_period_seconds=30, max_consecutive_failures=1)
    r = HealthResult()
    assert not record(r, hc, ok=False, cause="x", now=10.0, started_at=0.0).kill
    assert r.consecutive_failures == 0
    record(r, hc, ok=True, cause="", now=11.0, started_at=0.0)
    outcome = record(r, hc, ok=False, cause="503", now=12.0, started_at=0.0)
    assert outcome.kill and outcome.changed and r.last_failure_cause == "503"
    r2 = HealthResult()
    assert record(r2, hc, ok=False, cause="x", now=31.0, started_at=0.0).kill


def test_healthy_means_running_and_every_check_alive() -> None:
    app = checked_app(HealthCheck(protocol="TCP"), HealthCheck(protocol="COMMAND", command="true"))
    inst = running()
    inst.health = [HealthResult(alive=True), HealthResult()]
    assert not is_healthy(inst, app) and not is_unhealthy(inst, app)
    record_mesos(inst, app, True, now=1.0)
    assert is_healthy(inst, app)
    record_mesos(inst, app, False, now=400.0)
    assert is_unhealthy(inst, app)
    assert is_healthy(inst, AppDefinition(id="/plain", cmd="x"))


def test_datetimes_always_have_milliseconds_and_z() -> None:
    assert format_time(1472731200.0) == "2016-09-01T12:00:00.000Z"
    assert parse_time("2016-09-01T12:00:00.000Z") == 1472731200.0
    assert parse_time("nonsense") is None


def test_health_check_json_forms() -> None:
    assert health_check_json(HealthCheck(protocol="COMMAND", command="true"))["command"] == {"value": "true"}
    http = health_check_json(HealthCheck())
    assert http["path"] == "/" and http["portIndex"] == 0 and http["gracePeriodSeconds"] == 300
    assert "portIndex" not in health_check_json(HealthCheck(protocol="TCP", port=8080))


def test_app_and_task_json_keys() -> None:
    app = app_definition_json(checked_app(HealthCheck()))
    assert app["ports"] == [10000] and app["portDefinitions"] == [{"port": 10000, "protocol": "tcp", "labels": {}}]
    assert "acceptedResourceRoles" not in app and app["container"] is None and app["args"] is None
    task = task_json(running(), with_health=True)
    assert task["startedAt"] == "1970-01-01T00:00:00.000Z" and task["ipAddresses"] == []
    assert set(task) == {"id", "appId", "host", "ports", "servicePorts", "slaveId", "stagedAt", "startedAt", "version",
                         "ipAddresses", "state", "healthCheckResults", "localVolumes"}
