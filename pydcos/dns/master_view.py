"""What the dns daemon knows of the cluster: the parts of the master's state that names come from. Pure.

Two inputs fill it, both in the master's own wire shapes (COMPAT §4.x):
- `/master/state` (Mesos 1.0 JSON): a whole snapshot, read at start, after a reconnect and by the
  safety-net poll (`view_from_state`);
- the v1 operator API event stream (`POST /api/v1` SUBSCRIBE): `SUBSCRIBED` carries a snapshot in the
  v1 shapes (`view_from_v1_state`), then `TASK_ADDED`, `TASK_UPDATED`, `AGENT_*` and `FRAMEWORK_*`
  change it (`apply_event`).

Only what a record needs is kept: a task's name, ids, state, ports, the IPs of its latest
TASK_RUNNING status and its DiscoveryInfo; an agent's address; a framework's name and scheduler host.
Decoding is strict about types (a malformed state raises `msgspec.ValidationError`; the caller keeps
its old records) and ignores unknown fields.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import msgspec
from msgspec import Struct

TERMINAL_STATES = frozenset({
    "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
})
# A task asking for a huge port range would otherwise turn into one SRV record per port.
MAX_PORTS_PER_TASK = 1024
DOCKER_IP_LABEL = "Docker.NetworkSettings.IPAddress"
MESOS_IP_LABEL = "MesosContainerizer.NetworkSettings.IPAddress"

TaskKey = tuple[str, str]  # (framework id, task id): task ids are unique within a framework


# --- the view -------------------------------------------------------------------------------


class DiscoveryPort(Struct, frozen=True):
    number: int
    protocol: str = ""
    name: str = ""


class TaskView(Struct, frozen=True):
    id: str
    name: str
    framework_id: str
    agent_id: str
    state: str
    ports: tuple[int, ...] = ()
    # IPs of the latest TASK_RUNNING status, by Mesos-DNS IP source.
    netinfo_ips: tuple[str, ...] = ()
    mesos_ips: tuple[str, ...] = ()
    docker_ips: tuple[str, ...] = ()
    discovery_name: str = ""
    discovery_ports: tuple[DiscoveryPort, ...] = ()

    @property
    def key(self) -> TaskKey:
        return (self.framework_id, self.id)


class AgentView(Struct, frozen=True):
    id: str
    ip: str | None  # from the pid `slave(1)@ip:port`, else the hostname when it is an address
    port: int | None
    hostname: str = ""


class FrameworkView(Struct, frozen=True):
    id: str
    name: str
    host: str | None  # the scheduler's address: pid host, else hostname when it is an address
    port: int | None  # the scheduler's port, known only from a pid


@dataclass
class MasterView:
    """The cluster as names see it. `leader` is the leading master's `ip:port`."""

    leader: str | None = None
    agents: dict[str, AgentView] = field(default_factory=dict)
    frameworks: dict[str, FrameworkView] = field(default_factory=dict)
    tasks: dict[TaskKey, TaskView] = field(default_factory=dict)


# --- wire shapes shared by /master/state and the v1 API --------------------------------------


class _IpAddress(Struct):
    ip_address: str = ""


class _NetworkInfo(Struct):
    ip_addresses: list[_IpAddress] = []
    ip_address: str = ""  # Mesos 0.25's single-address form


class _ContainerStatus(Struct):
    network_infos: list[_NetworkInfo] = []


class _Label(Struct):
    key: str = ""
    value: str = ""


class _DiscoveryPortWire(Struct):
    number: int = 0
    protocol: str = ""
    name: str = ""


class _DiscoveryPorts(Struct):
    ports: list[_DiscoveryPortWire] = []


class _Discovery(Struct):
    name: str = ""
    ports: _DiscoveryPorts | None = None


class _Id(Struct):
    value: str = ""


# --- /master/state ----------------------------------------------------------------------------


class _StateStatus(Struct):
    state: str = ""
    timestamp: float = 0.0
    labels: list[_Label] = []
    container_status: _ContainerStatus | None = None


class _StateResources(Struct):
    ports: str = ""


class _StateTask(Struct):
    id: str
    name: str = ""
    framework_id: str = ""
    slave_id: str = ""
    state: str = ""
    resources: _StateResources | None = None
    statuses: list[_StateStatus] = []
    discovery: _Discovery | None = None


class _StateFramework(Struct):
    id: str
    name: str = ""
    hostname: str = ""
    pid: str = ""
    tasks: list[_StateTask] = []


class _StateAgent(Struct):
    id: str
    hostname: str = ""
    pid: str = ""


class _State(Struct):
    leader: str = ""
    frameworks: list[_StateFramework] = []
    slaves: list[_StateAgent] = []


_STATE_DECODER = msgspec.json.Decoder(_State)


def view_from_state(body: bytes) -> MasterView:
    """A view from `GET /master/state`'s body."""
    state = _STATE_DECODER.decode(body)
    view = MasterView(leader=_pid_address(state.leader))
    for a in state.slaves:
        view.agents[a.id] = _agent(a.id, a.pid, a.hostname, None)
    for f in state.frameworks:
        view.frameworks[f.id] = _framework(f.id, f.name, f.pid, f.hostname)
        for t in f.tasks:
            ports = _ports_from_ranges_text(t.resources.ports if t.resources else "")
            running = _latest_running(t.statuses)
            labels = running.labels if running else []
            task = _task(t.id, t.name, f.id, t.slave_id, t.state, ports,
                         running.container_status if running else None, labels, t.discovery)
            view.tasks[task.key] = task
    return view


def _latest_running(statuses: list[_StateStatus]) -> _StateStatus | None:
    """The newest TASK_RUNNING status: state JSON promises no order, so go by timestamp."""
    best: _StateStatus | None = None
    for s in statuses:
        if s.state == "TASK_RUNNING" and (best is None or s.timestamp > best.timestamp):
            best = s
    return best


_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")


def _ports_from_ranges_text(text: str) -> tuple[int, ...]:
    """`"[31000-31001, 31005-31005]"` -> (31000, 31001, 31005)."""
    return _expand((int(lo), int(hi)) for lo, hi in _RANGE.findall(text))


def _expand(spans: Iterable[tuple[int, int]]) -> tuple[int, ...]:
    ports: list[int] = []
    for lo, hi in spans:
        for port in range(max(lo, 0), min(hi, 65535) + 1):
            if len(ports) >= MAX_PORTS_PER_TASK:
                return tuple(ports)
            ports.append(port)
    return tuple(ports)


# --- the v1 operator API ------------------------------------------------------------------------


class _V1Labels(Struct):
    labels: list[_Label] = []


class _V1Status(Struct):
    task_id: _Id
    state: str = ""
    timestamp: float = 0.0
    labels: _V1Labels | None = None
    container_status: _ContainerStatus | None = None


class _V1Range(Struct):
    begin: int
    end: int


class _V1Ranges(Struct):
    range: list[_V1Range] = []


class _V1Resource(Struct):
    name: str = ""
    ranges: _V1Ranges | None = None


class _V1Task(Struct):
    task_id: _Id
    framework_id: _Id
    agent_id: _Id
    name: str = ""
    state: str = ""
    resources: list[_V1Resource] = []
    statuses: list[_V1Status] = []
    discovery: _Discovery | None = None


class _V1AgentInfo(Struct):
    hostname: str = ""
    port: int | None = None
    id: _Id | None = None


class _V1Agent(Struct):
    agent_info: _V1AgentInfo
    pid: str = ""


class _V1FrameworkInfo(Struct):
    id: _Id | None = None
    name: str = ""
    hostname: str = ""


class _V1Framework(Struct):
    framework_info: _V1FrameworkInfo


class _V1Tasks(Struct):
    tasks: list[_V1Task] = []


class _V1Agents(Struct):
    agents: list[_V1Agent] = []


class _V1Frameworks(Struct):
    frameworks: list[_V1Framework] = []


class _V1State(Struct):
    get_tasks: _V1Tasks | None = None
    get_agents: _V1Agents | None = None
    get_frameworks: _V1Frameworks | None = None


class _Subscribed(Struct):
    get_state: _V1State | None = None
    heartbeat_interval_seconds: float | None = None


class _TaskAdded(Struct):
    task: _V1Task


class _TaskUpdated(Struct):
    framework_id: _Id
    status: _V1Status
    state: str = ""


class _AgentAdded(Struct):
    agent: _V1Agent


class _AgentRemoved(Struct):
    agent_id: _Id


class _FrameworkChanged(Struct):
    framework: _V1Framework


class _FrameworkRemoved(Struct):
    framework_info: _V1FrameworkInfo


class Event(Struct):
    """One v1 operator API event; only the member its `type` names is set."""

    type: str
    subscribed: _Subscribed | None = None
    task_added: _TaskAdded | None = None
    task_updated: _TaskUpdated | None = None
    agent_added: _AgentAdded | None = None
    agent_removed: _AgentRemoved | None = None
    framework_added: _FrameworkChanged | None = None
    framework_updated: _FrameworkChanged | None = None
    framework_removed: _FrameworkRemoved | None = None


EVENT_DECODER = msgspec.json.Decoder(Event)


def view_from_v1_state(subscribed: Event, leader: str | None) -> MasterView:
    """A view from a `SUBSCRIBED` event's `get_state` (it names no leader: the caller knows it)."""
    view = MasterView(leader=leader)
    state = subscribed.subscribed.get_state if subscribed.subscribed else None
    if state is None:
        return view
    for agent in state.get_agents.agents if state.get_agents else []:
        a = _v1_agent(agent)
        view.agents[a.id] = a
    for fw in state.get_frameworks.frameworks if state.get_frameworks else []:
        f = _v1_framework(fw.framework_info)
        view.frameworks[f.id] = f
    for t in state.get_tasks.tasks if state.get_tasks else []:
        task = _v1_task(t)
        view.tasks[task.key] = task
    return view


Change = tuple[Literal["task"], TaskKey] | tuple[Literal["agent", "framework"], str]


def apply_event(view: MasterView, event: Event) -> list[Change]:
    """Apply one event to `view`; return what changed, for the records to follow."""
    if event.task_added is not None:
        task = _v1_task(event.task_added.task)
        if task.state in TERMINAL_STATES:
            return [("task", task.key)] if view.tasks.pop(task.key, None) else []
        view.tasks[task.key] = task
        return [("task", task.key)]
    if event.task_updated is not None:
        return _task_updated(view, event.task_updated)
    if event.agent_added is not None:
        agent = _v1_agent(event.agent_added.agent)
        view.agents[agent.id] = agent
        return [("agent", agent.id)]
    if event.agent_removed is not None:
        agent_id = event.agent_removed.agent_id.value
        return [("agent", agent_id)] if view.agents.pop(agent_id, None) else []
    changed = event.framework_added or event.framework_updated
    if changed is not None:
        fw = _v1_framework(changed.framework.framework_info)
        view.frameworks[fw.id] = fw
        return [("framework", fw.id)]
    if event.framework_removed is not None:
        info = event.framework_removed.framework_info
        fid = info.id.value if info.id else ""
        out: list[Change] = []
        if view.frameworks.pop(fid, None) is not None:
            out.append(("framework", fid))
        for key in [k for k in view.tasks if k[0] == fid]:
            del view.tasks[key]
            out.append(("task", key))
        return out
    return []


def _task_updated(view: MasterView, update: _TaskUpdated) -> list[Change]:
    key = (update.framework_id.value, update.status.task_id.value)
    task = view.tasks.get(key)
    if task is None:
        return []  # never added (or added before a snapshot that already dropped it)
    state = update.state or update.status.state
    if state in TERMINAL_STATES:
        del view.tasks[key]
        return [("task", key)]
    if update.status.state == "TASK_RUNNING":
        netinfo, mesos, docker = _status_ips(update.status.container_status, _v1_labels(update.status))
        task = msgspec.structs.replace(task, state=state, netinfo_ips=netinfo, mesos_ips=mesos,
                                       docker_ips=docker)
    else:
        task = msgspec.structs.replace(task, state=state)
    view.tasks[key] = task
    return [("task", key)]


def _v1_labels(status: _V1Status) -> list[_Label]:
    return status.labels.labels if status.labels else []


def _v1_task(t: _V1Task) -> TaskView:
    spans: list[tuple[int, int]] = []
    for r in t.resources:
        if r.name == "ports" and r.ranges is not None:
            spans.extend((x.begin, x.end) for x in r.ranges.range)
    running: _V1Status | None = None
    for s in t.statuses:
        if s.state == "TASK_RUNNING" and (running is None or s.timestamp >= running.timestamp):
            running = s
    return _task(t.task_id.value, t.name, t.framework_id.value, t.agent_id.value, t.state, _expand(spans),
                 running.container_status if running else None,
                 _v1_labels(running) if running else [], t.discovery)


def _v1_agent(agent: _V1Agent) -> AgentView:
    info = agent.agent_info
    return _agent(info.id.value if info.id else "", agent.pid, info.hostname, info.port)


def _v1_framework(info: _V1FrameworkInfo) -> FrameworkView:
    return _framework(info.id.value if info.id else "", info.name, "", info.hostname)


# --- building the views ----------------------------------------------------------------------


def _task(task_id: str, name: str, framework_id: str, agent_id: str, state: str, ports: tuple[int, ...],
          container_status: _ContainerStatus | None, labels: list[_Label],
          discovery: _Discovery | None) -> TaskView:
    netinfo, mesos, docker = _status_ips(container_status, labels)
    d_name = discovery.name if discovery else ""
    d_ports = tuple(DiscoveryPort(p.number, p.protocol, p.name)
                    for p in (discovery.ports.ports if discovery and discovery.ports else [])
                    if 0 < p.number < 65536)
    return TaskView(id=task_id, name=name, framework_id=framework_id, agent_id=agent_id, state=state,
                    ports=ports, netinfo_ips=netinfo, mesos_ips=mesos, docker_ips=docker,
                    discovery_name=d_name, discovery_ports=d_ports)


def _status_ips(container_status: _ContainerStatus | None,
                labels: list[_Label]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    netinfo: list[str] = []
    for info in container_status.network_infos if container_status else []:
        if info.ip_addresses:
            netinfo.extend(a.ip_address for a in info.ip_addresses if _is_ipv4(a.ip_address))
        elif _is_ipv4(info.ip_address):
            netinfo.append(info.ip_address)
    mesos = tuple(x.value for x in labels if x.key == MESOS_IP_LABEL and _is_ipv4(x.value))
    docker = tuple(x.value for x in labels if x.key == DOCKER_IP_LABEL and _is_ipv4(x.value))
    return tuple(netinfo), mesos, docker


def _agent(agent_id: str, pid: str, hostname: str, port: int | None) -> AgentView:
    address = _pid_address(pid)
    if address is not None:
        host, _, pid_port = address.rpartition(":")
        return AgentView(agent_id, host if _is_ipv4(host) else None, int(pid_port), hostname)
    return AgentView(agent_id, hostname if _is_ipv4(hostname) else None, port, hostname)


def _framework(framework_id: str, name: str, pid: str, hostname: str) -> FrameworkView:
    address = _pid_address(pid)
    if address is not None:
        host, _, port = address.rpartition(":")
        if _is_ipv4(host):
            return FrameworkView(framework_id, name, host, int(port))
    return FrameworkView(framework_id, name, hostname if _is_ipv4(hostname) else None, None)


def _pid_address(pid: str) -> str | None:
    """`master@10.0.0.1:5050` -> `10.0.0.1:5050`; None for anything else."""
    _, at, address = pid.partition("@")
    host, colon, port = address.rpartition(":")
    if not at or not colon or not host or not port.isdigit() or int(port) > 65535:
        return None
    return address


@functools.lru_cache(maxsize=4096)  # the same few agent addresses, checked on every update
def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True
