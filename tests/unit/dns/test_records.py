"""Record generation from recorded master states: the Mesos-DNS naming scheme, as a pure function."""

from __future__ import annotations

import msgspec
import pytest
from dns_testdata import MASTERS, check_golden

from pydcos.dns.master_view import AgentView, DiscoveryPort, FrameworkView, MasterView, TaskView
from pydcos.dns.records import (
    RecordConfig,
    RecordSet,
    enumerate_json,
    generate,
    master_records,
    task_records,
)

CFG = RecordConfig(masters=MASTERS, ns_addresses=("127.0.0.1",))
AGENT = AgentView("m-S4", "10.0.0.4", 5051, "10.0.0.4")
MARATHON = FrameworkView("m-0000", "marathon", "10.0.0.1", None)


def render(rs: RecordSet) -> str:
    lines = [f"A    {name} {ip}" for name, ips in rs.a.items() for ip in ips]
    lines += [f"SRV  {name} {target}:{port}" for name, targets in rs.srv.items() for target, port in targets]
    return "\n".join(lines) + "\n"


def test_recorded_state_golden(state_view: MasterView, update_golden: bool) -> None:
    check_golden("records.txt", render(generate(state_view, CFG)), update_golden)


def test_v1_snapshot_gives_the_same_records_as_state_json(state_view: MasterView, v1_view: MasterView) -> None:
    assert render(generate(v1_view, CFG)) == render(generate(state_view, CFG))


def test_recorded_names(state_view: MasterView) -> None:
    rs = generate(state_view, CFG)
    # Three instances of `web`, one with its own container IP, which the shared name prefers.
    assert rs.a["web.marathon.mesos."] == ["127.0.2.1", "9.0.0.7"]
    assert rs.a["web.marathon.slave.mesos."] == ["127.0.2.1", "127.0.2.2"]
    assert len(rs.srv["_web._tcp.marathon.mesos."]) == 3
    # Task names are sanitised; framework names keep their dots.
    assert "api-server-prod.marathon.mesos." in rs.a
    assert "nightly.my-framework.v2.mesos." in rs.a
    # A finished task has no records.
    assert not [n for n in rs.a if n.startswith("finished")]
    assert rs.a["leader.mesos."] == ["127.0.0.1"]
    assert rs.a["master.mesos."] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert rs.srv["_leader._udp.mesos."] == [("leader.mesos.", 5050)]
    assert rs.a["slave.mesos."] == rs.a["agent.mesos."] == ["127.0.2.1", "127.0.2.2"]
    assert rs.a["marathon.mesos."] == ["127.0.0.1"]
    assert "my-framework.v2.mesos." not in rs.a  # no scheduler address known


def _task(**kw: object) -> TaskView:
    fields: dict[str, object] = {"id": "web.1", "name": "web", "framework_id": "m-0000", "agent_id": "m-S4",
                                 "state": "TASK_RUNNING", "ports": (31000,)}
    fields.update(kw)
    return TaskView(**fields)  # type: ignore[arg-type]


def test_task_names_canonical_forms_and_srv_targets() -> None:
    recs = task_records(_task(), AGENT, MARATHON, CFG)
    a = dict.fromkeys(n for n, _ in recs.a)
    assert list(a) == ["web.marathon.mesos.", "web-e844k-s4.marathon.mesos.",
                       "web.marathon.slave.mesos.", "web-e844k-s4.marathon.slave.mesos."]
    assert {n for n, _, _ in recs.srv} == {"_web._tcp.marathon.slave.mesos.", "_web._udp.marathon.slave.mesos.",
                                           "_web._tcp.marathon.mesos.", "_web._udp.marathon.mesos."}
    assert {(t, p) for _, t, p in recs.srv} == {("web-e844k-s4.marathon.slave.mesos.", 31000)}


@pytest.mark.parametrize("state", ["TASK_STAGING", "TASK_STARTING", "TASK_KILLING", "TASK_UNREACHABLE"])
def test_only_running_tasks_have_records(state: str) -> None:
    assert task_records(_task(state=state), AGENT, MARATHON, CFG).a == ()


def test_task_on_unknown_agent_or_framework_has_no_records() -> None:
    assert task_records(_task(), None, MARATHON, CFG).a == ()
    assert task_records(_task(), AGENT, None, CFG).a == ()
    assert task_records(_task(), msgspec.structs.replace(AGENT, ip=None), MARATHON, CFG).a == ()


def test_ip_sources_in_priority_order() -> None:
    task = _task(netinfo_ips=("9.0.0.1",), mesos_ips=("9.0.0.2",), docker_ips=("9.0.0.3",))
    ips = {n: ip for n, ip in task_records(task, AGENT, MARATHON, CFG).a}
    assert ips["web.marathon.mesos."] == "9.0.0.1"
    assert ips["web.marathon.slave.mesos."] == "10.0.0.4"
    docker_first = msgspec.structs.replace(CFG, ip_sources=("docker", "host"))
    assert {n: ip for n, ip in task_records(task, AGENT, MARATHON, docker_first).a}["web.marathon.mesos."] == "9.0.0.3"
    host_only = msgspec.structs.replace(CFG, ip_sources=("host",))
    assert {n: ip for n, ip in task_records(task, AGENT, MARATHON, host_only).a}["web.marathon.mesos."] == "10.0.0.4"


def test_discovery_info_names_and_ports() -> None:
    task = _task(discovery_name="Postgres DB", discovery_ports=(DiscoveryPort(5432, "TCP", "sql"),))
    recs = task_records(task, AGENT, MARATHON, CFG)
    srv = {(n, t, p) for n, t, p in recs.srv}
    canonical = "postgresdb-e844k-s4"
    assert ("_postgresdb._tcp.marathon.mesos.", f"{canonical}.marathon.mesos.", 5432) in srv
    assert ("_sql._postgresdb._tcp.marathon.mesos.", f"{canonical}.marathon.mesos.", 5432) in srv
    # Host ports only under .slave when DiscoveryInfo is there.
    assert ("_postgresdb._tcp.marathon.slave.mesos.", f"{canonical}.marathon.slave.mesos.", 31000) in srv
    assert not any(n == "_postgresdb._udp.marathon.mesos." for n, _, _ in srv)


def test_names_too_long_for_the_wire_are_left_out() -> None:
    task = _task(name="x" * 63)
    names = [n for n, _ in task_records(task, AGENT, MARATHON, CFG).a]
    assert names == [f"{'x' * 63}.marathon.mesos.", f"{'x' * 63}.marathon.slave.mesos."]


@pytest.mark.parametrize(("masters", "leader", "expected"), [
    ((), None, []),
    ((), "6.0.0.1:7", [("leader", "6.0.0.1"), ("master", "6.0.0.1"), ("master0", "6.0.0.1")]),
    (("6.0.0.1:7",), "6.0.0.1:7", [("leader", "6.0.0.1"), ("master", "6.0.0.1"), ("master0", "6.0.0.1")]),
    (("8.0.0.1:9",), "6.0.0.1:7",
     [("leader", "6.0.0.1"), ("master", "6.0.0.1"), ("master", "8.0.0.1"), ("master0", "8.0.0.1"),
      ("master1", "6.0.0.1")]),
    (("8.0.0.1:9", "6.0.0.1:7", "6.0.0.1:7"), "6.0.0.1:7",
     [("leader", "6.0.0.1"), ("master", "6.0.0.1"), ("master", "8.0.0.1"), ("master0", "8.0.0.1"),
      ("master1", "6.0.0.1")]),
    (("8.0.0.1:9",), None, [("master", "8.0.0.1"), ("master0", "8.0.0.1")]),
])
def test_master_numbering_as_mesos_dns(masters: tuple[str, ...], leader: str | None,
                                       expected: list[tuple[str, str]]) -> None:
    recs = master_records(leader, RecordConfig(masters=masters))
    assert sorted((n.split(".")[0], ip) for n, ip in recs.a) == sorted(expected)
    if leader:
        assert {n for n, _, _ in recs.srv} == {"_leader._tcp.mesos.", "_leader._udp.mesos."}


def test_other_domain_and_rfc952() -> None:
    cfg = RecordConfig(domain="DC1.Example", enforce_rfc952=True)
    names = [n for n, _ in task_records(_task(name="9-Web_App"), AGENT, MARATHON, cfg).a]
    assert names[0] == "web-app.marathon.dc1.example."


def test_enumerate_lists_running_tasks_with_their_records(state_view: MasterView) -> None:
    records = {t.key: task_records(t, state_view.agents.get(t.agent_id), state_view.frameworks.get(t.framework_id),
                                   CFG) for t in state_view.tasks.values()}
    out = enumerate_json(state_view, records)
    names = {fw["name"]: [t["name"] for t in fw["tasks"]] for fw in out["frameworks"]}
    assert names == {"marathon": ["web", "web", "web", "API_Server.Prod!", "db-task"], "My_Framework.v2": ["nightly"]}
    row = out["frameworks"][0]["tasks"][0]["records"][0]
    assert row == {"name": "web.marathon.mesos.", "host": "127.0.2.1", "rtype": "A"}
