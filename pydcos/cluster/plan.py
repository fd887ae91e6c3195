"""The plan of a local cluster: which daemons run on which node, at which address, with which
command line, and how to tell that each one is up. A plain function of the options; no IO.

Every node gets a loopback address of its own so that every daemon keeps its standard port:

    masters          NET.1.1, NET.1.2, ...   master :5050
    private agents   NET.2.1, NET.2.2, ...   agent  :5051
    public agents    NET.3.1, NET.3.2, ...   agent  :5051 (zone public, role slave_public)

with NET = 127.0 by default (tests use another block, so they never meet a user's cluster).
Agents on one machine share its ports, so agent k (0-based over all agents, private first) offers
the task ports [31000+1000k, 31999+1000k].

Daemons start in stages: a stage starts only once every daemon of the stages before it answers its
health check. A later part (zookeeper, marathon, dns, adminrouter, lb) is one more `DaemonSpec`
in the stage it belongs to.

Beside each master run marathon (:8080), dns (:53, HTTP :8123) and adminrouter (nginx :80 and the
identity service :8101): the management zone, whose only door for clients is adminrouter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydcos.cluster.errors import ClusterError

NodeKind = Literal["master", "agent", "public-agent"]
Zone = Literal["master", "private", "public"]
DaemonKind = Literal["master", "agent", "marathon", "dns", "adminrouter"]

MASTER_PORT = 5050
AGENT_PORT = 5051
MARATHON_PORT = 8080
DNS_PORT = 53
DNS_HTTP_PORT = 8123
ADMINROUTER_PORT = 80
IDENTITY_PORT = 8101
AGENT_DISK_MB = 10_000
PUBLIC_ROLE = "slave_public"
FIRST_TASK_PORT = 31_000
TASK_PORTS_PER_AGENT = 1_000
MAX_NODES_PER_KIND = 254
# Agents whose task port ranges fit below 65536.
MAX_AGENTS = (65_536 - FIRST_TASK_PORT) // TASK_PORTS_PER_AGENT
DEFAULT_NET = "127.0"

# Stages: everything in a stage starts together; the next waits for all of it to be healthy.
STAGE_MASTERS = 10
STAGE_AGENTS = 20
# Marathon starts once the agents are registered, so its first offers already cover them.
STAGE_MANAGEMENT = 30

# The third octet of each kind's addresses.
_KIND_OCTET: dict[NodeKind, int] = {"master": 1, "agent": 2, "public-agent": 3}
_KIND_ZONE: dict[NodeKind, Zone] = {"master": "master", "agent": "private", "public-agent": "public"}
# The daemon that makes a node what it is (the one extra args for "NODE/DAEMON" can name).
_NODE_DAEMON: dict[NodeKind, DaemonKind] = {"master": "master", "agent": "agent", "public-agent": "agent"}
_NET_RE = re.compile(r"^127\.(\d{1,3})$")


class PlanError(ClusterError, ValueError):
    """Options that describe no cluster this machine can run."""


@dataclass(frozen=True)
class ClusterOptions:
    """What `pydcos cluster up` was asked for. `dir` is absolute."""

    dir: Path
    masters: int = 1
    agents: int = 2
    public_agents: int = 1
    net: str = DEFAULT_NET
    # Forward names outside the `mesos` domain to the host's resolvers. Tests turn it off: their
    # machines may send no traffic off the loopback.
    dns_forward: bool = True
    # Test-only: extra arguments for one daemon, keyed "NODE/DAEMON" ("agent-1/agent").
    extra_args: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class MachineFacts:
    """What the plan needs to know about the machine, read by the shell."""

    python: str
    cpus: int
    mem_mb: int


@dataclass(frozen=True)
class DaemonSpec:
    """One daemon to run: its command line, where it logs, where it listens, how it is checked."""

    node: str
    name: str
    kind: DaemonKind
    stage: int
    ip: str
    port: int
    argv: tuple[str, ...]
    work_dir: Path
    log_file: Path
    url: str
    health_url: str

    @property
    def key(self) -> str:
        """`NODE/DAEMON`, unique in a cluster: how logs, pids and errors name a daemon."""
        return f"{self.node}/{self.name}"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    kind: NodeKind
    zone: Zone
    ip: str
    index: int  # 1-based within its kind


@dataclass(frozen=True)
class ClusterPlan:
    dir: Path
    nodes: tuple[NodeSpec, ...]
    daemons: tuple[DaemonSpec, ...]

    @property
    def cluster_json(self) -> Path:
        return self.dir / "cluster.json"

    @property
    def pids_json(self) -> Path:
        return self.dir / "pids.json"

    def stages(self) -> list[tuple[DaemonSpec, ...]]:
        """Daemons grouped by stage, in start order."""
        numbers = sorted({d.stage for d in self.daemons})
        return [tuple(d for d in self.daemons if d.stage == n) for n in numbers]

    def daemon(self, key: str) -> DaemonSpec:
        for d in self.daemons:
            if d.key == key:
                return d
        raise KeyError(key)

    def of_kind(self, kind: DaemonKind) -> tuple[DaemonSpec, ...]:
        return tuple(d for d in self.daemons if d.kind == kind)


def validate_options(options: ClusterOptions) -> list[str]:
    """Problems with the options, each a sentence; empty when the plan can be made and run."""
    problems: list[str] = []
    if not options.dir.is_absolute():
        problems.append(f"dir must be an absolute path, got {str(options.dir)!r}")
    if options.masters != 1:
        problems.append(
            f"masters: {options.masters} asked for, but only 1 is supported for now "
            "(several masters need ZooKeeper, which a later version adds)"
        )
    for what, count in (("agents", options.agents), ("public agents", options.public_agents)):
        if not 0 <= count <= MAX_NODES_PER_KIND:
            problems.append(f"{what}: {count} is out of range 0..{MAX_NODES_PER_KIND}")
    total_agents = options.agents + options.public_agents
    if total_agents < 1:
        problems.append("a cluster needs at least one agent (private or public)")
    elif total_agents > MAX_AGENTS:
        problems.append(
            f"{total_agents} agents asked for, but their task port ranges fit only {MAX_AGENTS} on one machine"
        )
    match = _NET_RE.match(options.net)
    if match is None or int(match.group(1)) > 255:
        problems.append(
            f"net must be a loopback block of the form 127.N (0 <= N <= 255), got {options.net!r}"
        )
    if not problems:
        known = {f"{n.name}/{_NODE_DAEMON[n.kind]}" for n in _plan_nodes(options)}
        known |= {
            f"{n.name}/{d}"
            for n in _plan_nodes(options)
            if n.kind == "master"
            for d in ("marathon", "dns", "adminrouter")
        }
        problems.extend(
            f"extra args for unknown daemon {key!r} (keys are NODE/DAEMON, e.g. agent-1/agent)"
            for key in options.extra_args
            if key not in known
        )
    return problems


def normalize_net(value: str) -> str:
    """`127` means `127.0`; anything else is kept for `validate_options` to judge."""
    return f"{value}.0" if value.isdigit() else value


def node_ip(net: str, kind: NodeKind, index: int) -> str:
    """The loopback address of the `index`-th (1-based) node of a kind: `node_ip("127.0", "agent", 2)`
    is `127.0.2.2`."""
    if not 1 <= index <= MAX_NODES_PER_KIND:
        raise PlanError(f"node index {index} out of range 1..{MAX_NODES_PER_KIND}")
    return f"{net}.{_KIND_OCTET[kind]}.{index}"


def node_name(kind: NodeKind, index: int) -> str:
    return f"{kind}-{index}"


def task_port_range(agent_number: int) -> tuple[int, int]:
    """Task ports of agent `agent_number` (0-based over all agents of the cluster, private first)."""
    first = FIRST_TASK_PORT + TASK_PORTS_PER_AGENT * agent_number
    return first, first + TASK_PORTS_PER_AGENT - 1


def agent_mem_mb(total_mb: int, agents: int) -> int:
    """Each agent's share of the machine's memory, after leaving the system its due: like Mesos's
    default, keep back half the memory up to 1 GiB, then split the rest evenly."""
    usable = total_mb - min(1024, total_mb // 2)
    return max(32, usable // max(1, agents))


def agent_resources(*, cpus: int, mem_mb: int, ports: tuple[int, int]) -> str:
    return f"cpus:{cpus};mem:{mem_mb};disk:{AGENT_DISK_MB};ports:[{ports[0]}-{ports[1]}]"


def plan_cluster(options: ClusterOptions, facts: MachineFacts) -> ClusterPlan:
    """The whole cluster as data. Raises PlanError when `validate_options` finds problems."""
    problems = validate_options(options)
    if problems:
        raise PlanError("; ".join(problems))
    nodes = _plan_nodes(options)
    masters = [n for n in nodes if n.kind == "master"]
    agents = [n for n in nodes if n.kind != "master"]
    leader = masters[0]
    mem = agent_mem_mb(facts.mem_mb, len(agents))
    daemons = [_master_daemon(options, facts, n) for n in masters]
    daemons += [
        _agent_daemon(
            options, facts, n, master=f"{leader.ip}:{MASTER_PORT}", ports=task_port_range(k), mem_mb=mem
        )
        for k, n in enumerate(agents)
    ]
    masters_arg = ",".join(f"{m.ip}:{MASTER_PORT}" for m in masters)
    daemons += [_marathon_daemon(options, facts, n, masters=masters_arg) for n in masters]
    daemons += [_dns_daemon(options, facts, n, masters=masters_arg) for n in masters]
    daemons += [_adminrouter_daemon(options, facts, n, masters=masters_arg) for n in masters]
    return ClusterPlan(dir=options.dir, nodes=tuple(nodes), daemons=tuple(daemons))


def _plan_nodes(options: ClusterOptions) -> list[NodeSpec]:
    counts: tuple[tuple[NodeKind, int], ...] = (
        ("master", options.masters),
        ("agent", options.agents),
        ("public-agent", options.public_agents),
    )
    return [
        NodeSpec(
            name=node_name(kind, i),
            kind=kind,
            zone=_KIND_ZONE[kind],
            ip=node_ip(options.net, kind, i),
            index=i,
        )
        for kind, count in counts
        for i in range(1, count + 1)
    ]


def _spec(
    options: ClusterOptions, node: NodeSpec, name: DaemonKind, *, stage: int, port: int, argv: tuple[str, ...],
    url: str, health_path: str,
) -> DaemonSpec:
    """One daemon of a node, with the test-only extra arguments for it appended."""
    work_dir, log_file = _paths(options, node, name)
    return DaemonSpec(
        node=node.name,
        name=name,
        kind=name,
        stage=stage,
        ip=node.ip,
        port=port,
        argv=argv + tuple(options.extra_args.get(f"{node.name}/{name}", ())),
        work_dir=work_dir,
        log_file=log_file,
        url=url,
        health_url=url + health_path,
    )


def _paths(options: ClusterOptions, node: NodeSpec, daemon: str) -> tuple[Path, Path]:
    return options.dir / "nodes" / node.name / daemon, options.dir / "logs" / node.name / f"{daemon}.log"


def _master_daemon(options: ClusterOptions, facts: MachineFacts, node: NodeSpec) -> DaemonSpec:
    work_dir, log_file = _paths(options, node, "master")
    url = f"http://{node.ip}:{MASTER_PORT}"
    argv: tuple[str, ...] = (
        facts.python, "-m", "pydcos.mesos.master",
        "--ip", node.ip,
        "--port", str(MASTER_PORT),
        "--work-dir", str(work_dir),
        "--log-file", str(log_file),
        "--hostname", node.ip,
    )  # fmt: skip
    return _spec(options, node, "master", stage=STAGE_MASTERS, port=MASTER_PORT, argv=argv, url=url,
                 health_path="/health")


def _agent_daemon(
    options: ClusterOptions,
    facts: MachineFacts,
    node: NodeSpec,
    *,
    master: str,
    ports: tuple[int, int],
    mem_mb: int,
) -> DaemonSpec:
    work_dir, log_file = _paths(options, node, "agent")
    url = f"http://{node.ip}:{AGENT_PORT}"
    argv: tuple[str, ...] = (
        facts.python, "-m", "pydcos.mesos.agent",
        "--ip", node.ip,
        "--port", str(AGENT_PORT),
        "--master", master,
        "--work-dir", str(work_dir),
        "--log-file", str(log_file),
        "--zone", node.zone,
    )  # fmt: skip
    if node.zone == "public":
        argv += ("--default-role", PUBLIC_ROLE)
    argv += ("--resources", agent_resources(cpus=facts.cpus, mem_mb=mem_mb, ports=ports))
    # Tasks resolve through the dns beside each master (the agent's own mount namespace holds a
    # resolv.conf naming them), as DC/OS agents' /etc/resolv.conf does.
    for i in range(1, options.masters + 1):
        argv += ("--task-nameserver", node_ip(options.net, "master", i))
    return _spec(options, node, "agent", stage=STAGE_AGENTS, port=AGENT_PORT, argv=argv, url=url,
                 health_path="/health")


def _marathon_daemon(options: ClusterOptions, facts: MachineFacts, node: NodeSpec, *, masters: str) -> DaemonSpec:
    work_dir, log_file = _paths(options, node, "marathon")
    url = f"http://{node.ip}:{MARATHON_PORT}"
    argv: tuple[str, ...] = (
        facts.python, "-m", "pydcos.marathon",
        "--ip", node.ip,
        "--port", str(MARATHON_PORT),
        "--master", masters,
        "--work-dir", str(work_dir),
        "--log-file", str(log_file),
        "--hostname", node.ip,
    )  # fmt: skip
    return _spec(options, node, "marathon", stage=STAGE_MANAGEMENT, port=MARATHON_PORT, argv=argv, url=url,
                 health_path="/ping")


def _dns_daemon(options: ClusterOptions, facts: MachineFacts, node: NodeSpec, *, masters: str) -> DaemonSpec:
    work_dir, log_file = _paths(options, node, "dns")
    url = f"http://{node.ip}:{DNS_HTTP_PORT}"
    argv: tuple[str, ...] = (
        facts.python, "-m", "pydcos.dns",
        "--ip", node.ip,
        "--port", str(DNS_PORT),
        "--http-port", str(DNS_HTTP_PORT),
        "--masters", masters,
        "--log-file", str(log_file),
    )  # fmt: skip
    if not options.dns_forward:
        argv += ("--no-forward",)
    return _spec(options, node, "dns", stage=STAGE_MANAGEMENT, port=DNS_PORT, argv=argv, url=url,
                 health_path="/health")


def _adminrouter_daemon(
    options: ClusterOptions, facts: MachineFacts, node: NodeSpec, *, masters: str
) -> DaemonSpec:
    """nginx on NODE:80 with the identity service on NODE:8101, in front of the master, Marathon
    and dns beside it. Its url is the cluster's `dcos_url`: no `:80`, as the dcos CLI wants it."""
    work_dir, log_file = _paths(options, node, "adminrouter")
    argv: tuple[str, ...] = (
        facts.python, "-m", "pydcos.adminrouter",
        "--ip", node.ip,
        "--port", str(ADMINROUTER_PORT),
        "--identity-port", str(IDENTITY_PORT),
        "--masters", masters,
        "--marathon", f"{node.ip}:{MARATHON_PORT}",
        "--dns", f"{node.ip}:{DNS_PORT}",
        "--dns-http", f"{node.ip}:{DNS_HTTP_PORT}",
        "--work-dir", str(work_dir),
        "--log-file", str(log_file),
    )  # fmt: skip
    url = f"http://{node.ip}"
    return _spec(options, node, "adminrouter", stage=STAGE_MANAGEMENT, port=ADMINROUTER_PORT, argv=argv, url=url,
                 health_path="/adminrouter/health")
