"""Readiness checks: a deployment waits until its new instances answer their app's readiness
check with one of `httpStatusCodesForReady`. Pure (the probes themselves run in the shell,
readiness_probes.py).

Marathon's rules (its "Readiness Checks" page and `ReadinessBehavior`): an app has at most one
check; a task is probed once it runs, at once and then every `intervalSeconds`, only while a
deployment step waits for it, and no more once it answered ready. For the step it counts when it
runs, is healthy (if the app has health checks) and is ready; a rolling restart counts only such
new tasks toward capacity, so no old task is killed for a new one that is not ready yet. The new
tasks are those of the app's current configuration staged since its last change (the change
the deployment carries out); older ones counted before and are not waited for. A probe that fails
(refused, timed out) reads as status 504, as in Marathon.

    checks = ReadinessChecks(core)
    decide(app, instances, "RestartApplication", healthy=checks.counts_for_step(app))
    for probe in checks.due_probes(): ...      # shell: GET probe.url within probe.timeout
    checks.probe_answered(probe, 200, "text/plain", "")
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydcos.core.log import get_logger
from pydcos.marathon.app_ports import host_port_index, port_names
from pydcos.marathon.instances import Instance
from pydcos.marathon.model import AppDefinition, format_time

if TYPE_CHECKING:
    from pydcos.marathon.core import MarathonCore

log = get_logger("pydcos.marathon.readiness")
WAITING_ACTIONS = ("ScaleApplication", "RestartApplication")
BODY_LIMIT = 64 * 1024  # of a preserved last response: a check endpoint is not a download


@dataclass(frozen=True, slots=True)
class ReadinessProbe:
    """One GET to run now: `url` within `timeout`; ready when the status is in `ready_codes`."""

    task_id: str
    app_id: str
    name: str
    url: str
    timeout: float
    ready_codes: frozenset[int]
    keep_response: bool


@dataclass(frozen=True, slots=True)
class LastResponse:
    status: int
    content_type: str
    body: str


@dataclass(frozen=True, slots=True)
class ReadinessResult:
    name: str
    task_id: str
    ready: bool
    last_response: LastResponse | None  # only with preserveLastResponse

    def json(self) -> dict[str, Any]:
        """The wire form (Marathon's ReadinessCheckResult: `lastResponse` left out when not kept)."""
        out: dict[str, Any] = {"name": self.name, "taskId": self.task_id, "ready": self.ready}
        if self.last_response is not None:
            r = self.last_response
            out["lastResponse"] = {"status": r.status, "contentType": r.content_type, "body": r.body}
        return out


def awaits_readiness(instance: Instance, app: AppDefinition) -> bool:
    """Whether a deployment of `app` waits for this instance to be ready: the app has a check and the
    instance is of the current configuration, staged since the app's last change.

    >>> from pydcos.marathon.model import ReadinessCheck, VersionInfo, parse_time
    >>> app = AppDefinition(id="/web", readiness_checks=[ReadinessCheck()], version="2016-09-01T12:00:00.000Z")
    >>> new = Instance(task_id="web.1", app_id="/web", version=app.version, config_version=app.version,
    ...                agent_id="a1", host="h", staged_at=parse_time("2016-09-01T12:00:01.000Z"))
    >>> awaits_readiness(new, app), awaits_readiness(new, AppDefinition(id="/web", version=app.version))
    (True, False)
    """
    return (bool(app.readiness_checks) and instance.config_version == app.config_version
            and format_time(instance.staged_at) >= app.version)


def make_probe(app: AppDefinition, instance: Instance) -> ReadinessProbe | None:
    """The probe of the app's (one) readiness check against this instance; None when the instance
    has no host port of that name."""
    check = app.readiness_checks[0]
    index = host_port_index(app, check.port_name)
    if index is None or index >= len(instance.ports):
        return None
    scheme = "https" if check.protocol == "HTTPS" else "http"
    url = f"{scheme}://{instance.host}:{instance.ports[index]}{check.path}"
    return ReadinessProbe(instance.task_id, app.id, check.name, url, check.timeout_seconds,
                          frozenset(check.http_status_codes_for_ready), check.preserve_last_response)


def check_problems(app: AppDefinition) -> list[tuple[str, str]]:
    """(path, error) for every problem with the app's readiness checks (Marathon's rules)."""
    out: list[tuple[str, str]] = []
    if len(app.readiness_checks) > 1:
        out.append(("/readinessChecks", f"got {len(app.readiness_checks)} readiness checks, "
                                        "expected at most one per app"))
    names = [n for n in port_names(app) if n]
    for i, rc in enumerate(app.readiness_checks):
        at = f"/readinessChecks({i})"
        if not rc.name:
            out.append((f"{at}/name", "must not be empty"))
        if not rc.path.startswith("/"):
            out.append((f"{at}/path", "must start with /"))
        if rc.port_name not in names:
            out.append((f"{at}/portName", f"is not one of ({','.join(names)}): name one of the app's ports"))
        elif host_port_index(app, rc.port_name) is None:
            out.append((f"{at}/portName", "names a port mapping without hostPort; readiness is probed on the "
                                          "agent's host port"))
        interval, timeout = rc.interval_seconds, rc.timeout_seconds
        if not (math.isfinite(interval) and interval > 0):
            out.append((f"{at}/intervalSeconds", f"got {interval}, expected more than 0"))
        if not (math.isfinite(timeout) and timeout > 0):
            out.append((f"{at}/timeoutSeconds", f"got {timeout}, expected more than 0"))
        elif math.isfinite(interval) and timeout >= interval:
            out.append((f"{at}/timeoutSeconds", f"got {timeout}, expected less than intervalSeconds ({interval})"))
        if not rc.http_status_codes_for_ready:
            out.append((f"{at}/httpStatusCodesForReady", "must not be empty"))
        for code in rc.http_status_codes_for_ready:
            if not 100 <= code <= 999:
                out.append((f"{at}/httpStatusCodesForReady", f"{code} is not an HTTP status code"))
    return out


class ReadinessChecks:
    """What deployments know about their instances' readiness: the latest result per task and when
    each waiting task is probed next. Changed only through its methods; part of the core."""

    def __init__(self, core: MarathonCore) -> None:
        self.core = core
        self._results: dict[str, ReadinessResult] = {}
        self._next: dict[str, float] = {}  # task id -> when its next probe is due (monotonic)

    def is_ready(self, task_id: str) -> bool:
        result = self._results.get(task_id)
        return result is not None and result.ready

    def counts_for_step(self, app: AppDefinition | None) -> Callable[[Instance], bool]:
        """`healthy` for app_control.decide during a deployment action: healthy, and ready when the
        deployment waits for that instance's readiness."""
        healthy = self.core.healthy
        if app is None or not app.readiness_checks:
            return healthy

        def counts(instance: Instance) -> bool:
            return healthy(instance) and (self.is_ready(instance.task_id) or not awaits_readiness(instance, app))

        return counts

    def due_probes(self) -> list[ReadinessProbe]:
        """The probes to run now: first as soon as a waited-for instance runs, then every interval."""
        now = self.core.clock.monotonic()
        waiting: set[str] = set()
        out: list[ReadinessProbe] = []
        for app in self._waiting_apps():
            interval = app.readiness_checks[0].interval_seconds
            for instance in self.core.instances.of_app(app.id):
                task_id = instance.task_id
                if (not instance.running or instance.killing or self.is_ready(task_id)
                        or not awaits_readiness(instance, app)):
                    continue
                waiting.add(task_id)
                if self._next.get(task_id, now) > now:
                    continue
                self._next[task_id] = now + interval
                probe = make_probe(app, instance)
                if probe is None:
                    log.event("readiness_probe_impossible", task_id=task_id, port_name=app.readiness_checks[0].port_name)
                else:
                    out.append(probe)
        # Probing stops with the deployment; a later one probes at once again. Results go with
        # their instance (whichever way it went: ended, expunged).
        for task_id in self._next.keys() - waiting:
            del self._next[task_id]
        for task_id in [t for t in self._results if t not in self.core.instances]:
            del self._results[task_id]
        return out

    def _waiting_apps(self) -> list[AppDefinition]:
        apps: dict[str, AppDefinition] = {}
        for run in self.core.deployments.runs.values():
            for action in run.current_actions():
                app = self.core.root.apps.get(action.app_id)
                if action.action in WAITING_ACTIONS and app is not None and app.readiness_checks:
                    apps[app.id] = app
        return list(apps.values())

    def probe_answered(self, probe: ReadinessProbe, status: int, content_type: str, body: str) -> None:
        self._record(probe, status in probe.ready_codes, LastResponse(status, content_type, body[:BODY_LIMIT]))

    def probe_failed(self, probe: ReadinessProbe, cause: str) -> None:
        """No answer (refused, reset, timed out): Marathon reports a 504 that is never ready."""
        self._record(probe, False, LastResponse(504, "text/plain", f"Marathon could not query {probe.url}: {cause}"))

    def _record(self, probe: ReadinessProbe, ready: bool, response: LastResponse) -> None:
        instance = self.core.instances.get(probe.task_id)
        if instance is None or instance.terminal or self.is_ready(probe.task_id):
            return  # (ready once is ready: Marathon stops at the first ready answer)
        self._results[probe.task_id] = ReadinessResult(probe.name, probe.task_id, ready,
                                                       response if probe.keep_response else None)
        if ready:
            self._next.pop(probe.task_id, None)
            log.event("task_ready", task_id=probe.task_id, app_id=probe.app_id, status=response.status)
            self.core.touch([probe.app_id])

    def results_json(self, app_id: str) -> list[dict[str, Any]]:
        """The results of the instances a deployment step acting on the app waits for (Marathon shows
        a deployment's results, and only while it runs)."""
        action, _ = self.core.deployments.action_for(app_id)
        app = self.core.root.apps.get(app_id)
        if action is None or app is None or not app.readiness_checks:
            return []
        return [r.json() for i in self.core.instances.of_app(app_id)
                if (r := self._results.get(i.task_id)) is not None and awaits_readiness(i, app)]
