"""Marathon's JSON answers, each key from the whitelist clients accept (COMPAT §6.3). Pure.

marathon-python builds objects from fixed constructor arguments, so any key not listed crashes it:
every object here is written out key by key, never dumped from a struct. An app's definition part
is cached per (id, version); the counters, tasks and deployments are added per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydcos.marathon.deployments import DeploymentRun
from pydcos.marathon.instances import HealthResult, Instance
from pydcos.marathon.model import AppDefinition, Container, HealthCheck, UnreachableStrategy, format_time
from pydcos.marathon.planner import DeploymentPlan

Json = dict[str, Any]


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _time(ts: float | None) -> str | None:
    return None if ts is None else format_time(ts)


def health_check_json(hc: HealthCheck) -> Json:
    out: Json = {"protocol": hc.protocol}
    if hc.protocol in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
        out["path"] = hc.path or "/"
    if hc.protocol == "COMMAND":
        out["command"] = {"value": hc.command_text() or ""}
    elif hc.port is not None:
        out["port"] = hc.port
    else:
        out["portIndex"] = hc.port_index if hc.port_index is not None else 0
    out.update({
        "gracePeriodSeconds": _num(hc.grace_period_seconds),
        "intervalSeconds": _num(hc.interval_seconds),
        "timeoutSeconds": _num(hc.timeout_seconds),
        "maxConsecutiveFailures": hc.max_consecutive_failures,
        "ignoreHttp1xx": hc.ignore_http1xx,
    })
    return out


def container_json(c: Container) -> Json:
    out: Json = {"type": c.type, "volumes": [
        {k: v for k, v in (("containerPath", vol.container_path), ("hostPath", vol.host_path), ("mode", vol.mode),
                           ("persistent", vol.persistent), ("external", vol.external)) if v is not None}
        for vol in c.volumes
    ]}
    if c.docker is not None:
        d = c.docker
        docker: Json = {"image": d.image, "network": d.network, "parameters": d.parameters,
                        "privileged": d.privileged, "forcePullImage": d.force_pull_image}
        if d.port_mappings is not None:
            docker["portMappings"] = [
                {"containerPort": pm.container_port, "hostPort": pm.host_port, "servicePort": pm.service_port,
                 "protocol": pm.protocol, "labels": pm.labels, **({"name": pm.name} if pm.name else {})}
                for pm in d.port_mappings
            ]
        out["docker"] = docker
    return out


def unreachable_strategy_json(strategy: UnreachableStrategy) -> Json | str:
    if isinstance(strategy, str):
        return strategy
    return {"inactiveAfterSeconds": strategy.inactive_after_seconds,
            "expungeAfterSeconds": strategy.expunge_after_seconds}


def app_definition_json(app: AppDefinition) -> Json:
    """The definition part of an App object (no counters): also `GET /v2/apps/{id}/versions/{v}`."""
    out: Json = {
        "id": app.id,
        "cmd": app.cmd,
        "args": app.args,
        "user": app.user,
        "env": dict(app.env),
        "instances": app.instances,
        "cpus": _num(app.cpus),
        "mem": _num(app.mem),
        "disk": _num(app.disk),
        "gpus": app.gpus,
        "executor": app.executor,
        "constraints": [list(c) for c in app.constraints],
        "uris": app.uris(),
        "fetch": [{"uri": f.uri, "extract": f.extract, "executable": f.executable, "cache": f.cache,
                   **({"outputFile": f.output_file} if f.output_file else {})} for f in app.fetch],
        "storeUrls": list(app.store_urls),
        "backoffSeconds": _num(app.backoff_seconds),
        "backoffFactor": app.backoff_factor,
        "maxLaunchDelaySeconds": _num(app.max_launch_delay_seconds),
        "container": container_json(app.container) if app.container is not None else None,
        "healthChecks": [health_check_json(hc) for hc in app.health_checks],
        "readinessChecks": [
            {"name": r.name, "protocol": r.protocol, "path": r.path, "portName": r.port_name,
             "intervalSeconds": _num(r.interval_seconds), "timeoutSeconds": _num(r.timeout_seconds),
             "httpStatusCodesForReady": r.http_status_codes_for_ready,
             "preserveLastResponse": r.preserve_last_response} for r in app.readiness_checks
        ],
        "dependencies": list(app.dependencies),
        "upgradeStrategy": {"minimumHealthCapacity": app.upgrade_strategy.minimum_health_capacity,
                            "maximumOverCapacity": app.upgrade_strategy.maximum_over_capacity},
        "labels": dict(app.labels),
        "version": app.version,
        "versionInfo": {"lastScalingAt": app.version_info.last_scaling_at if app.version_info else app.version,
                        "lastConfigChangeAt": app.config_version},
        "killSelection": app.kill_selection,
        "unreachableStrategy": unreachable_strategy_json(app.unreachable_strategy),
        "secrets": {k: {"source": s.source} for k, s in app.secrets.items()},
        "ports": app.service_ports,
        "portDefinitions": [
            {"port": pd.port, "protocol": pd.protocol, "labels": dict(pd.labels), **({"name": pd.name} if pd.name else {})}
            for pd in app.port_definitions
        ],
        "requirePorts": app.require_ports,
    }
    if app.accepted_resource_roles is not None:
        out["acceptedResourceRoles"] = list(app.accepted_resource_roles)
    if app.ip_address is not None:
        out["ipAddress"] = app.ip_address
    if app.residency is not None:
        out["residency"] = {"relaunchEscalationTimeoutSeconds": app.residency.relaunch_escalation_timeout_seconds,
                            "taskLostBehavior": app.residency.task_lost_behavior}
    if app.task_kill_grace_period_seconds is not None:
        out["taskKillGracePeriodSeconds"] = _num(app.task_kill_grace_period_seconds)
    return out


class AppJsonCache:
    """Definition JSON per (id, version): thousands of apps render without rebuilding them."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, Json]] = {}

    def get(self, app: AppDefinition) -> Json:
        hit = self._cache.get(app.id)
        if hit is not None and hit[0] == app.version:
            return hit[1]
        built = app_definition_json(app)
        self._cache[app.id] = (app.version, built)
        return built

    def forget(self, app_id: str) -> None:
        self._cache.pop(app_id, None)


@dataclass(frozen=True)
class AppCounts:
    staged: int = 0
    running: int = 0
    healthy: int = 0
    unhealthy: int = 0


def app_json(definition: Json, counts: AppCounts, deployment_ids: Sequence[str], *,
             tasks: list[Json] | None = None, last_failure: Json | None = None,
             task_stats: Json | None = None, readiness: list[Json] | None = None) -> Json:
    out = dict(definition)
    out["tasksStaged"] = counts.staged
    out["tasksRunning"] = counts.running
    out["tasksHealthy"] = counts.healthy
    out["tasksUnhealthy"] = counts.unhealthy
    out["deployments"] = [{"id": d} for d in deployment_ids]
    if tasks is not None:
        out["tasks"] = tasks
    if last_failure is not None:
        out["lastTaskFailure"] = last_failure
    if task_stats is not None:
        out["taskStats"] = task_stats
    if readiness is not None:
        out["readinessCheckResults"] = readiness
    return out


def health_result_json(result: HealthResult, task_id: str) -> Json:
    return {
        "alive": result.alive,
        "consecutiveFailures": result.consecutive_failures,
        "firstSuccess": _time(result.first_success),
        "lastSuccess": _time(result.last_success),
        "lastFailure": _time(result.last_failure),
        "lastFailureCause": result.last_failure_cause,
        "taskId": task_id,
    }


def task_json(instance: Instance, with_health: bool) -> Json:
    return {
        "id": instance.task_id,
        "appId": instance.app_id,
        "host": instance.host,
        "ports": list(instance.ports),
        "servicePorts": list(instance.service_ports),
        "slaveId": instance.agent_id,
        "stagedAt": _time(instance.staged_at),
        "startedAt": _time(instance.started_at),
        "version": instance.version,
        "ipAddresses": [{"ipAddress": ip, "protocol": "IPv4"} for ip in instance.ip_addresses],
        "state": instance.state,
        "healthCheckResults": [health_result_json(r, instance.task_id) for r in instance.health] if with_health else [],
        "localVolumes": [],
    }


def deployment_json(run: DeploymentRun, readiness: Callable[[str], list[Json]] = lambda app_id: []) -> Json:
    """`readiness(app_id)`: the readiness check results of a current action's app."""
    plan = run.plan
    current = run.current_actions()
    return {
        "id": plan.id,
        "version": plan.version,
        "affectedApps": plan.affected_apps,
        "affectedPods": [],
        "steps": steps_json(plan),
        "currentActions": [{"action": a.action, "app": a.app_id, "readinessCheckResults": readiness(a.app_id)}
                           for a in current],
        "currentStep": min(run.step_index + 1, len(plan.steps)),
        "totalSteps": len(plan.steps),
    }


def steps_json(plan: DeploymentPlan) -> list[Json]:
    return [{"actions": [{"action": a.action, "app": a.app_id} for a in step]} for step in plan.steps]


def group_json(group_id: str, apps: Iterable[Json], groups: Iterable[Json], dependencies: Sequence[str],
               version: str) -> Json:
    return {"id": group_id, "apps": list(apps), "groups": list(groups), "dependencies": list(dependencies),
            "version": version}
