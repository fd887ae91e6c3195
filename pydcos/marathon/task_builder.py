"""The Mesos TaskInfo for one instance of an app, as Marathon builds it. Pure.

Besides the command and resources, a task carries the environment Marathon sets (`PORT0`, `HOST`,
`MARATHON_APP_ID`, ...), its DiscoveryInfo and labels (for Mesos-DNS and Admin Router), the first
COMMAND or MESOS_* health check (the agent runs it) and the kill grace period.
"""

from __future__ import annotations

import re
from typing import Any

from pydcos.marathon import ids
from pydcos.marathon.app_ports import port_mappings
from pydcos.marathon.health import MESOS_PROTOCOLS, probe_port
from pydcos.marathon.model import AppDefinition, Container, PortDefinition, PortMapping
from pydcos.mesos.resources import RoleResources, to_v1
from pydcos.mesos.v1 import messages as v1

_NON_ENV = re.compile(r"[^A-Z0-9_]")


def env_name(text: str) -> str:
    return _NON_ENV.sub("_", text.upper())


def task_environment(app: AppDefinition, task_id: str, host: str, host_ports: list[int]) -> dict[str, str]:
    env = dict(app.env)
    env.update({
        "MESOS_TASK_ID": task_id,
        "MARATHON_APP_ID": app.id,
        "MARATHON_APP_VERSION": app.version,
        "MARATHON_APP_RESOURCE_CPUS": f"{app.cpus:g}",
        "MARATHON_APP_RESOURCE_MEM": f"{app.mem:g}",
        "MARATHON_APP_RESOURCE_DISK": f"{app.disk:g}",
        "MARATHON_APP_RESOURCE_GPUS": str(app.gpus),
        "HOST": host,
        "MARATHON_APP_LABELS": " ".join(env_name(k) for k in app.labels),
    })
    for key, value in app.labels.items():
        env[f"MARATHON_APP_LABEL_{env_name(key)}"] = value
    if app.container is not None and app.container.docker is not None and app.container.docker.image:
        env["MARATHON_APP_DOCKER_IMAGE"] = app.container.docker.image
    if host_ports:
        env["PORTS"] = ",".join(str(p) for p in host_ports)
        env["PORT"] = str(host_ports[0])
    for i, port in enumerate(host_ports):
        env[f"PORT{i}"] = str(port)
        if i < len(app.port_definitions):
            pd = app.port_definitions[i]
            if pd.port:
                env[f"PORT_{pd.port}"] = str(port)
            if pd.name:
                env[f"PORT_{env_name(pd.name)}"] = str(port)
    return env


def _command(app: AppDefinition, env: dict[str, str]) -> v1.CommandInfo:
    environment = v1.Environment([v1.EnvironmentVariable(name=k, value=v) for k, v in env.items()])
    uris = [v1.CommandURI(value=f.uri, executable=f.executable, extract=f.extract, cache=f.cache,
                          output_file=f.output_file) for f in app.fetch]
    if app.cmd is not None:
        return v1.CommandInfo(value=app.cmd, shell=True, environment=environment, uris=uris, user=app.user)
    args = list(app.args or [])
    return v1.CommandInfo(value=args[0] if args else None, shell=False, arguments=args, environment=environment,
                          uris=uris, user=app.user)


def _container(container: Container, host_ports: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": container.type}
    if container.volumes:
        out["volumes"] = [
            {k: v for k, v in (("container_path", vol.container_path), ("host_path", vol.host_path),
                               ("mode", vol.mode)) if v is not None}
            for vol in container.volumes
        ]
    docker = container.docker
    if docker is not None and docker.image:
        d: dict[str, Any] = {"image": docker.image, "privileged": docker.privileged,
                             "force_pull_image": docker.force_pull_image}
        if docker.network:
            d["network"] = docker.network
        if docker.parameters:
            d["parameters"] = docker.parameters
        if docker.port_mappings:
            d["port_mappings"] = [
                {"host_port": host_ports[i] if i < len(host_ports) else pm.host_port or 0,
                 "container_port": pm.container_port, "protocol": pm.protocol}
                for i, pm in enumerate(docker.port_mappings)
            ]
        out["docker"] = d
    return out


def _health_check(app: AppDefinition, host_ports: list[int]) -> dict[str, Any] | None:
    """The app's first health check the agent runs (COMMAND, MESOS_HTTP(S), MESOS_TCP: Mesos takes
    one per task) as a Mesos HealthCheck. Its port is the host port the task got for `portIndex`
    (or the fixed `port`). `consecutive_failures` is passed as it is: 0 kills at the first failure
    counted, as in Marathon with Mesos (only Marathon's own HTTP/TCP checks read 0 as never)."""
    hc = next((hc for hc in app.health_checks if hc.protocol in MESOS_PROTOCOLS), None)
    if hc is None:
        return None
    check: dict[str, Any] = {
        "delay_seconds": 0.0,
        "interval_seconds": float(hc.interval_seconds),
        "timeout_seconds": float(hc.timeout_seconds),
        "consecutive_failures": hc.max_consecutive_failures,
        "grace_period_seconds": float(hc.grace_period_seconds),
    }
    if hc.protocol == "COMMAND":
        command = hc.command_text()
        return {"type": "COMMAND", "command": {"value": command}, **check} if command else None
    port = probe_port(hc, host_ports)
    if port is None:
        return None
    if hc.protocol == "MESOS_TCP":
        return {"type": "TCP", "tcp": {"port": port}, **check}
    scheme = "https" if hc.protocol == "MESOS_HTTPS" else "http"
    return {"type": "HTTP", "http": {"scheme": scheme, "port": port, "path": hc.path or "/"}, **check}


def _discovery(app: AppDefinition, host_ports: list[int]) -> dict[str, Any]:
    """Mesos-DNS names the task after `name` and makes SRV records from `ports`. A port with several
    protocols ("udp,tcp") is one DiscoveryInfo port per protocol, as Marathon's
    `PortDefinitionSerializer.toMesosProto` does; one port "udp,tcp" would have no `_tcp` record.
    With Docker port mappings, the mappings that take a host port describe the task's ports."""
    mappings = port_mappings(app)
    declared: list[PortDefinition | PortMapping] = (
        [pm for pm in mappings if pm.host_port is not None] if mappings else list(app.port_definitions))
    ports = []
    for i, port in enumerate(host_ports):
        pd = declared[i] if i < len(declared) else None
        protocols = [p.strip() for p in pd.protocol.split(",") if p.strip()] if pd is not None else []
        for protocol in dict.fromkeys(protocols or ["tcp"]):
            entry: dict[str, Any] = {"number": port, "protocol": protocol}
            if pd is not None and pd.name:
                entry["name"] = pd.name
            if pd is not None and pd.labels:
                entry["labels"] = {"labels": [{"key": k, "value": v} for k, v in pd.labels.items()]}
            ports.append(entry)
    return {"visibility": "FRAMEWORK", "name": ids.hostname_of(app.id), "ports": {"ports": ports}}


def build_task(app: AppDefinition, task_id: str, agent_id: str, host: str, resources: RoleResources,
               host_ports: list[int]) -> v1.TaskInfo:
    env = task_environment(app, task_id, host, host_ports)
    grace = app.task_kill_grace_period_seconds
    return v1.TaskInfo(
        name=ids.hostname_of(app.id),
        task_id=v1.Id(task_id),
        agent_id=v1.Id(agent_id),
        resources=to_v1(resources),
        command=_command(app, env),
        container=_container(app.container, host_ports) if app.container is not None else None,
        health_check=_health_check(app, host_ports),
        kill_policy=v1.KillPolicy(v1.DurationInfo(int(grace * 1e9))) if grace is not None else None,
        labels={"labels": [{"key": k, "value": v} for k, v in app.labels.items()]} if app.labels else None,
        discovery=_discovery(app, host_ports),
    )
