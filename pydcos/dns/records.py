"""From the master's state to DNS records, by the Mesos-DNS naming scheme. Pure.

Each part of the cluster contributes its own records, so a change to one task redoes only that
task's records (`task_records`, `agent_records`, ...); `generate` runs them all over a whole view.
Names are lower-case, absolute (trailing dot) and end in the domain:

| name | type | points at |
| --- | --- | --- |
| `TASK.FRAMEWORK.mesos.`, `TASK-HASH-AGENT.FRAMEWORK.mesos.` | A | the task's IP (first IP source that has one) |
| `TASK.FRAMEWORK.slave.mesos.`, `TASK-HASH-AGENT.FRAMEWORK.slave.mesos.` | A | the agent's IP |
| `_TASK._tcp.FRAMEWORK.mesos.`, `_udp`, and the same under `.slave` | SRV | `TASK-HASH-AGENT.FRAMEWORK.slave.mesos.`, each host port |
| `_TASK._PROTO.FRAMEWORK.mesos.`, `_PORTNAME._TASK._PROTO...` (DiscoveryInfo) | SRV | `TASK-HASH-AGENT.FRAMEWORK.mesos.`, each discovery port |
| `FRAMEWORK.mesos.` | A | the scheduler's host; `_framework._tcp.FRAMEWORK.mesos.` SRV when its port is known |
| `slave.mesos.`, `agent.mesos.` | A | every agent; `_slave._tcp`, `_agent._tcp` SRV to its port |
| `leader.mesos.`, `master.mesos.`, `masterN.mesos.` | A | the leader; every master; the Nth configured master |
| `_leader._tcp.mesos.`, `_leader._udp.mesos.` | SRV | `leader.mesos.` and the leader's port |
| `ns1.mesos.` | A | the addresses this server listens on |

With DiscoveryInfo the task's label comes from the DiscoveryInfo name, and host-port SRV records
exist only under `.slave`, as in Mesos-DNS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from msgspec import Struct

from pydcos.dns import naming
from pydcos.dns.master_view import AgentView, FrameworkView, MasterView, TaskView

ARecord = tuple[str, str]  # (name, IPv4 address)
SrvRecord = tuple[str, str, int]  # (name, target, port)
IP_SOURCES = ("netinfo", "mesos", "docker", "host")


class RecordConfig(Struct, frozen=True):
    domain: str = "mesos"
    # The masters the daemon was given (`ip:port`), in order: they make `masterN` and `master`.
    masters: tuple[str, ...] = ()
    # Where a task's own IP comes from, in priority order; "host" is the agent's IP.
    ip_sources: tuple[str, ...] = ("netinfo", "mesos", "host")
    enforce_rfc952: bool = False
    ns_label: str = "ns1"
    ns_addresses: tuple[str, ...] = ()

    @property
    def zone(self) -> str:
        return self.domain.strip(".").lower() + "."


class Records(Struct, frozen=True):
    """The records one part of the cluster contributes, in the order Mesos-DNS inserts them."""

    a: tuple[ARecord, ...] = ()
    srv: tuple[SrvRecord, ...] = ()


EMPTY = Records()


def valid_name(name: str) -> bool:
    """Can be written on the wire: absolute, labels of 1 to 63 characters, at most 254 in all."""
    if not name.endswith(".") or len(name) > 254 or name == "." or name.startswith(".") or ".." in name:
        return False
    return len(name) <= 64 or all(len(label) <= 63 for label in name[:-1].split("."))


def _records(a: list[ARecord], srv: list[SrvRecord]) -> Records:
    if not a and not srv:
        return EMPTY
    return Records(tuple(r for r in dict.fromkeys(a) if valid_name(r[0])),
                   tuple(r for r in dict.fromkeys(srv) if valid_name(r[0]) and valid_name(r[1])))


def task_ips(task: TaskView, agent_ip: str, sources: tuple[str, ...]) -> tuple[str, ...]:
    for source in sources:
        ips = {"netinfo": task.netinfo_ips, "mesos": task.mesos_ips, "docker": task.docker_ips,
               "host": (agent_ip,)}.get(source, ())
        if ips:
            return ips
    return ()


def task_records(task: TaskView, agent: AgentView | None, framework: FrameworkView | None,
                 cfg: RecordConfig) -> Records:
    """A running task's records. Tasks not running, or on an agent or of a framework we do not
    know, have none (Mesos-DNS skips them too)."""
    if task.state != "TASK_RUNNING" or agent is None or agent.ip is None or framework is None:
        return EMPTY
    rule = naming.label_rule(cfg.enforce_rfc952)
    fname = naming.domain_fragment(framework.name, rule)
    label = rule(task.discovery_name or task.name)
    if not fname or not label:
        return EMPTY
    tail = "." + cfg.zone
    canonical = naming.canonical_task_label(label, task.id, task.agent_id)
    a: list[ARecord] = []
    for ip in task_ips(task, agent.ip, cfg.ip_sources):
        a.append((f"{label}.{fname}{tail}", ip))
        a.append((f"{canonical}.{fname}{tail}", ip))
    a.append((f"{label}.{fname}.slave{tail}", agent.ip))
    a.append((f"{canonical}.{fname}.slave{tail}", agent.ip))
    srv: list[SrvRecord] = []
    has_discovery = bool(task.discovery_name)
    subdomains = (".slave",) if has_discovery else (".slave", "")
    slave_target = f"{canonical}.{fname}.slave{tail}"
    for port in task.ports:
        for sub in subdomains:
            for proto in ("tcp", "udp"):
                srv.append((f"_{label}._{proto}.{fname}{sub}{tail}", slave_target, port))
    if has_discovery:
        target = f"{canonical}.{fname}{tail}"
        for dp in task.discovery_ports:
            proto = rule(dp.protocol)
            port_name = rule(dp.name)
            for p in (proto,) if proto else ("tcp", "udp"):
                name = f"_{label}._{p}.{fname}{tail}"
                srv.append((name, target, dp.number))
                if port_name:
                    srv.append((f"_{port_name}.{name}", target, dp.number))
    return _records(a, srv)


def agent_records(agent: AgentView, cfg: RecordConfig) -> Records:
    if agent.ip is None:
        return EMPTY
    a: list[ARecord] = []
    srv: list[SrvRecord] = []
    for word in ("slave", "agent"):
        name = f"{word}.{cfg.zone}"
        a.append((name, agent.ip))
        if agent.port:
            srv.append((f"_{word}._tcp.{cfg.zone}", name, agent.port))
    return _records(a, srv)


def framework_records(fw: FrameworkView, cfg: RecordConfig) -> Records:
    fname = naming.domain_fragment(fw.name, naming.label_rule(cfg.enforce_rfc952))
    if not fname or fw.host is None:
        return EMPTY
    name = f"{fname}.{cfg.zone}"
    srv = [(f"_framework._tcp.{name}", name, fw.port)] if fw.port else []
    return _records([(name, fw.host)], srv)


def master_records(leader: str | None, cfg: RecordConfig) -> Records:
    """`leader`, `master`, `masterN` and the `_leader` SRV records, numbered as Mesos-DNS does:
    configured masters in order, the leader given the next number if it is not among them."""
    a: list[ARecord] = []
    srv: list[SrvRecord] = []
    zone = cfg.zone
    leader_ip, leader_port = _split_host_port(leader or "")
    if leader_ip is not None:
        a += [(f"leader.{zone}", leader_ip), (f"master.{zone}", leader_ip)]
        if leader_port is not None:
            srv += [(f"_leader._tcp.{zone}", f"leader.{zone}", leader_port),
                    (f"_leader._udp.{zone}", f"leader.{zone}", leader_port)]
    seen: set[str] = set()
    index = 0
    leader_numbered = False
    for master in cfg.masters:
        ip, _ = _split_host_port(master)
        if ip is None or master in seen:
            continue
        seen.add(master)
        a.append((f"master.{zone}", ip))
        a.append((f"master{index}.{zone}", ip))
        index += 1
        leader_numbered = leader_numbered or master == leader
    if leader_ip is not None and not leader_numbered:
        a.append((f"master{index}.{zone}", leader_ip))
    return _records(a, srv)


def listener_records(cfg: RecordConfig) -> Records:
    return _records([(f"{cfg.ns_label}.{cfg.zone}", ip) for ip in cfg.ns_addresses], [])


def _split_host_port(address: str) -> tuple[str | None, int | None]:
    host, colon, port = address.rpartition(":")
    if not colon or not host:
        return None, None
    return host, int(port) if port.isdigit() and int(port) < 65536 else None


# --- a whole record set ----------------------------------------------------------------------


@dataclass
class RecordSet:
    """Every name with its A addresses and SRV targets, each list in first-inserted order."""

    a: dict[str, list[str]] = field(default_factory=dict)
    srv: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def add(self, records: Records) -> None:
        for name, ip in records.a:
            values = self.a.setdefault(name, [])
            if ip not in values:
                values.append(ip)
        for name, target, port in records.srv:
            targets = self.srv.setdefault(name, [])
            if (target, port) not in targets:
                targets.append((target, port))


def generate(view: MasterView, cfg: RecordConfig) -> RecordSet:
    """All records of a view, in Mesos-DNS's order: frameworks, agents, itself, masters, tasks."""
    out = RecordSet()
    for fw in view.frameworks.values():
        out.add(framework_records(fw, cfg))
    for agent in view.agents.values():
        out.add(agent_records(agent, cfg))
    out.add(listener_records(cfg))
    out.add(master_records(view.leader, cfg))
    for task in view.tasks.values():
        out.add(task_records(task, view.agents.get(task.agent_id), view.frameworks.get(task.framework_id), cfg))
    return out


def enumerate_json(view: MasterView, records_of: dict[tuple[str, str], Records]) -> dict[str, Any]:
    """`/v1/enumerate`: frameworks, their running tasks and the records each task made."""
    frameworks: dict[str, dict[str, Any]] = {}
    for fid, fw in view.frameworks.items():
        frameworks[fid] = {"tasks": [], "name": fw.name}
    for key, task in view.tasks.items():
        records = records_of.get(key)
        if not records or task.framework_id not in frameworks:
            continue
        rows = [{"name": n, "host": ip, "rtype": "A"} for n, ip in records.a]
        rows += [{"name": n, "host": f"{t}:{p}", "rtype": "SRV"} for n, t, p in records.srv]
        frameworks[task.framework_id]["tasks"].append({"name": task.name, "id": task.id, "records": rows})
    return {"frameworks": list(frameworks.values())}
