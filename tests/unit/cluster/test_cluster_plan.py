"""The local cluster's plan: addresses, ports, roles, command lines, stages. Pure, no processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pydcos.cluster.plan import (
    MAX_AGENTS,
    ClusterOptions,
    ClusterPlan,
    DaemonSpec,
    MachineFacts,
    PlanError,
    agent_mem_mb,
    node_ip,
    normalize_net,
    plan_cluster,
    task_port_range,
    validate_options,
)

FACTS = MachineFacts(python="/venv/bin/python", cpus=4, mem_mb=8192)
DIR = Path("/tmp/c")


def plan(**kw: object) -> ClusterPlan:
    return plan_cluster(ClusterOptions(dir=DIR, **kw), FACTS)  # type: ignore[arg-type]


def flag(d: DaemonSpec, name: str) -> str:
    return d.argv[d.argv.index(name) + 1]


def test_default_cluster_has_one_master_two_private_and_one_public_agent() -> None:
    p = plan()
    assert [(n.name, n.kind, n.zone, n.ip) for n in p.nodes] == [
        ("master-1", "master", "master", "127.0.1.1"),
        ("agent-1", "agent", "private", "127.0.2.1"),
        ("agent-2", "agent", "private", "127.0.2.2"),
        ("public-agent-1", "public-agent", "public", "127.0.3.1"),
    ]
    assert [d.key for d in p.daemons] == [
        "master-1/master",
        "agent-1/agent",
        "agent-2/agent",
        "public-agent-1/agent",
        "master-1/marathon",
        "master-1/dns",
        "master-1/adminrouter",
    ]


def test_master_command_line_is_exactly_the_daemons_interface() -> None:
    (master,) = plan().of_kind("master")
    assert master.argv == (
        "/venv/bin/python", "-m", "pydcos.mesos.master",
        "--ip", "127.0.1.1",
        "--port", "5050",
        "--work-dir", "/tmp/c/nodes/master-1/master",
        "--log-file", "/tmp/c/logs/master-1/master.log",
        "--hostname", "127.0.1.1",
    )  # fmt: skip
    assert master.url == "http://127.0.1.1:5050"
    assert master.health_url == "http://127.0.1.1:5050/health"


def test_private_agent_command_line() -> None:
    agent = plan().daemon("agent-2/agent")
    mem = agent_mem_mb(8192, 3)
    assert agent.argv == (
        "/venv/bin/python", "-m", "pydcos.mesos.agent",
        "--ip", "127.0.2.2",
        "--port", "5051",
        "--master", "127.0.1.1:5050",
        "--work-dir", "/tmp/c/nodes/agent-2/agent",
        "--log-file", "/tmp/c/logs/agent-2/agent.log",
        "--zone", "private",
        "--resources", f"cpus:4;mem:{mem};disk:10000;ports:[32000-32999]",
        "--task-nameserver", "127.0.1.1",
    )  # fmt: skip
    assert agent.health_url == "http://127.0.2.2:5051/health"


def test_public_agent_gets_zone_public_and_role_slave_public() -> None:
    agent = plan().daemon("public-agent-1/agent")
    assert flag(agent, "--zone") == "public"
    assert flag(agent, "--default-role") == "slave_public"
    assert flag(agent, "--resources").endswith("ports:[33000-33999]")
    assert all("--default-role" not in d.argv for d in plan().of_kind("agent") if d.node.startswith("agent-"))


def test_task_port_ranges_go_private_agents_first() -> None:
    p = plan(agents=3, public_agents=2)
    ranges = {d.node: flag(d, "--resources").rsplit("ports:", 1)[1] for d in p.of_kind("agent")}
    assert ranges == {
        "agent-1": "[31000-31999]",
        "agent-2": "[32000-32999]",
        "agent-3": "[33000-33999]",
        "public-agent-1": "[34000-34999]",
        "public-agent-2": "[35000-35999]",
    }


@given(st.integers(0, MAX_AGENTS), st.integers(0, MAX_AGENTS))
def test_task_port_ranges_are_disjoint_and_valid(agents: int, public: int) -> None:
    assume(1 <= agents + public <= MAX_AGENTS)
    p = plan(agents=agents, public_agents=public)
    spans = sorted(
        tuple(int(x) for x in flag(d, "--resources").rsplit("ports:[", 1)[1].rstrip("]").split("-"))
        for d in p.of_kind("agent")
    )
    assert len(spans) == agents + public
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(1024 < lo <= hi <= 65535 for lo, hi in spans)


@given(st.integers(0, MAX_AGENTS), st.integers(0, MAX_AGENTS))
def test_every_daemon_has_its_own_address(agents: int, public: int) -> None:
    assume(1 <= agents + public <= MAX_AGENTS)
    p = plan(agents=agents, public_agents=public)
    addresses = [(d.ip, d.port) for d in p.daemons]
    assert len(set(addresses)) == len(addresses)
    assert len({n.name for n in p.nodes}) == len(p.nodes)


def test_node_ip_per_kind_and_block() -> None:
    assert node_ip("127.0", "master", 2) == "127.0.1.2"
    assert node_ip("127.0", "agent", 1) == "127.0.2.1"
    assert node_ip("127.11", "public-agent", 3) == "127.11.3.3"
    with pytest.raises(PlanError):
        node_ip("127.0", "agent", 255)


def test_test_block_moves_every_address() -> None:
    p = plan(net="127.11")
    assert [d.ip for d in p.daemons] == [
        "127.11.1.1", "127.11.2.1", "127.11.2.2", "127.11.3.1", "127.11.1.1", "127.11.1.1", "127.11.1.1"]
    assert all(flag(d, "--master") == "127.11.1.1:5050" for d in p.of_kind("agent"))


def test_stages_start_masters_before_agents() -> None:
    stages = plan().stages()
    assert [[d.key for d in s] for s in stages] == [
        ["master-1/master"],
        ["agent-1/agent", "agent-2/agent", "public-agent-1/agent"],
        ["master-1/marathon", "master-1/dns", "master-1/adminrouter"],
    ]


def test_marathon_and_dns_run_beside_each_master() -> None:
    p = plan()
    marathon = p.daemon("master-1/marathon")
    assert (marathon.ip, marathon.port, marathon.health_url) == ("127.0.1.1", 8080, "http://127.0.1.1:8080/ping")
    assert flag(marathon, "--master") == "127.0.1.1:5050"
    dns = p.daemon("master-1/dns")
    assert (dns.port, flag(dns, "--http-port"), dns.health_url) == (53, "8123", "http://127.0.1.1:8123/health")
    assert flag(dns, "--masters") == "127.0.1.1:5050"
    assert "--no-forward" not in dns.argv
    assert "--no-forward" in plan(dns_forward=False).daemon("master-1/dns").argv


def test_adminrouter_runs_beside_each_master_on_port_80() -> None:
    p = plan(extra_args={"master-1/adminrouter": ["--auth-cache", "1"]})
    router = p.daemon("master-1/adminrouter")
    assert (router.ip, router.port, router.url) == ("127.0.1.1", 80, "http://127.0.1.1")
    assert router.health_url == "http://127.0.1.1/adminrouter/health"
    assert router.argv[1:3] == ("-m", "pydcos.adminrouter")
    assert (flag(router, "--masters"), flag(router, "--marathon")) == ("127.0.1.1:5050", "127.0.1.1:8080")
    assert (flag(router, "--dns"), flag(router, "--dns-http")) == ("127.0.1.1:53", "127.0.1.1:8123")
    assert flag(router, "--identity-port") == "8101"
    assert router.argv[-2:] == ("--auth-cache", "1")


def test_memory_is_split_between_agents_after_a_reserve() -> None:
    assert agent_mem_mb(8192, 2) == (8192 - 1024) // 2
    assert agent_mem_mb(1024, 1) == 512  # small machine: keep back half
    assert agent_mem_mb(100, 100) == 32  # never nothing


def test_extra_args_reach_only_the_named_daemon() -> None:
    p = plan(extra_args={"agent-2/agent": ["--no-such-flag"]})
    assert p.daemon("agent-2/agent").argv[-1] == "--no-such-flag"
    assert all("--no-such-flag" not in d.argv for d in p.daemons if d.key != "agent-2/agent")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"masters": 3}, "only 1 is supported"),
        ({"agents": 0, "public_agents": 0}, "at least one agent"),
        ({"agents": 255}, "agents: 255 is out of range"),
        ({"agents": 30, "public_agents": 5}, "fit only 34"),
        ({"public_agents": -1}, "public agents: -1"),
        ({"net": "10.0"}, "loopback block"),
        ({"net": "127.256"}, "loopback block"),
        ({"net": "127.0.1"}, "loopback block"),
        ({"extra_args": {"agent-9/agent": ["-x"]}}, "unknown daemon 'agent-9/agent'"),
    ],
)
def test_bad_options_are_named(options: dict[str, object], problem: str) -> None:
    problems = validate_options(ClusterOptions(dir=DIR, **options))  # type: ignore[arg-type]
    assert any(problem in p for p in problems), problems
    with pytest.raises(PlanError, match="."):
        plan(**options)


def test_relative_dir_is_refused() -> None:
    assert validate_options(ClusterOptions(dir=Path("rel"))) == ["dir must be an absolute path, got 'rel'"]


def test_net_shorthand() -> None:
    assert normalize_net("127") == "127.0"
    assert normalize_net("127.11") == "127.11"


def test_task_port_range_of_first_agents() -> None:
    assert task_port_range(0) == (31000, 31999)
    assert task_port_range(4) == (35000, 35999)
