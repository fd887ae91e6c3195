"""App validation: every problem with the JSON path it concerns. Pure; never raises on bad input.

>>> [p.path for p in validate_app(AppDefinition(id="/web", cmd="x", cpus=0))]
['/cpus']
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

import msgspec

from pydcos.marathon import constraints as cons
from pydcos.marathon import ids
from pydcos.marathon.app_ports import mapping_problems, port_names
from pydcos.marathon.errors import Problem
from pydcos.marathon.health import MESOS_PROTOCOLS
from pydcos.marathon.model import AppDefinition, HealthCheck
from pydcos.marathon.readiness import check_problems as readiness_problems

_PORT_NAME = re.compile(r"^[a-z0-9-]+$")
_ROLE = re.compile(r"^[^/\s.-][^/\s]*$")
_PROTOCOLS = ("tcp", "udp", "udp,tcp", "tcp,udp")
MAX_INSTANCES = 1_000_000
_WIRE_PATH = re.compile(r"\[(\d+)\]")


def problem_from_decode_error(exc: msgspec.ValidationError) -> Problem:
    """msgspec's "Expected `int`, got `str` - at `$.instances`" as Marathon's path form."""
    text = str(exc)
    message, sep, where = text.rpartition(" - at `")
    if not sep:
        return Problem("/", (text,))
    path = where.rstrip("`").removeprefix("$").replace("[...]", "")
    path = _WIRE_PATH.sub(lambda m: f"({m.group(1)})", path).replace(".", "/")
    return Problem(path or "/", (message.replace("`", ""),))


class _Collector:
    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.found: dict[str, list[str]] = defaultdict(list)

    def add(self, path: str, error: str) -> None:
        self.found[self.prefix + path].append(error)

    def check(self, ok: bool, path: str, error: str) -> None:
        if not ok:
            self.add(path, error)

    def problems(self) -> list[Problem]:
        return [Problem(path, tuple(errors)) for path, errors in self.found.items()]


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def _check_resources(app: AppDefinition, c: _Collector) -> None:
    c.check(_finite(app.cpus) and app.cpus > 0, "/cpus", f"got {app.cpus}, expected more than 0")
    c.check(_finite(app.mem) and app.mem >= 0, "/mem", f"got {app.mem}, expected 0.0 or more")
    c.check(_finite(app.disk) and app.disk >= 0, "/disk", f"got {app.disk}, expected 0.0 or more")
    c.check(app.gpus >= 0, "/gpus", f"got {app.gpus}, expected 0 or more")
    c.check(0 <= app.instances <= MAX_INSTANCES, "/instances",
            f"got {app.instances}, expected 0 or more (at most {MAX_INSTANCES})")


def _check_command(app: AppDefinition, c: _Collector) -> None:
    has_image = app.container is not None and app.container.docker is not None and bool(app.container.docker.image)
    if app.cmd is not None and app.args is not None:
        c.add("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")
    elif app.cmd is None and app.args is None and not has_image:
        c.add("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")
    if app.cmd is not None:
        c.check(bool(app.cmd.strip()), "/cmd", "must not be empty")
    if app.container is not None and app.container.type == "DOCKER":
        c.check(app.container.docker is not None and bool(app.container.docker.image), "/container/docker/image",
                "must not be empty")
    if app.user is not None:
        c.check(bool(app.user) and not any(ch.isspace() for ch in app.user), "/user", "must be a user name")


def _check_ports(app: AppDefinition, c: _Collector) -> None:
    seen_ports: set[int] = set()
    seen_names: set[str] = set()
    for i, pd in enumerate(app.port_definitions):
        at = f"/portDefinitions({i})"
        c.check(0 <= pd.port <= 65535, f"{at}/port", f"got {pd.port}, expected between 0 and 65535")
        if pd.port != 0:
            c.check(pd.port not in seen_ports, f"{at}/port", "Ports must be unique.")
            seen_ports.add(pd.port)
        c.check(pd.protocol in _PROTOCOLS, f"{at}/protocol", "is not one of (tcp,udp,udp,tcp)")
        if pd.name is not None:
            c.check(bool(_PORT_NAME.match(pd.name)), f"{at}/name", "must match ^[a-z0-9-]+$")
            c.check(pd.name not in seen_names, f"{at}/name", "Port names must be unique.")
            seen_names.add(pd.name)
    if app.require_ports:
        c.check(all(p.port != 0 for p in app.port_definitions), "/requirePorts",
                "requirePorts needs every port to be given (not 0)")


def _check_health_check(app: AppDefinition, i: int, hc: HealthCheck, c: _Collector) -> None:
    at = f"/healthChecks({i})"
    for name, value in (("gracePeriodSeconds", hc.grace_period_seconds), ("intervalSeconds", hc.interval_seconds),
                        ("timeoutSeconds", hc.timeout_seconds)):
        c.check(_finite(value) and value >= 0, f"{at}/{name}", f"got {value}, expected 0 or more")
    c.check(_finite(hc.interval_seconds) and hc.interval_seconds > 0, f"{at}/intervalSeconds",
            "must be more than 0")
    c.check(_finite(hc.timeout_seconds) and hc.timeout_seconds > 0, f"{at}/timeoutSeconds", "must be more than 0")
    c.check(hc.max_consecutive_failures >= 0, f"{at}/maxConsecutiveFailures", "must be 0 or more")
    if hc.protocol in MESOS_PROTOCOLS and any(h.protocol in MESOS_PROTOCOLS for h in app.health_checks[:i]):
        c.add(f"{at}/protocol", "AppDefinition can contain at most one Mesos health check")  # one per TaskInfo
    if hc.protocol in ("COMMAND",):
        c.check(bool(hc.command_text()), f"{at}/command", "Health check of protocol COMMAND needs a command")
        return
    if hc.port is not None:
        c.check(0 < hc.port <= 65535, f"{at}/port", "must be between 1 and 65535")
        c.check(hc.port_index is None, f"{at}/port", "give either port or portIndex, not both")
    else:
        index = hc.port_index if hc.port_index is not None else 0
        ports = len(port_names(app))  # Docker port mappings, when given, are the app's ports
        c.check(0 <= index < ports, f"{at}/portIndex",
                f"Health check port index {index} must map to a port of the app ({ports} ports)")
    if hc.path is not None and hc.protocol in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
        c.check(hc.path.startswith("/"), f"{at}/path", "must start with /")


def _check_policies(app: AppDefinition, c: _Collector) -> None:
    us = app.upgrade_strategy
    c.check(_finite(us.minimum_health_capacity) and 0 <= us.minimum_health_capacity <= 1,
            "/upgradeStrategy/minimumHealthCapacity", "is greater than 1 or less than 0")
    c.check(_finite(us.maximum_over_capacity) and 0 <= us.maximum_over_capacity <= 1,
            "/upgradeStrategy/maximumOverCapacity", "is greater than 1 or less than 0")
    c.check(_finite(app.backoff_seconds) and app.backoff_seconds >= 0, "/backoffSeconds", "must be 0 or more")
    c.check(_finite(app.backoff_factor) and app.backoff_factor >= 1.0, "/backoffFactor", "must be 1.0 or more")
    c.check(_finite(app.max_launch_delay_seconds) and app.max_launch_delay_seconds >= 0,
            "/maxLaunchDelaySeconds", "must be 0 or more")
    if app.task_kill_grace_period_seconds is not None:
        c.check(_finite(app.task_kill_grace_period_seconds) and app.task_kill_grace_period_seconds >= 0,
                "/taskKillGracePeriodSeconds", "must be 0 or more")
    if app.accepted_resource_roles is not None:
        c.check(bool(app.accepted_resource_roles), "/acceptedResourceRoles",
                "must not be empty; leave it out to accept the default role")
        for i, role in enumerate(app.accepted_resource_roles):
            c.check(role == "*" or bool(_ROLE.match(role)), f"/acceptedResourceRoles({i})", f"invalid role {role!r}")


def _check_unreachable(app: AppDefinition, c: _Collector) -> None:
    strategy = app.unreachable_strategy
    if isinstance(strategy, str):
        return  # "disabled": the decoder lets no other string through
    inactive, expunge = strategy.inactive_after_seconds, strategy.expunge_after_seconds
    c.check(inactive >= 0, "/unreachableStrategy/inactiveAfterSeconds", f"got {inactive}, expected 0 or more")
    c.check(expunge >= 0, "/unreachableStrategy/expungeAfterSeconds", f"got {expunge}, expected 0 or more")
    c.check(inactive <= expunge or expunge < 0, "/unreachableStrategy/inactiveAfterSeconds",
            f"inactiveAfterSeconds ({inactive}) must be less than or equal to expungeAfterSeconds ({expunge})")


def _check_references(app: AppDefinition, c: _Collector) -> None:
    for i, constraint in enumerate(app.constraints):
        if (why := cons.problem(constraint)) is not None:
            c.add(f"/constraints({i})", why)
    for i, dep in enumerate(app.dependencies):
        c.check(ids.is_valid(dep), f"/dependencies({i})", ids.SEGMENT_RULE)
    for i, fetch in enumerate(app.fetch):
        c.check(bool(fetch.uri.strip()), f"/fetch({i})/uri", "must not be empty")
    for name in app.env:
        c.check(bool(name) and "=" not in name and "\0" not in name, "/env", f"invalid variable name {name!r}")
    for name in app.labels:
        c.check(bool(name), "/labels", "label names must not be empty")


def validate_app(app: AppDefinition, prefix: str = "") -> list[Problem]:
    """Every problem with `app` on its own (the tree checks are in groups.py)."""
    c = _Collector(prefix)
    c.check(app.id not in ("", "/"), "/id", "must not be the root group")
    _check_resources(app, c)
    _check_command(app, c)
    _check_ports(app, c)
    for i, hc in enumerate(app.health_checks):
        _check_health_check(app, i, hc, c)
    _check_policies(app, c)
    _check_unreachable(app, c)
    _check_references(app, c)
    for path, error in [*mapping_problems(app), *readiness_problems(app)]:
        c.add(path, error)
    return c.problems()


def id_problem(raw: str, base: str = ids.ROOT, path: str = "/id") -> tuple[str | None, list[Problem]]:
    """The canonical id, or the problem with it."""
    try:
        return ids.canonical(raw, base), []
    except ids.BadId:
        return None, [Problem(path, (ids.SEGMENT_RULE,))]
