"""What the router needs to know about the cluster, built from the masters' and Marathon's answers. Pure.

    /master/state-summary ──agents_from_summary──►  AgentRoute(id, address)      /slave/ID/, /agent/ID/
                          ──framework_services──►   ServiceRoute(name, ...)      /service/NAME/
    /v2/apps?embed=apps.tasks ──app_services──►     ServiceRoute(name, ...)

Everything that ends up inside nginx.conf passes a strict check here first (ids, names, hosts,
ports, paths), so nothing a framework or an app declares can inject configuration: entries that
fail are left out and reported as problems.

>>> summary = {"slaves": [{"id": "a-S0", "pid": "slave(1)@10.0.0.2:5051"}], "frameworks": []}
>>> agents_from_summary(summary)[0]
[AgentRoute(id='a-S0', address='10.0.0.2:5051')]
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

Scheme = Literal["http", "https"]

# The ids Mesos makes (`<uuid>-S3`), and service names: conservative on purpose, as both are
# written into nginx.conf.
AGENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
SERVICE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_RE = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*$")
URL_PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]*$")
_PID_RE = re.compile(r"^[^@]+@([^:@]+):(\d{1,5})$")
# Words nginx's `map` treats as directives: never an agent id.
MAP_KEYWORDS = frozenset({"default", "hostnames", "include", "volatile"})
# Served by the router itself: never taken by a framework or an app.
RESERVED_SERVICES = frozenset({"marathon"})


class AgentRoute(msgspec.Struct, frozen=True, order=True):
    id: str
    address: str  # ip:port


class ServiceRoute(msgspec.Struct, frozen=True, order=True):
    name: str
    scheme: Scheme
    servers: tuple[str, ...]  # host:port, sorted
    path: str  # the upstream path `/service/NAME/` maps to; starts and ends with "/"
    source: Literal["app", "framework"]

    @property
    def static(self) -> bool:
        """Every server is an IPv4 literal: an nginx upstream block; otherwise resolved per request."""
        return all(is_ipv4(s.rpartition(":")[0]) for s in self.servers)


class ClusterView(msgspec.Struct, frozen=True):
    """The dynamic part of the router's configuration. Two equal views render the same file."""

    agents: tuple[AgentRoute, ...] = ()
    services: tuple[ServiceRoute, ...] = ()


# --- the inputs, decoded leniently (only the fields we read) ---------------------------------


class _Agent(msgspec.Struct):
    id: str = ""
    pid: str = ""


class _Framework(msgspec.Struct):
    name: str = ""
    webui_url: str | None = ""
    active: bool = True


class StateSummary(msgspec.Struct):
    slaves: list[_Agent] = msgspec.field(default_factory=list)
    frameworks: list[_Framework] = msgspec.field(default_factory=list)


class _Task(msgspec.Struct, rename="camel"):
    host: str = ""
    ports: list[int] = msgspec.field(default_factory=list)
    state: str = "TASK_RUNNING"


class _App(msgspec.Struct, rename="camel"):
    id: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    tasks: list[_Task] = msgspec.field(default_factory=list)


class AppList(msgspec.Struct):
    apps: list[_App] = msgspec.field(default_factory=list)


SUMMARY_DECODER = msgspec.json.Decoder(StateSummary)
APPS_DECODER = msgspec.json.Decoder(AppList)


# --- checks ----------------------------------------------------------------------------------


def is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def valid_host(host: str) -> bool:
    return is_ipv4(host) or (len(host) <= 253 and HOSTNAME_RE.match(host) is not None)


def _address(host: str, port: int) -> str | None:
    return f"{host}:{port}" if valid_host(host) and 0 < port < 65536 else None


def agent_address(pid: str) -> str | None:
    """`slave(1)@10.0.0.2:5051` -> `10.0.0.2:5051`; None for anything else."""
    match = _PID_RE.match(pid)
    return _address(match.group(1), int(match.group(2))) if match else None


def webui_route(name: str, url: str) -> ServiceRoute | None:
    """A framework's `webui_url` as a route, or None when it is empty or not a plain http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return None
    if parts.username or parts.password:
        return None
    default_port = 443 if parts.scheme == "https" else 80
    address = _address(parts.hostname, default_port if port is None else port)
    path = parts.path or "/"
    if address is None or URL_PATH_RE.match(path) is None or "/../" in path + "/" or "//" in path:
        return None
    scheme: Scheme = "https" if parts.scheme == "https" else "http"
    return ServiceRoute(name, scheme, (address,), path if path.endswith("/") else path + "/", "framework")


# --- building the view -----------------------------------------------------------------------


def agents_from_summary(summary: Any) -> tuple[list[AgentRoute], list[str]]:
    """Agents of a decoded `/master/state-summary` (a dict) and the problems with the rest."""
    parsed = msgspec.convert(summary, StateSummary)
    return _agents(parsed)


def _agents(summary: StateSummary) -> tuple[list[AgentRoute], list[str]]:
    routes: dict[str, AgentRoute] = {}
    problems: list[str] = []
    for agent in summary.slaves:
        address = agent_address(agent.pid)
        if AGENT_ID_RE.match(agent.id) is None or agent.id in MAP_KEYWORDS or address is None:
            problems.append(f"agent {agent.id[:80]!r} with pid {agent.pid[:80]!r} left out")
            continue
        routes[agent.id] = AgentRoute(agent.id, address)
    return sorted(routes.values()), problems


def framework_services(summary: StateSummary) -> tuple[list[ServiceRoute], list[str]]:
    routes: list[ServiceRoute] = []
    problems: list[str] = []
    for fw in summary.frameworks:
        if not fw.active or not fw.webui_url:
            continue
        route = webui_route(fw.name, fw.webui_url) if SERVICE_NAME_RE.match(fw.name) else None
        if route is None:
            problems.append(f"framework {fw.name[:80]!r} with webui_url {fw.webui_url[:120]!r} left out")
            continue
        routes.append(route)
    return routes, problems


def app_services(apps: AppList) -> tuple[list[ServiceRoute], list[str]]:
    """Apps labelled `DCOS_SERVICE_NAME`: their running tasks' port `DCOS_SERVICE_PORT_INDEX`
    (default 0), spoken to in `DCOS_SERVICE_SCHEME` (default http)."""
    routes: list[ServiceRoute] = []
    problems: list[str] = []
    for app in apps.apps:
        name = app.labels.get("DCOS_SERVICE_NAME")
        if name is None:
            continue
        index_label = app.labels.get("DCOS_SERVICE_PORT_INDEX", "0")
        scheme_label = app.labels.get("DCOS_SERVICE_SCHEME", "http").lower()
        if SERVICE_NAME_RE.match(name) is None or not index_label.isdigit() or scheme_label not in ("http", "https"):
            problems.append(f"app {app.id[:80]!r}: bad DCOS_SERVICE_* labels, left out")
            continue
        index = int(index_label)
        servers = sorted({
            address
            for task in app.tasks
            if task.state == "TASK_RUNNING" and index < len(task.ports)
            for address in [_address(task.host, task.ports[index])]
            if address is not None
        })
        if not servers:
            continue  # nothing running yet: /service/NAME/ stays 404 until a task runs
        scheme: Scheme = "https" if scheme_label == "https" else "http"
        if not all(is_ipv4(s.rpartition(":")[0]) for s in servers):
            servers = servers[:1]  # resolved per request: one server
        routes.append(ServiceRoute(name, scheme, tuple(servers), "/", "app"))
    return routes, problems


def merge_services(*groups: Iterable[ServiceRoute]) -> list[ServiceRoute]:
    """One route per name: the first group that names it wins (apps before frameworks, as in
    DC/OS); names the router serves itself are never taken."""
    chosen: dict[str, ServiceRoute] = {}
    for group in groups:
        for route in group:
            if route.name not in RESERVED_SERVICES:
                chosen.setdefault(route.name, route)
    return sorted(chosen.values())


def build_view(summary: StateSummary | None, apps: AppList | None, previous: ClusterView) -> tuple[ClusterView, list[str]]:
    """The view from the latest answers. An input that is None (its source did not answer) keeps
    what the previous view had from it, so a passing outage never drops routes."""
    problems: list[str] = []
    if summary is not None:
        agents, found = _agents(summary)
        problems += found
        frameworks, found = framework_services(summary)
        problems += found
    else:
        agents = list(previous.agents)
        frameworks = [s for s in previous.services if s.source == "framework"]
    if apps is not None:
        app_routes, found = app_services(apps)
        problems += found
    else:
        app_routes = [s for s in previous.services if s.source == "app"]
    return ClusterView(agents=tuple(agents), services=tuple(merge_services(app_routes, frameworks))), problems
