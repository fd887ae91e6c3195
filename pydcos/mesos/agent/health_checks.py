"""A command task's Mesos health check: what it asks for, and what each result means. Pure.

The agent plays Mesos's command executor, so it also runs the task's `health_check` (a Mesos
`HealthCheck`: COMMAND, HTTP or TCP). `parse_health_check` validates the check as Mesos does
(a bad one makes the task a TASK_ERROR); `HealthState` folds results into what to tell the
framework. The IO lives in health_runner.py.

    launch ─ delay_seconds ─> check ─ interval_seconds ─> check ─ ...   (each bounded by timeout_seconds)

- A passing check after none or after failures: report `healthy: true`.
- A failing check before the first success and within `grace_period_seconds` of the start is
  ignored (the task is still starting). Any other failure counts: the first after a success (or the
  first counted at all) reports `healthy: false`; the `consecutive_failures`-th in a row kills the task.
- Only changes are reported, so a steady task sends one update, not one per interval.

>>> state = HealthState(max_failures=2, grace_s=10.0, started_at=0.0)
>>> state.handle(CheckResult(ok=False, at=5.0, message="refused"))      # in the grace period
[]
>>> state.handle(CheckResult(ok=True, at=6.0))
[ReportHealth(healthy=True, message='')]
>>> state.handle(CheckResult(ok=False, at=7.0, message="refused"))
[ReportHealth(healthy=False, message='refused')]
>>> state.handle(CheckResult(ok=False, at=8.0, message="refused"))
[KillTask(message='refused')]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from pydcos.mesos.agent.environment import overlay_command_environment
from pydcos.mesos.agent.errors import InvalidTask
from pydcos.mesos.v1.messages import CommandInfo, TaskStatus

CheckType = Literal["COMMAND", "HTTP", "TCP"]
_KINDS: dict[str, CheckType] = {"COMMAND": "COMMAND", "HTTP": "HTTP", "TCP": "TCP"}
MAX_UINT32 = 2**32 - 1
# The prefix Mesos's master puts before a health check's validation error.
INVALID_PREFIX = "Task uses invalid health check: "


class HttpCheckInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    port: int
    scheme: str | None = None
    path: str | None = None
    statuses: list[int] = []
    protocol: str = "IPv4"


class TcpCheckInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    port: int
    protocol: str = "IPv4"


class HealthCheckSpec(msgspec.Struct, frozen=True, omit_defaults=True):
    """Mesos's `HealthCheck` message in its JSON form, with the protobuf defaults."""

    type: str | None = None
    command: CommandInfo | None = None
    http: HttpCheckInfo | None = None
    tcp: TcpCheckInfo | None = None
    delay_seconds: float = 15.0
    interval_seconds: float = 10.0
    timeout_seconds: float = 20.0
    consecutive_failures: int = 3
    grace_period_seconds: float = 10.0

    @property
    def kind(self) -> CheckType:
        """The check's type; a Mesos 1.0 check (no `type`, only `command`) is a COMMAND check."""
        return _KINDS[self.type or "COMMAND"]


def parse_health_check(raw: dict[str, Any]) -> HealthCheckSpec:
    """The task's `health_check` as a spec, or InvalidTask with Mesos's message.

    >>> parse_health_check({"type": "TCP", "tcp": {"port": 8080}}).tcp.port
    8080
    >>> parse_health_check({"type": "HTTP", "http": {"port": 80, "path": "health"}})
    Traceback (most recent call last):
    ...
    pydcos.mesos.agent.errors.InvalidTask: Task uses invalid health check: The path 'health' of HTTP health check must start with '/'
    """
    try:
        spec = msgspec.convert(raw, HealthCheckSpec)
    except msgspec.ValidationError as exc:
        raise InvalidTask(INVALID_PREFIX + str(exc)) from None
    problem = health_check_problem(spec)
    if problem is not None:
        raise InvalidTask(INVALID_PREFIX + problem)
    return spec


def health_check_problem(spec: HealthCheckSpec) -> str | None:
    """What Mesos's `validation::healthCheck` would say (plus the numeric bounds a process needs)."""
    kind = spec.type
    if kind is None:
        if spec.command is None:
            return "HealthCheck must specify 'type'"
        kind = "COMMAND"
    if kind == "COMMAND":
        command = spec.command
        if command is None:
            return "Expecting 'command' to be set for command health check"
        if not command.value:
            return "Command health check must contain " + ("'shell command'" if command.shell else "'executable path'")
        if "\0" in command.value or any("\0" in a for a in command.arguments):
            return "Command health check contains a NUL byte"
    elif kind == "HTTP":
        http = spec.http
        if http is None:
            return "Expecting 'http' to be set for HTTP health check"
        if http.scheme is not None and http.scheme not in ("http", "https"):
            return f"Unsupported HTTP health check scheme: '{http.scheme}'"
        if http.path is not None and not http.path.startswith("/"):
            return f"The path '{http.path}' of HTTP health check must start with '/'"
        if http.path is not None and any(c.isspace() or ord(c) < 32 for c in http.path):
            return f"The path '{http.path}' of HTTP health check contains whitespace or control characters"
        if problem := _port_problem("HTTP", http.port, http.protocol):
            return problem
    elif kind == "TCP":
        if spec.tcp is None:
            return "Expecting 'tcp' to be set for TCP health check"
        if problem := _port_problem("TCP", spec.tcp.port, spec.tcp.protocol):
            return problem
    else:
        return f"Unsupported health check type: '{kind}'"
    for name in ("delay_seconds", "interval_seconds", "timeout_seconds", "grace_period_seconds"):
        value = getattr(spec, name)
        if not math.isfinite(value) or value < 0:
            return f"Expecting '{name}' to be non-negative"
    if not 0 <= spec.consecutive_failures <= MAX_UINT32:
        return "Expecting 'consecutive_failures' to be an unsigned 32-bit integer"
    return None


def _port_problem(kind: str, port: int, protocol: str) -> str | None:
    if not 0 < port <= 65535:
        return f"The port {port} of {kind} health check is not between 1 and 65535"
    if protocol not in ("IPv4", "IPv6"):
        return f"Unsupported {kind} health check protocol: '{protocol}'"
    return None


# --- what a check runs against --------------------------------------------------------------


def check_host(agent_ip: str, protocol: str = "IPv4") -> str:
    """Where HTTP and TCP checks connect. Mesos uses 127.0.0.1 inside the task's network namespace;
    here tasks share the agent's network and are told its address (`HOST`, `LIBPROCESS_IP`), and
    bind it rather than every address (several agents may share a machine), so the check goes there.

    >>> check_host("127.0.1.2"), check_host("0.0.0.0"), check_host("10.0.0.2", "IPv6")
    ('127.0.1.2', '127.0.0.1', '::1')
    """
    if protocol == "IPv6":
        return agent_ip if ":" in agent_ip and agent_ip != "::" else "::1"
    if agent_ip in ("", "0.0.0.0") or ":" in agent_ip:
        return "127.0.0.1"
    return agent_ip


def http_url(http: HttpCheckInfo, host: str) -> str:
    """The URL an HTTP check GETs (path `/` when none is given).

    >>> http_url(HttpCheckInfo(port=80, path="/ping"), "::1")
    'http://[::1]:80/ping'
    """
    literal = f"[{host}]" if ":" in host else host
    return f"{http.scheme or 'http'}://{literal}:{http.port}{http.path or '/'}"


def http_status_ok(http: HttpCheckInfo, status: int) -> bool:
    """The listed `statuses`, or any 2xx or 3xx when none are listed (as Mesos's curl check)."""
    if http.statuses:
        return status in http.statuses
    return 200 <= status < 400


def check_environment(task_env: dict[str, str], command: CommandInfo) -> dict[str, str]:
    """The task's environment with the check command's own variables over it (same rules as tasks).

    >>> from pydcos.mesos.v1.messages import Environment, EnvironmentVariable
    >>> c = CommandInfo(value="true", environment=Environment([EnvironmentVariable("A", "2")]))
    >>> check_environment({"A": "1", "B": "1"}, c)
    {'A': '2', 'B': '1'}
    """
    env = dict(task_env)
    overlay_command_environment(env, command)
    return env


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    at: float  # monotonic seconds
    message: str = ""  # why it failed


@dataclass(frozen=True, slots=True)
class ReportHealth:
    """Send TASK_RUNNING with `healthy` (reason REASON_TASK_HEALTH_CHECK_STATUS_UPDATED)."""

    healthy: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class KillTask:
    """Kill the task; its terminal update carries `healthy: false`."""

    message: str


Instruction = ReportHealth | KillTask


class HealthState:
    """One task's health as its checks found it. Changed only through `handle()`.

    `reported` is the last `healthy` sent (None: nothing yet); after a KillTask nothing more comes.
    """

    def __init__(self, *, max_failures: int, grace_s: float, started_at: float, reported: bool | None = None,
                 succeeded: bool = False) -> None:
        self.max_failures = max_failures
        self.grace_s = grace_s
        self.started_at = started_at
        self.reported = reported
        self.succeeded = succeeded  # a check has passed once: the grace period is over for good
        self.failures = 0  # consecutive counted failures
        self.killed = False

    @classmethod
    def for_spec(cls, spec: HealthCheckSpec, started_at: float, *, reported: bool | None = None) -> HealthState:
        """A fresh state; a task re-attached after an agent restart passes the last `healthy` it
        reported, so the same value is not sent again and a task once healthy gets no new grace."""
        return cls(max_failures=spec.consecutive_failures, grace_s=spec.grace_period_seconds, started_at=started_at,
                   reported=reported, succeeded=reported is not None)

    def in_grace(self, at: float) -> bool:
        return not self.succeeded and self.grace_s > 0 and at - self.started_at <= self.grace_s

    def handle(self, result: CheckResult) -> list[Instruction]:
        if self.killed:
            return []
        if result.ok:
            self.failures = 0
            self.succeeded = True
            return self._report(True, "")
        if self.in_grace(result.at):
            return []
        self.failures += 1
        out = self._report(False, result.message)
        if self.failures >= self.max_failures:
            self.killed = True
            out.append(KillTask(result.message))
        return out

    def _report(self, healthy: bool, message: str) -> list[Instruction]:
        if self.reported is healthy:
            return []
        self.reported = healthy
        return [ReportHealth(healthy, message)]


def last_reported_health(statuses: list[TaskStatus]) -> bool | None:
    """The `healthy` of the latest status that carried one (statuses oldest first)."""
    for status in reversed(statuses):
        if status.healthy is not None:
            return status.healthy
    return None
