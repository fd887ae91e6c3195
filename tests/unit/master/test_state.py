"""The master's pure core driven directly: no sockets, no loop, a hand-moved clock."""

from __future__ import annotations

import msgspec
import pytest

from pydcos.core.clock import FakeClock
from pydcos.core.ids import IdFactory
from pydcos.mesos import internal
from pydcos.mesos.master import agent_messages, scheduler_calls
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.registry import CloseStream, SendEvent, SendToAgent
from pydcos.mesos.master.state import MasterState
from pydcos.mesos.resources import Resources, flatten, from_v1
from pydcos.mesos.v1 import messages as v1


def make_state(**overrides: object) -> tuple[MasterState, FakeClock]:
    clock = FakeClock()
    config = MasterConfig(ip="127.0.1.1", offer_timeout=30.0, agent_unreachable_timeout=15.0, **overrides)  # type: ignore[arg-type]
    return MasterState(config, clock, IdFactory("M")), clock


def register_agent(state: MasterState, ip: str = "127.0.2.1", resources: str = "cpus:4;mem:4096;ports:[31000-31009]",
                   role: str = "*", agent_id: str | None = None,
                   tasks: list[internal.TaskRecord] | None = None) -> str:
    msg = internal.RegisterAgent(
        info=v1.AgentInfo(hostname=ip, resources=Resources.parse(resources).to_v1(role)), ip=ip, port=5051,
        agent_id=agent_id, tasks=tasks or [])
    agent_id, _ = agent_messages.register(state, msg)
    return agent_id


def subscribe(state: MasterState, name: str = "fw", **info: object) -> str:
    fid, out = state.subscribe(v1.FrameworkInfo(user="root", name=name, **info), None, "stream-" + name)  # type: ignore[arg-type]
    assert fid is not None
    kinds = [i.event.type for i in out if isinstance(i, SendEvent)]
    assert kinds[:2] == ["SUBSCRIBED", "HEARTBEAT"]
    return fid


def offers_of(out: list[object], framework_id: str) -> list[v1.Offer]:
    return [o for i in out if isinstance(i, SendEvent) and i.framework_id == framework_id
            and i.event.type == "OFFERS" and i.event.offers for o in i.event.offers.offers]


def updates_of(out: list[object]) -> list[v1.TaskStatus]:
    return [i.event.update.status for i in out
            if isinstance(i, SendEvent) and i.event.type == "UPDATE" and i.event.update]


def call(kind: str, fid: str, **payload: object) -> v1.Call:
    return msgspec.convert({"type": kind, "framework_id": {"value": fid}, **payload}, v1.Call)


def launch(state: MasterState, fid: str, offer: v1.Offer, *tasks: dict[str, object]) -> list[object]:
    fw = state.frameworks[fid]
    c = call("ACCEPT", fid, accept={"offer_ids": [{"value": offer.id.value}],
                                    "operations": [{"type": "LAUNCH", "launch": {"task_infos": list(tasks)}}]})
    return list(scheduler_calls.handle_call(state, fw, c))


def task(task_id: str, agent_id: str, cpus: float = 1.0, mem: float = 128.0, **extra: object) -> dict[str, object]:
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": agent_id},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}],
            "command": {"value": "sleep 10"}, **extra}


def agent_update(state: MasterState, agent_id: str, fid: str, task_id: str, st: str, uuid: str = "AAAAAAAAAAAAAAAAAAAAAA==") -> list[object]:
    status = v1.TaskStatus(task_id=v1.Id(task_id), state=st, agent_id=v1.Id(agent_id), uuid=uuid)  # type: ignore[arg-type]
    return list(agent_messages.status_updates(state, agent_id, internal.StatusUpdates([internal.StatusUpdate(fid, status)])))


def test_offer_whole_agent_then_launch_consumes_and_returns_rest() -> None:
    state, _ = make_state()
    aid = register_agent(state)
    fid = subscribe(state)
    [offer] = offers_of(state.allocate(), fid)
    assert offer.agent_id.value == aid
    out = launch(state, fid, offer, task("t1", aid, cpus=1, mem=128))
    [run] = [i.message for i in out if isinstance(i, SendToAgent)]
    assert isinstance(run, internal.RunTasks) and run.launches[0].task.task_id.value == "t1"
    assert state.frameworks[fid].tasks["t1"].state == "TASK_STAGING"
    # The unused 3 cpus are filtered for 5 s (the default), then offered again.
    assert offers_of(state.allocate(), fid) == []
    state.validate()


def test_remaining_resources_come_back_after_filter_expires() -> None:
    state, clock = make_state()
    aid = register_agent(state)
    fid = subscribe(state)
    [offer] = offers_of(state.allocate(), fid)
    launch(state, fid, offer, task("t1", aid, cpus=1, mem=128))
    clock.advance(5.0)
    [again] = offers_of(state.allocate(), fid)
    cpus = sum(r.scalar.value for r in again.resources if r.name == "cpus" and r.scalar)
    assert cpus == pytest.approx(3.0)


def test_invalid_tasks_error_and_leave_the_rest_running() -> None:
    state, _ = make_state()
    aid = register_agent(state)
    fid = subscribe(state)
    [offer] = offers_of(state.allocate(), fid)
    out = launch(state, fid, offer, task("big", aid, cpus=100), task("ok", aid), task("ok", aid),
                 task("other-agent", "S-nope"))
    errors = {(u.task_id.value, u.state) for u in updates_of(out)}
    assert errors == {("big", "TASK_ERROR"), ("ok", "TASK_ERROR"), ("other-agent", "TASK_ERROR")}
    assert all(u.uuid is None and u.agent_id is not None for u in updates_of(out))
    assert set(state.frameworks[fid].tasks) == {"ok"}


def test_ports_cannot_be_used_twice_in_one_accept() -> None:
    state, _ = make_state()
    aid = register_agent(state)
    fid = subscribe(state)
    [offer] = offers_of(state.allocate(), fid)
    port = [{"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31000}]}}]
    a = task("a", aid)
    a["resources"] = list(a["resources"]) + port  # type: ignore[arg-type]
    b = task("b", aid)
    b["resources"] = list(b["resources"]) + port  # type: ignore[arg-type]
    out = launch(state, fid, offer, a, b)
    assert [(u.task_id.value, u.state) for u in updates_of(out)] == [("b", "TASK_ERROR")]


def test_unknown_offer_drops_tasks_with_invalid_offers_reason() -> None:
    state, _ = make_state()
    aid = register_agent(state)
    fid = subscribe(state)
    fake = v1.Offer(id=v1.Id("M-O999"), framework_id=v1.Id(fid), agent_id=v1.Id(aid), hostname="h")
    [update] = updates_of(launch(state, fid, fake, task("t", aid)))
    assert (update.state, update.reason) == ("TASK_LOST", "REASON_INVALID_OFFERS")
    aware = subscribe(state, "aware", capabilities=[v1.Capability("PARTITION_AWARE")])
    fake2 = v1.Offer(id=v1.Id("M-O998"), framework_id=v1.Id(aware), agent_id=v1.Id(aid), hostname="h")
    [update] = updates_of(launch(state, aware, fake2, task("t", aid)))
    assert update.state == "TASK_DROPPED"


def test_status_updates_forwarded_terminal_frees_resources_ack_completes() -> None:
    state, _ = make_state()
    aid = register_agent(state)
    fid = subscribe(state)
    [offer] = offers_of(state.allocate(), fid)
    launch(state, fid, offer, task("t1", aid, cpus=4, mem=4096))
    [running] = updates_of(agent_update(state, aid, fid, "t1", "TASK_RUNNING", "AQEBAQEBAQEBAQEBAQEBAQ=="))
    assert running.uuid == "AQEBAQEBAQEBAQEBAQEBAQ=="
    out = agent_update(state, aid, fid, "t1", "TASK_FINISHED", "AgICAgICAgICAgICAgICAg==")
    assert updates_of(out)[0].state == "TASK_FINISHED"
    assert aid in state.dirty_agents
    fw = state.frameworks[fid]
    assert "t1" in fw.tasks  # until acknowledged
    ack = call("ACKNOWLEDGE", fid, acknowledge={"agent_id": {"value": aid}, "task_id": {"value": "t1"},
                                               "uuid": "AgICAgICAgICAgICAgICAg=="})
    out2 = list(scheduler_calls.handle_call(state, fw, ack))
    assert [type(i.message) for i in out2 if isinstance(i, SendToAgent)] == [internal.AcknowledgeUpdates]
    assert "t1" not in fw.tasks and fw.completed_tasks[-1].state == "TASK_FINISHED"
    state.validate()


def test_one_frame_of_terminal_updates_frees_every_tasks_resources_once() -> None:
    """The resources of a frame's terminal updates go back summed per framework; a repeated
    terminal update frees nothing twice."""
    state, _ = make_state()
    aid = register_agent(state, resources="cpus:4;mem:4096;ports:[31000-31009]")
    fid = subscribe(state)
    [offer] = offers_of(state.allocate(), fid)
    ports = {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31001}]}}
    with_ports = task("t2", aid, cpus=1, mem=512)
    with_ports["resources"] = [*with_ports["resources"], ports]  # type: ignore[list-item]
    launch(state, fid, offer, task("t1", aid, cpus=1, mem=512), with_ports)
    updates = [internal.StatusUpdate(fid, v1.TaskStatus(task_id=v1.Id(t), state=st, agent_id=v1.Id(aid)))  # type: ignore[arg-type]
               for t, st in (("t1", "TASK_FINISHED"), ("t2", "TASK_FAILED"), ("t1", "TASK_FINISHED"))]
    out = list(agent_messages.status_updates(state, aid, internal.StatusUpdates(updates)))
    assert [u.state for u in updates_of(out)] == ["TASK_FINISHED", "TASK_FAILED", "TASK_FINISHED"]
    state.validate()
    [again] = offers_of(state.allocate(), fid)
    assert flatten(from_v1(again.resources)) == Resources.parse("cpus:4;mem:4096;ports:[31000-31009]")


def test_offer_timeout_rescinds() -> None:
    state, clock = make_state()
    register_agent(state)
    fid = subscribe(state)
    [offer] = offers_of(state.allocate(), fid)
    clock.advance(29.9)
    assert state.tick() == []
    clock.advance(0.1)
    rescinds = [i.event for i in state.tick() if isinstance(i, SendEvent)]
    assert rescinds[0].type == "RESCIND" and rescinds[0].rescind and rescinds[0].rescind.offer_id == offer.id
    assert state.offers == {}


def test_disconnected_agent_becomes_unreachable_after_timeout() -> None:
    state, clock = make_state()
    aid = register_agent(state)
    fid = subscribe(state)
    [offer] = offers_of(state.allocate(), fid)
    launch(state, fid, offer, task("t1", aid))
    agent_update(state, aid, fid, "t1", "TASK_RUNNING")
    agent_messages.agent_disconnected(state, aid)
    clock.advance(14.9)
    assert agent_messages.expire_agents(state) == []
    clock.advance(0.1)
    out = agent_messages.expire_agents(state)
    [lost] = updates_of(out)
    assert (lost.state, lost.reason, lost.uuid) == ("TASK_LOST", "REASON_SLAVE_REMOVED", None)
    assert any(isinstance(i, SendEvent) and i.event.type == "FAILURE" for i in out)
    assert aid in state.unreachable_agents and aid not in state.agents
    state.validate()


def test_agent_reregistration_adopts_reported_tasks_and_loses_missing_ones() -> None:
    state, _ = make_state()
    aid = register_agent(state)
    fid = subscribe(state)
    [offer] = offers_of(state.allocate(), fid)
    launch(state, fid, offer, task("kept", aid), task("vanished", aid))
    agent_messages.agent_disconnected(state, aid)
    kept = state.frameworks[fid].tasks["kept"]
    record = internal.TaskRecord(framework_id=fid, executor_id="kept", task=kept.task, state="TASK_RUNNING")
    msg = internal.RegisterAgent(info=v1.AgentInfo(hostname="127.0.2.1", resources=Resources.parse("cpus:4;mem:4096").to_v1()),
                                 ip="127.0.2.1", port=5051, agent_id=aid, tasks=[record])
    again, out = agent_messages.register(state, msg)
    assert again == aid
    lost = [u for u in updates_of(out) if u.task_id.value == "vanished"]
    assert lost and lost[0].state == "TASK_LOST"
    assert state.frameworks[fid].tasks["kept"].state == "TASK_RUNNING"
    state.validate()


def test_master_restart_learns_frameworks_from_agents() -> None:
    state, _ = make_state()
    info = v1.FrameworkInfo(user="root", name="old", id=v1.Id("F-1"), failover_timeout=60)
    t = msgspec.convert(task("t", "S-1"), v1.TaskInfo)
    record = internal.TaskRecord(framework_id="F-1", executor_id="t", task=t, state="TASK_RUNNING")
    msg = internal.RegisterAgent(info=v1.AgentInfo(hostname="h", resources=Resources.parse("cpus:4;mem:4096").to_v1()),
                                 ip="127.0.2.1", port=5051, agent_id="S-1", frameworks=[info], tasks=[record])
    agent_messages.register(state, msg)
    assert state.frameworks["F-1"].recovered and not state.frameworks["F-1"].connected
    fid, out = state.subscribe(info, "F-1", "s")
    assert fid == "F-1"
    reconcile = call("RECONCILE", "F-1", reconcile={"tasks": []})
    [update] = updates_of(list(scheduler_calls.handle_call(state, state.frameworks["F-1"], reconcile)))
    assert (update.state, update.reason) == ("TASK_RUNNING", "REASON_RECONCILIATION")
    state.validate()


def test_failover_timeout_tears_down_and_kills() -> None:
    state, clock = make_state()
    aid = register_agent(state)
    fid = subscribe(state, failover_timeout=10.0)
    [offer] = offers_of(state.allocate(), fid)
    launch(state, fid, offer, task("t1", aid))
    clock.advance(5.0)
    assert offers_of(state.allocate(), fid)  # an outstanding offer at teardown time
    state.disconnected(fid, "stream-fw")
    clock.advance(9.0)
    assert state.tick() == []
    clock.advance(1.0)
    out = state.tick()
    assert [type(i.message) for i in out if isinstance(i, SendToAgent)] == [internal.ShutdownFramework]
    assert fid not in state.frameworks and state.completed_frameworks[-1].id == fid
    state.validate()
    assert state.subscribe(v1.FrameworkInfo(user="root", name="fw"), fid, "x") == (None, [])


def test_failover_to_new_stream_closes_old_one() -> None:
    state, _ = make_state()
    fid = subscribe(state)
    _, out = state.subscribe(v1.FrameworkInfo(user="root", name="fw"), fid, "stream-2")
    assert CloseStream(fid, "stream-fw") in out
    assert state.frameworks[fid].stream_id == "stream-2"


def test_public_agent_reservations_only_for_slave_public() -> None:
    state, _ = make_state()
    register_agent(state, ip="127.0.3.1", role="slave_public")
    star = subscribe(state, "star")
    public = subscribe(state, "public", role="slave_public")
    out = state.allocate()
    assert offers_of(out, star) == []
    [offer] = offers_of(out, public)
    assert {r.role for r in offer.resources} == {"slave_public"}


def test_kill_unknown_task_answers_lost() -> None:
    state, _ = make_state()
    fid = subscribe(state)
    out = scheduler_calls.handle_call(state, state.frameworks[fid], call("KILL", fid, kill={"task_id": {"value": "x"}}))
    [update] = updates_of(list(out))
    assert update.state == "TASK_LOST"


def test_bad_agent_registration_refused() -> None:
    state, _ = make_state()
    bad = internal.RegisterAgent(info=v1.AgentInfo(hostname="h", resources=[]), ip="127.0.2.1", port=5051)
    with pytest.raises(agent_messages.RegistrationRefused):
        agent_messages.register(state, bad)
    neg = internal.RegisterAgent(
        info=v1.AgentInfo(hostname="h", resources=[v1.Resource(name="cpus", scalar=v1.Scalar(-1))]),
        ip="127.0.2.1", port=5051)
    with pytest.raises(agent_messages.RegistrationRefused):
        agent_messages.register(state, neg)
    assert state.agents == {}


def test_teardown_reaches_agents_whose_tasks_already_finished() -> None:
    """An executor can outlive its tasks: its agent hears the teardown too."""
    state, _ = make_state()
    aid = register_agent(state)
    fid = subscribe(state)
    [offer] = offers_of(state.allocate(), fid)
    launch(state, fid, offer, task("t1", aid))
    agent_update(state, aid, fid, "t1", "TASK_FINISHED", "AgICAgICAgICAgICAgICAg==")
    fw = state.frameworks[fid]
    ack = call("ACKNOWLEDGE", fid, acknowledge={"agent_id": {"value": aid}, "task_id": {"value": "t1"},
                                               "uuid": "AgICAgICAgICAgICAgICAg=="})
    scheduler_calls.handle_call(state, fw, ack)
    assert not fw.tasks
    out = state.teardown(fid)
    assert [(i.agent_id, type(i.message)) for i in out if isinstance(i, SendToAgent)] == [
        (aid, internal.ShutdownFramework)]
