"""The two files a local cluster leaves in its directory, as typed data. No IO here.

- `cluster.json`: where each part listens, for people, tests and tools. Written once every daemon is up.
- `pids.json`: which processes belong to the cluster, so that `status` and `down` work from another
  process. Written as each daemon starts, so even an interrupted `up` can be cleaned up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from pydcos.cluster.plan import ClusterPlan, DaemonSpec

AgentZone = Literal["private", "public"]


class MasterEntry(msgspec.Struct, frozen=True):
    ip: str
    mesos_url: str
    marathon_url: str | None = None
    dns_udp: str | None = None
    dns_http_url: str | None = None
    # Admin Router beside this master (nginx :80); the first one is the cluster's dcos_url.
    adminrouter_url: str | None = None


class AgentEntry(msgspec.Struct, frozen=True):
    id: str
    ip: str
    zone: AgentZone
    url: str


class ClusterInfo(msgspec.Struct, frozen=True):
    """The shape of cluster.json. Parts not running yet are null (or empty)."""

    masters: list[MasterEntry]
    agents: list[AgentEntry]
    zk: str | None = None
    dcos_url: str | None = None
    admin: dict[str, Any] | None = None
    lb: list[dict[str, Any]] = msgspec.field(default_factory=list)


class DaemonRecord(msgspec.Struct, frozen=True):
    """A process we started. `start_ticks` (field 22 of /proc/PID/stat) tells our process from a
    later one that happens to get the same pid."""

    key: str
    pid: int
    start_ticks: int
    stage: int
    argv: list[str]
    url: str
    health_url: str
    log_file: str


class PidsFile(msgspec.Struct, frozen=True):
    supervisor_pid: int
    supervisor_start_ticks: int
    detached: bool
    daemons: list[DaemonRecord] = msgspec.field(default_factory=list)


def render_cluster_info(plan: ClusterPlan, agent_ids: Mapping[str, str]) -> ClusterInfo:
    """cluster.json for a plan whose agents registered with the ids in `agent_ids` (by daemon key)."""
    public = {n.name for n in plan.nodes if n.kind == "public-agent"}
    marathons = {d.node: d.url for d in plan.of_kind("marathon")}
    dns = {d.node: d for d in plan.of_kind("dns")}
    routers = {d.node: d.url for d in plan.of_kind("adminrouter")}
    masters = [
        MasterEntry(
            ip=d.ip,
            mesos_url=d.url,
            marathon_url=marathons.get(d.node),
            dns_udp=f"{dns[d.node].ip}:{dns[d.node].port}" if d.node in dns else None,
            dns_http_url=dns[d.node].url if d.node in dns else None,
            adminrouter_url=routers.get(d.node),
        )
        for d in plan.of_kind("master")
    ]
    agents = [
        AgentEntry(id=agent_ids[d.key], ip=d.ip, zone="public" if d.node in public else "private", url=d.url)
        for d in plan.of_kind("agent")
    ]
    dcos_url = next((m.adminrouter_url for m in masters if m.adminrouter_url), None)
    return ClusterInfo(masters=masters, agents=agents, dcos_url=dcos_url)


def encode_json(value: msgspec.Struct) -> bytes:
    return msgspec.json.format(msgspec.json.encode(value), indent=2) + b"\n"


def decode_cluster_info(data: bytes) -> ClusterInfo:
    return msgspec.json.decode(data, type=ClusterInfo)


def decode_pids(data: bytes) -> PidsFile:
    return msgspec.json.decode(data, type=PidsFile)


def daemon_record(spec: DaemonSpec, *, pid: int, start_ticks: int) -> DaemonRecord:
    return DaemonRecord(
        key=spec.key,
        pid=pid,
        start_ticks=start_ticks,
        stage=spec.stage,
        argv=list(spec.argv),
        url=spec.url,
        health_url=spec.health_url,
        log_file=str(spec.log_file),
    )


def tail_lines(text: str, lines: int = 40) -> str:
    """The last `lines` lines of a log, for an error message."""
    return "\n".join(text.splitlines()[-lines:])
