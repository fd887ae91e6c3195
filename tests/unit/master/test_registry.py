"""The registry, pure: what each transition persists, in which order, and what a restart restores."""

from __future__ import annotations

import ast
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_state import agent_update, call, launch, offers_of, task, updates_of

from pydcos.core.clock import FakeClock
from pydcos.core.ids import IdFactory
from pydcos.mesos import internal
from pydcos.mesos.master import agent_messages, recovery, scheduler_calls, state_json
from pydcos.mesos.master.config import MasterConfig
from pydcos.mesos.master.registry import Instruction, Persist, SendEvent, SendToAgent
from pydcos.mesos.master.registry_records import (
    AgentRecord,
    CompletedTaskRecord,
    Delete,
    FrameworkRecord,
    Put,
    RemovedFrameworkRecord,
    Snapshot,
    UnreachableRecord,
    decode_snapshot,
    encode_ops,
)
from pydcos.mesos.master.state import MasterState
from pydcos.mesos.resources import Resources
from pydcos.mesos.v1 import messages as v1

ROOT = Path(__file__).resolve().parents[3] / "pydcos"


class FakeRegistry:
    """A store in a dict: applies the ops of every Persist, as the registrar would."""

    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}
        self.persists: list[Persist] = []

    def apply(self, out: list[Instruction]) -> list[Instruction]:
        for instruction in out:
            if isinstance(instruction, Persist):
                self.persists.append(instruction)
                for k, value in encode_ops(instruction.ops):
                    if value is None:
                        self.items.pop(k, None)
                    else:
                        self.items[k] = value
        return out

    def snapshot(self) -> Snapshot:
        return decode_snapshot(self.items)


def make(clock: FakeClock | None = None, **overrides: object) -> tuple[MasterState, FakeClock]:
    clock = clock or FakeClock()
    config = MasterConfig(ip="127.0.1.1", offer_timeout=30.0, agent_unreachable_timeout=15.0,
                          agent_reregister_timeout=60.0, **overrides)  # type: ignore[arg-type]
    return MasterState(config, clock, IdFactory(f"M{int(clock.monotonic())}")), clock


def restarted(reg: FakeRegistry, clock: FakeClock, **overrides: object) -> MasterState:
    state, _ = make(clock, **overrides)
    reg.apply(recovery.restore(state, reg.snapshot()))
    state.validate()
    return state


def subscribe(state: MasterState, reg: FakeRegistry, name: str = "fw", framework_id: str | None = None,
              **info: object) -> tuple[str, list[Instruction]]:
    fid, out = state.subscribe(v1.FrameworkInfo(user="root", name=name, **info), framework_id,  # type: ignore[arg-type]
                               "stream-" + name)
    assert fid is not None
    return fid, reg.apply(out)


def register(state: MasterState, reg: FakeRegistry, ip: str = "127.0.2.1", agent_id: str | None = None,
             tasks: list[internal.TaskRecord] | None = None) -> tuple[str, list[Instruction]]:
    msg = internal.RegisterAgent(
        info=v1.AgentInfo(hostname=ip, resources=Resources.parse("cpus:4;mem:4096").to_v1()), ip=ip, port=5051,
        agent_id=agent_id, tasks=tasks or [])
    aid, out = agent_messages.register(state, msg)
    return aid, reg.apply(out)


def kinds(out: list[Instruction]) -> list[str]:
    names = []
    for i in out:
        if isinstance(i, Persist):
            names.append("Persist" if i.wait else "Record")
        elif isinstance(i, SendEvent):
            names.append(i.event.type)
        elif isinstance(i, SendToAgent):
            names.append(type(i.message).__name__)
    return names


# --- encoding -----------------------------------------------------------------------------------


def test_every_record_kind_round_trips() -> None:
    info = v1.AgentInfo(hostname="h", id=v1.Id("S1"), resources=Resources.parse("cpus:2;ports:[1-5]").to_v1())
    fw = v1.FrameworkInfo(user="u", name="n", id=v1.Id("F1"), failover_timeout=7.5,
                          capabilities=[v1.Capability("PARTITION_AWARE")])
    t = msgspec.convert(task("t1", "S1"), v1.TaskInfo)
    ops = [
        Put("agents", "S1", AgentRecord(id="S1", info=info, ip="127.0.0.2", port=5051, registered_time=1.0,
                                        zone="public", version="1.0.1")),
        Put("frameworks", "F1", FrameworkRecord(info=fw, registered_time=2.0, disconnected_time=3.0)),
        Put("removed_frameworks", "F0", RemovedFrameworkRecord(info=fw, registered_time=1.0, unregistered_time=4.0)),
        Put("unreachable", "S0", UnreachableRecord(time=5.0)),
        Put("completed_tasks", "000000000007", CompletedTaskRecord(
            framework_id="F1", agent_id="S1", executor_id="t1", task=t, state="TASK_FINISHED",
            statuses=[v1.TaskStatus(task_id=v1.Id("t1"), state="TASK_FINISHED", timestamp=9.0)])),
    ]
    snap = decode_snapshot({k: v for k, v in encode_ops(ops) if v is not None})
    assert snap.agents["S1"] == ops[0].record  # type: ignore[union-attr]
    assert snap.frameworks["F1"] == ops[1].record  # type: ignore[union-attr]
    assert snap.removed_frameworks["F0"] == ops[2].record  # type: ignore[union-attr]
    assert snap.unreachable["S0"] == ops[3].record  # type: ignore[union-attr]
    assert snap.completed_tasks["000000000007"] == ops[4].record  # type: ignore[union-attr]
    assert snap.size() == 5 and snap.bad_keys == []
    assert encode_ops([Delete("agents", "S1")]) == [("/mesos/registry/agents/S1", None)]


def test_undecodable_or_foreign_keys_are_set_aside() -> None:
    snap = decode_snapshot({
        "/mesos/registry/agents/S1": b"{not json",
        "/mesos/registry/frameworks/F1": b'{"info": 3}',
        "/mesos/registry/future_kind/x": b"{}",
        "/mesos/registry/unreachable/S2": b'{"time": 1.5}',
    })
    assert snap.unreachable == {"S2": UnreachableRecord(1.5)}
    assert sorted(snap.bad_keys) == ["/mesos/registry/agents/S1", "/mesos/registry/frameworks/F1",
                                     "/mesos/registry/future_kind/x"]


@pytest.mark.parametrize("module", ["mesos/master/registry_records.py", "mesos/master/recovery.py",
                                    "mesos/master/resource_sums.py"])
def test_registry_core_is_pure(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    assert names & {"asyncio", "aiohttp", "sqlite3", "time", "random", "socket", "pydcos.store"} == set()
    assert "store" not in {n.module.split(".")[1] for n in ast.walk(tree)
                           if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("pydcos.")}


# --- write-ahead: what is persisted before what -----------------------------------------------------


def test_new_agent_hears_its_id_after_the_write_and_unchanged_reregistration_writes_nothing() -> None:
    state, _ = make()
    reg = FakeRegistry()
    aid, out = register(state, reg)
    assert kinds(out) == ["Persist", "AgentRegistered"]
    persist = out[0]
    assert isinstance(persist, Persist) and persist.ops == (Put("agents", aid, state.agents[aid].record()),)
    agent_messages.agent_disconnected(state, aid)
    _, again = register(state, reg, agent_id=aid)
    assert kinds(again) == ["AgentRegistered"]
    _, moved = register(state, reg, ip="127.0.2.9", agent_id=aid)
    assert kinds(moved) == ["Persist", "AgentRegistered"]
    assert reg.snapshot().agents[aid].ip == "127.0.2.9"


def test_subscribe_persists_before_subscribed_and_disconnect_records_the_time() -> None:
    state, clock = make()
    reg = FakeRegistry()
    fid, out = subscribe(state, reg, failover_timeout=30.0)
    assert kinds(out)[:3] == ["Persist", "SUBSCRIBED", "HEARTBEAT"]
    assert reg.snapshot().frameworks[fid].info.failover_timeout == 30.0
    clock.advance(2.0)
    out = reg.apply(state.disconnected(fid, "stream-fw"))
    assert kinds(out) == ["Record"]
    assert reg.snapshot().frameworks[fid].disconnected_time == clock.wall()
    _, out = subscribe(state, reg, framework_id=fid, failover_timeout=30.0)
    assert kinds(out)[:2] == ["Persist", "SUBSCRIBED"]
    assert reg.snapshot().frameworks[fid].disconnected_time is None


def test_teardown_persists_removal_before_error_and_shutdown() -> None:
    state, _ = make()
    reg = FakeRegistry()
    aid, _ = register(state, reg)
    fid, _ = subscribe(state, reg)
    [offer] = offers_of(state.allocate(), fid)
    launch(state, fid, offer, task("t1", aid))
    out = reg.apply(state.teardown(fid))
    assert kinds(out)[0] == "Persist" and kinds(out)[1:] == ["ERROR", "Record", "ShutdownFramework"]
    snap = reg.snapshot()
    assert fid not in snap.frameworks and fid in snap.removed_frameworks
    assert [r.state for r in snap.completed_tasks.values()] == ["TASK_KILLED"]


def test_unreachable_agent_is_persisted_before_frameworks_hear_task_lost() -> None:
    state, clock = make()
    reg = FakeRegistry()
    aid, _ = register(state, reg)
    fid, _ = subscribe(state, reg)
    [offer] = offers_of(state.allocate(), fid)
    launch(state, fid, offer, task("t1", aid))
    agent_update(state, aid, fid, "t1", "TASK_RUNNING")
    agent_messages.agent_disconnected(state, aid)
    clock.advance(15.0)
    out = reg.apply(agent_messages.expire_agents(state))
    assert kinds(out)[0] == "Persist"
    assert "UPDATE" in kinds(out) and kinds(out).index("UPDATE") > 0
    snap = reg.snapshot()
    assert aid not in snap.agents and snap.unreachable[aid].time == clock.wall()
    # Back again: readmitted, and the registry says so before the agent hears it.
    _, back = register(state, reg, agent_id=aid)
    assert kinds(back)[:2] == ["Persist", "AgentRegistered"]
    assert aid in reg.snapshot().agents and aid not in reg.snapshot().unreachable


def test_completed_task_history_is_bounded_in_the_registry_too() -> None:
    state, _ = make(max_completed_tasks_per_framework=2)
    reg = FakeRegistry()
    aid, _ = register(state, reg)
    fid, _ = subscribe(state, reg)
    fw = state.frameworks[fid]
    for n in range(4):
        state.clock.advance(5.0)  # type: ignore[attr-defined]
        [offer] = offers_of(state.allocate(), fid)
        launch(state, fid, offer, task(f"t{n}", aid))
        uuid = f"AAAAAAAAAAAAAAAAAAAAA{n}=="[-24:]
        agent_update(state, aid, fid, f"t{n}", "TASK_FINISHED", uuid)
        ack = call("ACKNOWLEDGE", fid, acknowledge={"agent_id": {"value": aid}, "task_id": {"value": f"t{n}"},
                                                    "uuid": uuid})
        out = reg.apply(list(scheduler_calls.handle_call(state, fw, ack)))
        assert kinds(out) == ["Record", "AcknowledgeUpdates"]
    assert [t.task_id for t in fw.completed_tasks] == ["t2", "t3"]
    assert sorted(r.task.task_id.value for r in reg.snapshot().completed_tasks.values()) == ["t2", "t3"]


# --- restore --------------------------------------------------------------------------------------


def cluster_before_restart() -> tuple[FakeRegistry, FakeClock, dict[str, str]]:
    """Two agents and a framework with a running task, a removed framework, an unreachable agent."""
    state, clock = make()
    reg = FakeRegistry()
    a1, _ = register(state, reg, "127.0.2.1")
    a2, _ = register(state, reg, "127.0.2.2")
    gone, _ = register(state, reg, "127.0.2.3")
    fid, _ = subscribe(state, reg, "keep", failover_timeout=100.0)
    removed, _ = subscribe(state, reg, "removed")
    reg.apply(state.teardown(removed))
    agent_messages.agent_disconnected(state, gone)
    clock.advance(15.0)
    reg.apply(agent_messages.expire_agents(state))
    for offer in offers_of(state.allocate(), fid):
        if offer.agent_id.value == a1:
            launch(state, fid, offer, task("t1", a1))
            agent_update(state, a1, fid, "t1", "TASK_RUNNING")
    clock.advance(1.0)
    return reg, clock, {"a1": a1, "a2": a2, "gone": gone, "fid": fid, "removed": removed}


def test_restore_recovers_agents_frameworks_and_removals() -> None:
    reg, clock, ids = cluster_before_restart()
    clock.advance(30.0)
    state = restarted(reg, clock)
    assert set(state.agents) == {ids["a1"], ids["a2"]}
    assert all(a.recovered and not a.connected for a in state.agents.values())
    assert state.frameworks[ids["fid"]].recovered and not state.frameworks[ids["fid"]].connected
    assert ids["gone"] in state.unreachable_agents
    assert ids["removed"] in state.removed_framework_ids
    assert [f.id for f in state.completed_frameworks] == [ids["removed"]]
    assert state.allocate() == []  # nothing to offer before agents come back
    # A removed framework is refused; a known one gets its own id back.
    assert state.subscribe(v1.FrameworkInfo(user="root", name="removed"), ids["removed"], "s") == (None, [])
    fid, _ = subscribe(state, reg, "keep", framework_id=ids["fid"], failover_timeout=100.0)
    assert fid == ids["fid"] and not state.frameworks[fid].recovered
    state.validate()


def test_reconcile_after_restart_waits_for_recovered_agents() -> None:
    reg, clock, ids = cluster_before_restart()
    state = restarted(reg, clock)
    fid, _ = subscribe(state, reg, "keep", framework_id=ids["fid"], failover_timeout=100.0)
    fw = state.frameworks[fid]

    def reconcile(*items: tuple[str, str | None]) -> list[v1.TaskStatus]:
        tasks = [{"task_id": {"value": t}, **({"agent_id": {"value": a}} if a else {})} for t, a in items]
        return updates_of(list(scheduler_calls.handle_call(state, fw, call("RECONCILE", fid,
                                                                            reconcile={"tasks": tasks}))))

    # Known agent not back yet, or no agent named while some are recovering: no answer yet.
    assert reconcile(("t1", ids["a1"]), ("t9", None)) == []
    [lost] = reconcile(("t8", "S-unknown"))
    assert lost.state == "TASK_LOST"
    [unreachable] = reconcile(("t7", ids["gone"]))
    assert unreachable.state == "TASK_LOST" and "unreachable" in (unreachable.message or "")
    # a1 comes back with its task: the truth is known.
    t1 = msgspec.convert(task("t1", ids["a1"]), v1.TaskInfo)
    record = internal.TaskRecord(framework_id=fid, executor_id="t1", task=t1, state="TASK_RUNNING")
    register(state, reg, "127.0.2.1", agent_id=ids["a1"], tasks=[record])
    [running] = reconcile(("t1", ids["a1"]))
    assert running.state == "TASK_RUNNING"
    # a2 never comes back: unreachable after agent_reregister_timeout, then t9 (no agent) is lost.
    clock.advance(59.0)
    assert reg.apply(agent_messages.expire_agents(state)) == []
    clock.advance(1.0)
    out = reg.apply(agent_messages.expire_agents(state))
    assert kinds(out) == ["Persist", "FAILURE"]
    assert ids["a2"] in state.unreachable_agents and ids["a2"] in reg.snapshot().unreachable
    [t9] = reconcile(("t9", None))
    assert t9.state == "TASK_LOST"
    state.validate()


@pytest.mark.parametrize(("down_before_restart", "torn_down_after"), [(None, 100.0), (40.0, 60.0)])
def test_failover_timeout_counts_across_the_restart(down_before_restart: float | None,
                                                    torn_down_after: float) -> None:
    reg, clock, ids = cluster_before_restart()
    old = restarted(reg, clock)  # a first restart only to get a state holding the framework
    fid, _ = subscribe(old, reg, "keep", framework_id=ids["fid"], failover_timeout=100.0)
    if down_before_restart is not None:
        reg.apply(old.disconnected(fid, "stream-keep"))
        clock.advance(down_before_restart)
    state = restarted(reg, clock)
    t1 = msgspec.convert(task("t1", ids["a1"]), v1.TaskInfo)
    record = internal.TaskRecord(framework_id=fid, executor_id="t1", task=t1, state="TASK_RUNNING")
    register(state, reg, "127.0.2.1", agent_id=ids["a1"], tasks=[record])
    clock.advance(torn_down_after - 0.5)
    assert reg.apply(state.tick()) == []
    clock.advance(0.5)
    out = reg.apply(state.tick())
    assert "ShutdownFramework" in kinds(out)
    assert fid in reg.snapshot().removed_frameworks and fid not in reg.snapshot().frameworks
    state.validate()


def test_restore_drops_history_of_frameworks_no_longer_shown() -> None:
    state, clock = make(max_completed_frameworks=1)
    reg = FakeRegistry()
    aid, _ = register(state, reg)
    for name in ("a", "b"):
        fid, _ = subscribe(state, reg, name)
        [offer] = offers_of(state.allocate(), fid)
        launch(state, fid, offer, task("t-" + name, aid))
        reg.apply(state.teardown(fid))
        clock.advance(1.0)
    snap = reg.snapshot()
    assert [r.task.task_id.value for r in snap.completed_tasks.values()] == ["t-b"]
    assert len(snap.removed_frameworks) == 2
    again = restarted(reg, clock, max_completed_frameworks=1)
    [shown] = again.completed_frameworks
    assert [t.task_id for t in shown.completed_tasks] == ["t-b"]
    assert again.next_history_seq == 2


# --- property: whatever happened, a restart sees what the registry promised -------------------------

STEPS = st.lists(st.sampled_from(["agent", "framework", "teardown", "lose_agent", "launch", "task_done",
                                  "disconnect_framework", "tick", "reregister", "running", "finish"]),
                 min_size=5, max_size=60)


def finish_and_ack(state: MasterState, reg: FakeRegistry, fw_id: str, task_id: str) -> None:
    fw = state.frameworks[fw_id]
    t = fw.tasks[task_id]
    reg.apply(agent_update(state, t.agent_id, fw_id, task_id, "TASK_FINISHED"))  # type: ignore[arg-type]
    ack = call("ACKNOWLEDGE", fw_id, acknowledge={"agent_id": {"value": t.agent_id}, "task_id": {"value": task_id},
                                                  "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="})
    reg.apply(list(scheduler_calls.handle_call(state, fw, ack)))


@settings(max_examples=80, deadline=None)
@given(steps=STEPS)
def test_restart_restores_every_persisted_fact(steps: list[str]) -> None:
    state, clock = make(max_completed_tasks_per_framework=2, max_completed_frameworks=2,
                        max_unreachable_agents=1)
    reg = FakeRegistry()
    for n, step in enumerate(steps):
        # Steps that need an agent or a framework bring their own, so that most steps do something.
        if step in ("lose_agent", "launch", "task_done") and not any(a.connected for a in state.agents.values()):
            register(state, reg, f"127.0.4.{n}")
        if step in ("launch", "task_done", "teardown") and not any(f.connected for f in state.frameworks.values()):
            subscribe(state, reg, f"fw-{n}", failover_timeout=5.0)
        connected_agents = [a for a in state.agents.values() if a.connected]
        fws = [f for f in state.frameworks.values() if f.connected]
        if step == "agent":
            register(state, reg, f"127.0.3.{n}")
        elif step == "framework":
            subscribe(state, reg, f"fw{n}", failover_timeout=5.0)
        elif step == "teardown" and fws:
            reg.apply(state.teardown(fws[-1].id))
        elif step == "lose_agent" and connected_agents:
            reg.apply(agent_messages.agent_disconnected(state, connected_agents[0].id))
            clock.advance(15.0)
            reg.apply(agent_messages.expire_agents(state) + state.tick())
        elif step == "disconnect_framework" and fws and fws[0].stream_id:
            reg.apply(state.disconnected(fws[0].id, fws[0].stream_id))
        elif step == "tick":
            clock.advance(3.0)
            reg.apply(agent_messages.expire_agents(state) + state.tick())
        elif step == "running" and fws:
            for t in [t for t in fws[0].tasks.values() if t.state == "TASK_STAGING"]:
                reg.apply(agent_update(state, t.agent_id, fws[0].id, t.task_id, "TASK_RUNNING"))  # type: ignore[arg-type]
        elif step == "finish" and fws and fws[0].tasks:
            finish_and_ack(state, reg, fws[0].id, next(iter(fws[0].tasks)))
        elif step == "reregister" and connected_agents:
            # The agent reconnects reporting all its tasks but the first (lost while it was away).
            agent = max(connected_agents, key=lambda a: len(a.task_keys))
            reg.apply(agent_messages.agent_disconnected(state, agent.id))
            placed = [state.frameworks[f].tasks[t] for f, t in sorted(agent.task_keys)]
            records = [internal.TaskRecord(framework_id=t.framework_id, executor_id=t.executor_id, task=t.task,
                                           state="TASK_RUNNING") for t in placed[1:]]
            register(state, reg, agent.ip, agent_id=agent.id, tasks=records)
        elif step in ("launch", "task_done") and fws:
            state._rescind_offers(list(state.offers), notify=False)  # outstanding offers hold agents
            clock.advance(5.0)  # past the refuse filter of the previous launch
            for offer in offers_of(state.allocate(), fws[0].id)[:1]:
                launch(state, fws[0].id, offer, task(f"t{n}", offer.agent_id.value, cpus=0.1))
                if step == "task_done":
                    finish_and_ack(state, reg, fws[0].id, f"t{n}")
        # Render (filling the kept JSON fragments); validate() checks none went stale since.
        state.validate()
        state_json.master_state(state, {})
        state_json.state_summary(state)
    # The registry holds no garbage: exactly what is shown, nothing evicted.
    snap = reg.snapshot()
    assert set(snap.unreachable) == set(state.unreachable_agents)
    assert len(snap.completed_tasks) == sum(
        len(f.completed_tasks) for f in [*state.frameworks.values(), *state.completed_frameworks])
    after = restarted(reg, clock, max_completed_tasks_per_framework=2, max_completed_frameworks=2,
                      max_unreachable_agents=1)
    assert set(after.agents) == set(state.agents)
    assert {a: e.record() for a, e in after.agents.items()} == {a: e.record() for a, e in state.agents.items()}
    assert set(after.frameworks) == {f.id for f in state.frameworks.values() if not f.learnt_from_agents}
    assert after.removed_framework_ids == state.removed_framework_ids
    assert after.unreachable_agents == state.unreachable_agents
    assert [f.id for f in after.completed_frameworks] == [f.id for f in state.completed_frameworks]
    for before in list(state.frameworks.values()) + list(state.completed_frameworks):
        restored = after.frameworks.get(before.id) or next(f for f in after.completed_frameworks if f.id == before.id)
        assert [(t.task_id, t.state) for t in restored.completed_tasks] == \
            [(t.task_id, t.state) for t in before.completed_tasks]
