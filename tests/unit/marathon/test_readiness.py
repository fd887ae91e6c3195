"""Readiness checks in the core, with a fake clock: what is probed when, what a deployment waits for,
what the API shows. No sockets: probe answers are handed in by hand."""

from __future__ import annotations

import ast
import doctest
import importlib
import json
from pathlib import Path

import pytest
from core_helpers import Harness

from pydcos.marathon import commands
from pydcos.marathon.errors import InvalidInput
from pydcos.marathon.model import APP_DEFINITION_DECODER, AppDefinition, AppSpec
from pydcos.marathon.queries import render_app, render_deployments
from pydcos.marathon.readiness import ReadinessChecks, ReadinessProbe, awaits_readiness, check_problems
from pydcos.marathon.validation import validate_app

MARATHON = Path(__file__).resolve().parents[3] / "pydcos" / "marathon"
IO = {"asyncio", "aiohttp", "kazoo", "sqlite3", "time", "random", "socket", "subprocess", "uvloop", "uuid"}


def app_json(instances: int = 1, **extra: object) -> str:
    app = {"id": "/web", "cmd": "serve", "cpus": 0.1, "mem": 16, "instances": instances,
           "portDefinitions": [{"port": 0, "name": "admin"}, {"port": 0, "name": "http"}],
           "readinessChecks": [{"name": "warm", "path": "/ready", "portName": "http", "intervalSeconds": 5,
                                "timeoutSeconds": 1, "httpStatusCodesForReady": [200, 204],
                                "preserveLastResponse": True}]}
    app.update(extra)
    return json.dumps(app)


def started(h: Harness, body: str) -> list[str]:
    """Create the app a second later than the clock says, launch and run its tasks."""
    h.create(body)
    h.clock.advance(1)
    tasks = h.offer()
    h.run_all(tasks)
    return [t.task_id.value for t in tasks]


def answer(h: Harness, probe: ReadinessProbe, status: int, body: str = "") -> None:
    h.core.readiness.probe_answered(probe, status, "text/plain", body)
    h.drain()


@pytest.mark.parametrize("module", ["readiness", "app_ports", "group_versions"])
def test_new_modules_are_pure_and_their_doctests_pass(module: str) -> None:
    tree = ast.parse((MARATHON / f"{module}.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    assert imported & IO == set()
    result = doctest.testmod(importlib.import_module(f"pydcos.marathon.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_a_new_task_is_probed_at_once_then_every_interval_until_ready() -> None:
    h = Harness()
    [task_id] = started(h, app_json())
    [probe] = h.core.readiness.due_probes()
    assert probe.url == "http://10.0.0.1:31001/ready"  # the host port of the port named "http"
    assert (probe.task_id, probe.name, probe.timeout, probe.ready_codes) == (task_id, "warm", 1, {200, 204})
    assert len(h.core.deployments) == 1  # running, but not ready
    answer(h, probe, 503, "warming up")
    h.clock.advance(4.9)
    assert h.core.readiness.due_probes() == []
    h.clock.advance(0.1)
    [again] = h.core.readiness.due_probes()
    [deployment] = render_deployments(h.core)
    [action] = deployment["currentActions"]
    assert action["readinessCheckResults"] == [{"name": "warm", "taskId": task_id, "ready": False, "lastResponse": {
        "status": 503, "contentType": "text/plain", "body": "warming up"}}]
    answer(h, again, 204)
    assert len(h.core.deployments) == 0
    assert "deployment_success" in h.event_types()
    h.clock.advance(60)
    assert h.core.readiness.due_probes() == []  # ready: never probed again


def test_without_preserve_last_response_the_result_has_no_response() -> None:
    h = Harness()
    body = json.loads(app_json())
    body["readinessChecks"][0]["preserveLastResponse"] = False
    [task_id] = started(h, json.dumps(body))
    [probe] = h.core.readiness.due_probes()
    answer(h, probe, 500)
    app = h.core.root.apps["/web"]
    assert render_app(h.core, app, ["app.readiness"])["readinessCheckResults"] == [
        {"name": "warm", "taskId": task_id, "ready": False}]
    assert "readinessCheckResults" not in render_app(h.core, app)


def test_a_probe_without_answer_counts_as_504_and_not_ready() -> None:
    h = Harness()
    started(h, app_json())
    [probe] = h.core.readiness.due_probes()
    h.core.readiness.probe_failed(probe, "ClientConnectorError: refused")
    h.drain()
    [result] = h.core.readiness.results_json("/web")
    assert result["ready"] is False and result["lastResponse"]["status"] == 504
    assert "could not query http://10.0.0.1:31001/ready" in result["lastResponse"]["body"]
    assert len(h.core.deployments) == 1


def test_a_task_counts_only_when_ready_and_healthy() -> None:
    h = Harness()
    started(h, app_json(healthChecks=[{"protocol": "COMMAND", "command": {"value": "true"},
                                       "gracePeriodSeconds": 0}]))
    [probe] = h.core.readiness.due_probes()  # probed as soon as it runs, healthy or not
    answer(h, probe, 200)
    assert len(h.core.deployments) == 1  # ready, not yet healthy
    h.update(probe.task_id, "TASK_RUNNING", healthy=True)
    assert len(h.core.deployments) == 0


def test_rolling_restart_keeps_the_old_task_until_the_new_one_is_ready() -> None:
    h = Harness()
    [old] = started(h, app_json())
    [probe] = h.core.readiness.due_probes()
    answer(h, probe, 200)
    h.clock.advance(1)
    commands.restart_app(h.core, "/web", force=False)
    h.drain()
    [new_task] = h.offer()
    new = new_task.task_id.value
    h.update(new, "TASK_RUNNING")
    [probe] = h.core.readiness.due_probes()
    assert probe.task_id == new  # the old task is not waited for
    answer(h, probe, 503)
    assert h.kills() == []  # running and healthy, but not ready: the old one stays
    h.clock.advance(5)
    [probe] = h.core.readiness.due_probes()
    answer(h, probe, 200)
    assert h.kills() == [old]
    h.update(old, "TASK_KILLED")
    assert len(h.core.deployments) == 0


def test_scaling_up_waits_only_for_the_new_tasks() -> None:
    h = Harness()
    started(h, app_json())
    [probe] = h.core.readiness.due_probes()
    answer(h, probe, 200)
    h.core.readiness = ReadinessChecks(h.core)  # as after a restart of Marathon: nothing known
    h.clock.advance(1)
    commands.put_apps(h.core, [(AppSpec(instances=2), "/web")], create_only=False, force=False)
    h.drain()
    [second] = h.offer()
    h.update(second.task_id.value, "TASK_RUNNING")
    [probe] = h.core.readiness.due_probes()
    assert probe.task_id == second.task_id.value
    answer(h, probe, 200)
    assert len(h.core.deployments) == 0


def test_probing_stops_with_the_deployment_and_gone_tasks_are_forgotten() -> None:
    h = Harness()
    [task_id] = started(h, app_json())
    [probe] = h.core.readiness.due_probes()
    answer(h, probe, 503)
    [run] = h.core.deployments.runs.values()
    h.core.cancel_run(run.id, "test")
    h.drain()
    h.clock.advance(10)
    assert h.core.readiness.due_probes() == []
    assert h.core.readiness.results_json("/web") == []  # shown only while a deployment acts on the app
    h.update(task_id, "TASK_FAILED")
    assert h.core.readiness.due_probes() == []
    assert task_id not in h.core.readiness._results


def test_an_answer_for_a_task_that_is_gone_changes_nothing() -> None:
    h = Harness()
    [task_id] = started(h, app_json())
    [probe] = h.core.readiness.due_probes()
    h.update(task_id, "TASK_FAILED")
    answer(h, probe, 200)
    assert not h.core.readiness.is_ready(task_id)


def test_apps_without_readiness_checks_are_never_probed() -> None:
    h = Harness()
    started(h, '{"id": "/plain", "cmd": "x", "cpus": 0.1, "instances": 2}')
    assert h.core.readiness.due_probes() == []
    assert len(h.core.deployments) == 0


def test_awaits_only_current_config_tasks_staged_since_the_last_change() -> None:
    h = Harness()
    [task_id] = started(h, app_json())
    app = h.core.root.apps["/web"]
    instance = h.core.instances.get(task_id)
    assert instance is not None and awaits_readiness(instance, app)
    later = AppDefinition(**{**_fields(app), "version": "2100-01-01T00:00:00.000Z", "version_info": None})
    assert not awaits_readiness(instance, later)


def _fields(app: AppDefinition) -> dict[str, object]:
    return {f: getattr(app, f) for f in app.__struct_fields__}


@pytest.mark.parametrize(("check", "path", "fragment"), [
    ({"portName": "nope"}, "/readinessChecks(0)/portName", "is not one of (http)"),
    ({"portName": "http", "timeoutSeconds": 30, "intervalSeconds": 30}, "/readinessChecks(0)/timeoutSeconds",
     "less than intervalSeconds"),
    ({"portName": "http", "timeoutSeconds": 0}, "/readinessChecks(0)/timeoutSeconds", "more than 0"),
    ({"portName": "http", "httpStatusCodesForReady": []}, "/readinessChecks(0)/httpStatusCodesForReady",
     "must not be empty"),
    ({"portName": "http", "path": "ready"}, "/readinessChecks(0)/path", "must start with /"),
    ({}, "/readinessChecks(0)/portName", "is not one of"),  # the default name is http-api
])
def test_bad_readiness_checks_are_refused_with_their_path(check: dict[str, object], path: str,
                                                          fragment: str) -> None:
    app = APP_DEFINITION_DECODER.decode(json.dumps({
        "id": "/web", "cmd": "x", "portDefinitions": [{"port": 0, "name": "http"}],
        "readinessChecks": [check]}).encode())
    problems = {p.path: " ".join(p.errors) for p in validate_app(app)}
    assert path in problems and fragment in problems[path], problems


def test_at_most_one_readiness_check_and_named_mapping_ports_work() -> None:
    two = APP_DEFINITION_DECODER.decode(json.dumps({
        "id": "/web", "cmd": "x", "portDefinitions": [{"port": 0, "name": "http"}],
        "readinessChecks": [{"portName": "http"}, {"portName": "http"}]}).encode())
    assert [p for p, _ in check_problems(two)] == ["/readinessChecks"]
    bridged = APP_DEFINITION_DECODER.decode(json.dumps({
        "id": "/web", "container": {"type": "DOCKER", "docker": {"image": "nginx", "network": "BRIDGE",
                                                                   "portMappings": [{"containerPort": 80, "name": "web"}]}},
        "readinessChecks": [{"portName": "web"}]}).encode())
    assert check_problems(bridged) == []
    user = APP_DEFINITION_DECODER.decode(json.dumps({
        "id": "/web", "container": {"type": "DOCKER", "docker": {"image": "nginx", "network": "USER", "portMappings": [
            {"containerPort": 80, "hostPort": None, "name": "web"}]}},
        "readinessChecks": [{"portName": "web"}]}).encode())
    assert [p for p, _ in check_problems(user)] == ["/readinessChecks(0)/portName"]


def test_the_api_refuses_a_readiness_check_naming_no_port() -> None:
    h = Harness()
    with pytest.raises(InvalidInput) as refused:
        h.create('{"id": "/web", "cmd": "x", "readinessChecks": [{"portName": "http"}]}')
    assert refused.value.problems[0].path == "/readinessChecks(0)/portName"
    assert "/web" not in h.core.root.apps
