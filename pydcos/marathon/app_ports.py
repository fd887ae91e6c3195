"""An app's ports, whichever way they are declared: `portDefinitions`, or Docker's
`container.docker.portMappings`. Pure.

As in Marathon 1.3, an app with Docker port mappings takes its service ports, its host ports and
its port names from the mappings: a mapping's `hostPort` 0 is any port of the offer, a given one
exactly that port, and `null` no host port at all (the container's own address is used). Without
mappings the port definitions rule: their `port` is the service port, and host ports come from
the offer (exactly the given ones with `requirePorts`).

>>> from pydcos.marathon.model import Container, Docker, PortMapping
>>> app = AppDefinition(id="/web", container=Container(docker=Docker(image="nginx", network="BRIDGE",
...     port_mappings=[PortMapping(container_port=80, name="http"), PortMapping(container_port=9000, host_port=9000)])))
>>> host_port_requests(app), port_names(app), service_ports_wanted(app)
([0, 9000], ['http', None], [0, 0])
"""

from __future__ import annotations

import re

from pydcos.marathon.model import AppDefinition, PortMapping

_PORT_NAME = re.compile(r"^[a-z0-9-]+$")
_PROTOCOLS = ("tcp", "udp", "udp,tcp", "tcp,udp")
MAPPINGS_PATH = "/container/docker/portMappings"


def port_mappings(app: AppDefinition) -> list[PortMapping]:
    """The Docker port mappings that decide the app's ports (empty: the port definitions do)."""
    container = app.container
    if container is None or container.docker is None:
        return []
    return list(container.docker.port_mappings or [])


def service_ports_wanted(app: AppDefinition) -> list[int]:
    """The service ports as asked for, one per port; 0 = to be assigned."""
    mappings = port_mappings(app)
    if mappings:
        return [pm.service_port for pm in mappings]
    return [pd.port for pd in app.port_definitions]


def host_port_requests(app: AppDefinition) -> list[int]:
    """One entry per host port the app's tasks take from an offer: 0 = any, else exactly that port."""
    mappings = port_mappings(app)
    if mappings:
        return [pm.host_port for pm in mappings if pm.host_port is not None]
    return [pd.port if app.require_ports else 0 for pd in app.port_definitions]


def port_names(app: AppDefinition) -> list[str | None]:
    """The name of each port, in declaration order."""
    mappings = port_mappings(app)
    if mappings:
        return [pm.name for pm in mappings]
    return [pd.name for pd in app.port_definitions]


def host_port_index(app: AppDefinition, name: str) -> int | None:
    """Where the port called `name` sits among a task's host ports (`Instance.ports`); None when no
    port has that name or it has no host port."""
    mappings = port_mappings(app)
    if not mappings:
        names = port_names(app)
        return names.index(name) if name in names else None
    index = 0
    for pm in mappings:
        if pm.name == name:
            return index if pm.host_port is not None else None
        if pm.host_port is not None:
            index += 1
    return None


def mapping_problems(app: AppDefinition) -> list[tuple[str, str]]:
    """(path, error) for every problem with the app's Docker port mappings."""
    container = app.container
    if container is None or container.docker is None or not container.docker.port_mappings:
        return []
    network = container.docker.network
    out: list[tuple[str, str]] = []
    seen_ports: set[int] = set()
    seen_names: set[str] = set()
    for i, pm in enumerate(container.docker.port_mappings):
        at = f"{MAPPINGS_PATH}({i})"
        if not 0 <= pm.container_port <= 65535:
            out.append((f"{at}/containerPort", f"got {pm.container_port}, expected between 0 and 65535"))
        if pm.host_port is None:
            if network == "BRIDGE":
                out.append((f"{at}/hostPort", "hostPort is required for BRIDGE mode."))
        elif not 0 <= pm.host_port <= 65535:
            out.append((f"{at}/hostPort", f"got {pm.host_port}, expected between 0 and 65535"))
        if not 0 <= pm.service_port <= 65535:
            out.append((f"{at}/servicePort", f"got {pm.service_port}, expected between 0 and 65535"))
        elif pm.service_port:
            if pm.service_port in seen_ports:
                out.append((f"{at}/servicePort", "Ports must be unique."))
            seen_ports.add(pm.service_port)
        if pm.protocol not in _PROTOCOLS:
            out.append((f"{at}/protocol", "is not one of (tcp,udp,udp,tcp)"))
        if pm.name is not None:
            if not _PORT_NAME.match(pm.name):
                out.append((f"{at}/name", "must match ^[a-z0-9-]+$"))
            if pm.name in seen_names:
                out.append((f"{at}/name", "Port names must be unique."))
            seen_names.add(pm.name)
    return out
