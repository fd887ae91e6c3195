"""Health checks run by Marathon: which probes are due, and what a result means. Pure.

HTTP, HTTPS and TCP probes are run by the shell (health_probes.py) when `due()` names them.
A failure before the first success and within `gracePeriodSeconds` of the start is ignored; once
`maxConsecutiveFailures` failures in a row are counted (0 = never), the instance is to be killed.

COMMAND, MESOS_HTTP, MESOS_HTTPS and MESOS_TCP checks are Mesos's: the first of them travels in
the TaskInfo (task_builder.py), the agent runs it and says `healthy: true|false` in a status
update when the task's health changes; `record_mesos` takes that as the check's result. The agent
has applied the grace period already and kills the task itself after its failures, so Marathon
neither filters nor kills for these; the TASK_KILLED that follows is replaced like any failure.

>>> from pydcos.marathon.model import HealthCheck
>>> hc = HealthCheck(protocol="TCP", grace_period_seconds=0, max_consecutive_failures=2)
>>> r = HealthResult()
>>> [record(r, hc, ok=False, cause="refused", now=t, started_at=0.0).kill for t in (1.0, 2.0)]
[False, True]
"""

from __future__ import annotations

from dataclasses import dataclass

from pydcos.marathon.instances import HealthResult, Instance
from pydcos.marathon.model import AppDefinition, HealthCheck
from pydcos.mesos.v1 import messages as v1

PROBED = ("HTTP", "HTTPS", "TCP")
MESOS_PROTOCOLS = ("COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP")
HEALTH_REASON = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"


@dataclass(frozen=True, slots=True)
class Probe:
    """One probe to run now: connect to host:port (and GET path for HTTP/HTTPS)."""

    task_id: str
    index: int
    protocol: str
    host: str
    port: int
    path: str
    timeout: float
    ignore_http1xx: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    changed: bool  # `alive` flipped
    failed: bool  # this result counts as a failure (not ignored in the grace period)
    kill: bool


def probe_port(hc: HealthCheck, host_ports: list[int]) -> int | None:
    """The fixed `port`, else the host port the task got for `portIndex` (default 0).

    >>> probe_port(HealthCheck(port_index=1), [31000, 31001]), probe_port(HealthCheck(port=80), [31000])
    (31001, 80)
    """
    if hc.port is not None:
        return hc.port
    index = hc.port_index if hc.port_index is not None else 0
    if 0 <= index < len(host_ports):
        return host_ports[index]
    return None


def mesos_check_index(app: AppDefinition) -> int | None:
    """Which of the app's checks the agent runs (the first of Mesos's kinds), if any."""
    return next((i for i, hc in enumerate(app.health_checks) if hc.protocol in MESOS_PROTOCOLS), None)


def make_probe(app: AppDefinition, index: int, instance: Instance) -> Probe | None:
    hc = app.health_checks[index]
    port = probe_port(hc, instance.ports)
    if hc.protocol not in PROBED or port is None:
        return None
    return Probe(instance.task_id, index, hc.protocol, instance.host, port, hc.path or "/",
                 hc.timeout_seconds, hc.ignore_http1xx)


def ensure_results(instance: Instance, app: AppDefinition) -> None:
    while len(instance.health) < len(app.health_checks):
        instance.health.append(HealthResult())
    del instance.health[len(app.health_checks):]


def record(result: HealthResult, hc: HealthCheck, *, ok: bool, cause: str, now: float,
           started_at: float | None) -> Outcome:
    """Fold one probe result into `result`."""
    if not ok:
        in_grace = result.first_success is None and (started_at is None or now - started_at < hc.grace_period_seconds)
        if in_grace:
            return Outcome(changed=False, failed=False, kill=False)
    outcome = record_reported(result, ok=ok, cause=cause, now=now)
    kill = not ok and 0 < hc.max_consecutive_failures <= result.consecutive_failures
    return Outcome(changed=outcome.changed, failed=outcome.failed, kill=kill)


def record_reported(result: HealthResult, *, ok: bool, cause: str, now: float) -> Outcome:
    """Fold in a result past any grace period; deciding a kill is the caller's (the agent's for
    the checks it runs)."""
    was = result.alive
    if ok:
        result.alive = True
        result.consecutive_failures = 0
        result.last_success = now
        if result.first_success is None:
            result.first_success = now
        return Outcome(changed=not was, failed=False, kill=False)
    result.alive = False
    result.consecutive_failures += 1
    result.last_failure = now
    result.last_failure_cause = cause
    return Outcome(changed=was, failed=True, kill=False)


def reported_cause(status: v1.TaskStatus) -> str:
    """Why the agent found the task unhealthy: the message of its health update ("" for other
    updates that repeat the flag, such as reconciliation's "Latest task state")."""
    return status.message or "" if status.reason == HEALTH_REASON else ""


def record_mesos(instance: Instance, app: AppDefinition, healthy: bool, now: float,
                 cause: str = "") -> list[tuple[int, Outcome]]:
    """A status update's `healthy` flag, applied to the check the agent runs. Without a cause of
    its own a failure keeps the one reported before."""
    index = mesos_check_index(app)
    if index is None:
        return []
    ensure_results(instance, app)
    result = instance.health[index]
    why = cause or result.last_failure_cause or f"{app.health_checks[index].protocol} health check failed"
    return [(index, record_reported(result, ok=healthy, cause=why, now=now))]


def is_healthy(instance: Instance, app: AppDefinition | None) -> bool:
    """Running, and every health check of its app alive (no checks: running is enough)."""
    if not instance.running:
        return False
    if app is None or not app.health_checks:
        return True
    if len(instance.health) < len(app.health_checks):
        return False
    return all(r.alive for r in instance.health[: len(app.health_checks)])


def is_unhealthy(instance: Instance, app: AppDefinition | None) -> bool:
    """Running with a health check that has failed since its last success."""
    if not instance.running or app is None or not app.health_checks:
        return False
    return any(not r.alive and r.last_failure is not None for r in instance.health)


class HealthSchedule:
    """When each (task, check) is next due. Changed only through its methods."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, int], float] = {}

    def due(self, now: float, instances: list[tuple[Instance, AppDefinition]]) -> list[Probe]:
        probes = []
        for instance, app in instances:
            if not instance.running or instance.killing:
                continue
            ensure_results(instance, app)
            for i, hc in enumerate(app.health_checks):
                if hc.protocol not in PROBED:
                    continue
                key = (instance.task_id, i)
                at = self._next.get(key)
                if at is None:
                    # first probe right away, then every interval
                    at = now
                if at <= now:
                    self._next[key] = now + hc.interval_seconds
                    probe = make_probe(app, i, instance)
                    if probe is not None:
                        probes.append(probe)
        return probes

    def next_due(self) -> float | None:
        return min(self._next.values(), default=None)

    def forget(self, task_id: str) -> None:
        for key in [k for k in self._next if k[0] == task_id]:
            del self._next[key]
