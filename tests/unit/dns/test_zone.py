"""The catalog keeps records in step with events, one change at a time, and ends where a full
generation from the same view ends; snapshots with replayed events converge on the stream."""

from __future__ import annotations

import copy
from typing import Any

import dns.message
import msgspec
from dns_testdata import MASTERS
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcos.dns.fastpath import FastPath
from pydcos.dns.master_view import EVENT_DECODER, Event, MasterView
from pydcos.dns.records import RecordConfig, generate
from pydcos.dns.zone import Catalog, Zone

CFG = RecordConfig(masters=MASTERS, ns_addresses=("127.0.0.1",))
Json = dict[str, Any]


def event(data: Json) -> Event:
    return EVENT_DECODER.decode(msgspec.json.encode(data))


def agent_added(agent_id: str, ip: str) -> Json:
    return {"type": "AGENT_ADDED", "agent_added": {"agent": {
        "agent_info": {"id": {"value": agent_id}, "hostname": ip, "port": 5051}, "pid": f"slave(1)@{ip}:5051"}}}


def framework_added(fid: str, name: str, host: str = "") -> Json:
    return {"type": "FRAMEWORK_ADDED", "framework_added": {"framework": {
        "framework_info": {"id": {"value": fid}, "name": name, "hostname": host}}}}


def task_added(fid: str, tid: str, name: str, agent: str, state: str = "TASK_STAGING",
               ports: tuple[int, ...] = ()) -> Json:
    resources = [{"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": p, "end": p} for p in ports]}}]
    return {"type": "TASK_ADDED", "task_added": {"task": {
        "name": name, "task_id": {"value": tid}, "framework_id": {"value": fid}, "agent_id": {"value": agent},
        "state": state, "resources": resources, "statuses": []}}}


def task_updated(fid: str, tid: str, state: str, ip: str | None = None) -> Json:
    status: Json = {"task_id": {"value": tid}, "state": state, "timestamp": 1.0}
    if ip:
        status["container_status"] = {"network_infos": [{"ip_addresses": [{"ip_address": ip}]}]}
    return {"type": "TASK_UPDATED", "task_updated": {"framework_id": {"value": fid}, "status": status,
                                                      "state": state}}


def answered(reply: bytes | None) -> set[str] | None:
    if reply is None:
        return None
    msg = dns.message.from_wire(reply)
    return {rdata.to_text() for section in (msg.answer, msg.additional) for rrset in section for rdata in rrset}


def as_sets(zone: Zone) -> tuple[dict[str, set[str]], dict[str, set[tuple[str, int]]]]:
    return ({n: set(v) for n, v in zone.a.items()}, {n: set(v) for n, v in zone.srv.items()})


def full_sets(view: MasterView) -> tuple[dict[str, set[str]], dict[str, set[tuple[str, int]]]]:
    rs = generate(view, CFG)
    return ({n: set(v) for n, v in rs.a.items()}, {n: set(v) for n, v in rs.srv.items()})


def existing_names(zone: Zone) -> set[str]:
    out = set()
    for name in [*zone.a, *zone.srv]:
        while name != zone.origin:
            out.add(name)
            name = name.split(".", 1)[1]
    return out


def test_task_running_then_killed() -> None:
    cat = Catalog(CFG)
    for e in [agent_added("a1", "10.0.0.1"), framework_added("f1", "marathon"),
              task_added("f1", "t1", "web", "a1", ports=(31000,))]:
        cat.apply(event(e))
    assert "web.marathon.mesos." not in cat.zone.a
    cat.zone.take_dirty()
    cat.apply(event(task_updated("f1", "t1", "TASK_RUNNING")))
    assert cat.zone.a["web.marathon.mesos."] == {"10.0.0.1": 1}
    dirty = cat.zone.take_dirty()
    assert {"web.marathon.mesos.", "_web._tcp.marathon.mesos.", "marathon.slave.mesos."} <= dirty
    assert cat.zone.exists("marathon.slave.mesos.")  # an empty non-terminal
    assert cat.zone.exists("_tcp.marathon.mesos.")
    cat.apply(event(task_updated("f1", "t1", "TASK_KILLED")))
    assert "web.marathon.mesos." not in cat.zone.a
    assert not cat.zone.exists("marathon.slave.mesos.")
    assert not cat.zone.exists("_tcp.marathon.mesos.")


def test_shared_name_stays_while_one_task_has_it() -> None:
    cat = Catalog(CFG)
    cat.apply(event(agent_added("a1", "10.0.0.1")))
    cat.apply(event(agent_added("a2", "10.0.0.2")))
    cat.apply(event(framework_added("f1", "marathon")))
    for tid, agent in (("t1", "a1"), ("t2", "a2"), ("t3", "a1")):
        cat.apply(event(task_added("f1", tid, "web", agent, "TASK_RUNNING")))
    assert cat.zone.a["web.marathon.mesos."] == {"10.0.0.1": 2, "10.0.0.2": 1}
    cat.apply(event(task_updated("f1", "t1", "TASK_FINISHED")))
    assert cat.zone.a["web.marathon.mesos."] == {"10.0.0.1": 1, "10.0.0.2": 1}
    cat.apply(event(task_updated("f1", "t3", "TASK_FAILED")))
    assert list(cat.zone.a["web.marathon.mesos."]) == ["10.0.0.2"]


def test_agent_moving_redoes_its_tasks_and_their_srv_extras() -> None:
    cat = Catalog(CFG)
    for e in [agent_added("a1", "10.0.0.1"), framework_added("f1", "marathon"),
              task_added("f1", "t1", "web", "a1", "TASK_RUNNING", ports=(31000,))]:
        cat.apply(event(e))
    cat.zone.take_dirty()
    cat.apply(event(agent_added("a1", "10.0.0.9")))
    dirty = cat.zone.take_dirty()
    assert cat.zone.a["web.marathon.mesos."] == {"10.0.0.9": 1}
    assert "_web._tcp.marathon.mesos." in dirty  # same SRV targets, but their addresses moved


def test_framework_removed_takes_its_tasks() -> None:
    cat = Catalog(CFG)
    for e in [agent_added("a1", "10.0.0.1"), framework_added("f1", "marathon", "10.0.0.5"),
              task_added("f1", "t1", "web", "a1", "TASK_RUNNING")]:
        cat.apply(event(e))
    assert cat.zone.a["marathon.mesos."] == {"10.0.0.5": 1}
    cat.apply(event({"type": "FRAMEWORK_REMOVED", "framework_removed": {"framework_info": {
        "id": {"value": "f1"}, "name": "marathon"}}}))
    assert not [n for n in cat.zone.a if "marathon" in n]
    assert not cat.view.tasks


def test_snapshot_equal_to_the_view_changes_nothing(state_view: MasterView) -> None:
    cat = Catalog(CFG)
    cat.load(copy.deepcopy(state_view))
    cat.zone.take_dirty()
    cat.load(copy.deepcopy(state_view))
    assert cat.zone.take_dirty() == set()


# --- properties -----------------------------------------------------------------------------

IDS = st.sampled_from(["t1", "t2", "t3", "t4"])
FWS = st.sampled_from(["f1", "f2"])
AGENTS = st.sampled_from(["a1", "a2", "a3"])
IPS = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3"])
NAMES = st.sampled_from(["web", "Web", "db.x", "web_1", "!!"])
STATES = st.sampled_from(["TASK_RUNNING", "TASK_STAGING", "TASK_KILLED", "TASK_FINISHED", "TASK_LOST"])

EVENTS = st.one_of(
    st.builds(agent_added, AGENTS, IPS),
    st.builds(lambda a: {"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": a}}}, AGENTS),
    st.builds(framework_added, FWS, st.sampled_from(["marathon", "chronos", "Mar.athon"]),
              st.sampled_from(["", "10.0.0.7"])),
    st.builds(lambda f: {"type": "FRAMEWORK_REMOVED", "framework_removed": {"framework_info": {
        "id": {"value": f}}}}, FWS),
    st.builds(task_added, FWS, IDS, NAMES, AGENTS, STATES,
              st.lists(st.integers(31000, 31003), max_size=2).map(tuple)),
    st.builds(task_updated, FWS, IDS, STATES, st.sampled_from([None, "9.0.0.1", "9.0.0.2"])),
    st.just({"type": "HEARTBEAT"}),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(EVENTS, max_size=40))
def test_incremental_records_equal_full_generation(events: list[Json]) -> None:
    cat = Catalog(CFG)
    fast = FastPath(ttl=60)
    fast.update(cat.zone, cat.zone.take_dirty())
    for e in events:
        cat.apply(event(e))
        fast.update(cat.zone, cat.zone.take_dirty())
        for name in [*cat.zone.a, *cat.zone.srv]:  # fills the exact-query cache
            for rdtype in ("A", "SRV"):
                fast.answer(dns.message.make_query(name, rdtype).to_wire())
    assert as_sets(cat.zone) == full_sets(cat.view)
    assert set(cat.zone._present) == existing_names(cat.zone)
    fresh = FastPath(ttl=60)
    fresh.rebuild(cat.zone)
    for name in [*cat.zone.a, *cat.zone.srv, "gone.marathon.mesos."]:
        for rdtype in ("A", "SRV"):
            data = dns.message.make_query(name, rdtype).to_wire()
            assert answered(fast.answer(data)) == answered(fresh.answer(data))
    for exact, reply in fast._exact.items():  # nothing stale is served from the cache
        assert fresh.answer(b"\x00\x00" + exact) == b"\x00\x00" + reply


@settings(max_examples=150, deadline=None)
@given(st.lists(EVENTS, max_size=30), st.data())
def test_snapshot_plus_replayed_events_converges_on_the_stream(events: list[Json], data: st.DataObject) -> None:
    """A poll's snapshot is taken at some point; every event received after its request was sent is
    replayed on top. Whatever those two points, the result is what the stream alone gives."""
    snapshot_at = data.draw(st.integers(0, len(events)))
    replay_from = data.draw(st.integers(0, snapshot_at))
    stream = Catalog(CFG)
    snapshot: MasterView | None = None
    for i, e in enumerate(events):
        if i == snapshot_at:
            snapshot = copy.deepcopy(stream.view)
        stream.apply(event(e))
    if snapshot is None:
        snapshot = copy.deepcopy(stream.view)
    polled = Catalog(CFG)
    for e in events[:replay_from]:  # what the poller had before the snapshot arrived
        polled.apply(event(e))
    polled.load(snapshot)
    for e in events[replay_from:]:
        polled.apply(event(e))
    assert as_sets(polled.zone) == as_sets(stream.zone)


@settings(max_examples=150, deadline=None)
@given(st.lists(EVENTS, max_size=40), st.data())
def test_events_applied_in_batches_end_where_one_by_one_ends(events: list[Json], data: st.DataObject) -> None:
    """The follower applies what one read of the stream brought at once (Catalog.apply_many)."""
    one_by_one, batched = Catalog(CFG), Catalog(CFG)
    for e in events:
        one_by_one.apply(event(e))
    i = 0
    while i < len(events):
        size = data.draw(st.integers(1, len(events) - i))
        batched.apply_many([event(e) for e in events[i:i + size]])
        i += size
    assert as_sets(batched.zone) == as_sets(one_by_one.zone) == full_sets(batched.view)
    assert set(batched.zone._present) == existing_names(batched.zone)


def test_a_task_that_ran_and_ended_within_one_batch_leaves_no_trace() -> None:
    cat = Catalog(CFG)
    cat.apply_many([event(agent_added("a1", "10.0.0.1")), event(framework_added("f1", "marathon"))])
    cat.zone.take_dirty()
    cat.apply_many([event(task_added("f1", "t1", "web", "a1", ports=(31000,))),
                    event(task_updated("f1", "t1", "TASK_RUNNING")),
                    event(task_updated("f1", "t1", "TASK_FINISHED"))])
    assert "web.marathon.mesos." not in cat.zone.a
    assert not [name for name in cat.zone.take_dirty() if "web" in name]
