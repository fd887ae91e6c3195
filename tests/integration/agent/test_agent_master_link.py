"""The master link: acknowledgements, retries, reconnection, and a master that misbehaves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_fake_master import FRAMEWORK_ID, FakeMaster, command_task, fast_config, run, sandbox_of

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.service import Agent


async def test_updates_are_resent_until_acknowledged_and_acks_stop_them(
    agent: Agent, master: FakeMaster
) -> None:
    master.auto_ack = False
    await master.send(run(command_task("retry.1", "echo x")))
    await wait_until(lambda: master.states("retry.1").count("TASK_RUNNING") >= 3, what="RUNNING resent")
    # Only the head is in flight: FINISHED waits behind the unacknowledged RUNNING.
    assert set(master.states("retry.1")) == {"TASK_RUNNING"}
    running = master.statuses("retry.1")
    assert len({s.uuid for s in running}) == 1  # a resend is the same update

    await master.ack(master.updates[-1])
    finished = await master.wait_status("retry.1", "TASK_FINISHED")
    assert agent.updates.pending_count() == 1
    task = agent.state.find_task(FRAMEWORK_ID, "retry.1")
    assert task is not None and task.state == "TASK_FINISHED"  # terminated, not yet completed

    await master.ack(next(u for u in master.updates if u.status.uuid == finished.uuid))
    await wait_until(lambda: agent.updates.pending_count() == 0, what="nothing pending")
    assert agent.updates.next_deadline() is None
    assert agent.state.find_task(FRAMEWORK_ID, "retry.1") is None  # completed now
    assert [e.id for f in agent.state.completed_frameworks for e in f.completed_executors] == ["retry.1"]


async def test_reconnect_reregisters_with_the_same_id_and_delivers_queued_updates(
    agent: Agent, master: FakeMaster, work_dir: str
) -> None:
    gate = Path(work_dir) / "go"
    await master.send(run(command_task("wait.1", f"while [ ! -e {gate} ]; do sleep 0.02; done; echo done")))
    await master.wait_status("wait.1", "TASK_RUNNING")
    agent_id = agent.agent_id

    master.accepting = False
    await master.drop()
    await wait_until(lambda: not agent.registered.is_set(), what="agent noticed the drop")
    gate.touch()
    await wait_until(
        lambda: agent.state.find_task(FRAMEWORK_ID, "wait.1").state == "TASK_FINISHED",  # type: ignore[union-attr]
        what="task finished while disconnected",
    )
    assert "TASK_FINISHED" not in master.states("wait.1")

    master.accepting = True
    await master.wait_status("wait.1", "TASK_FINISHED")
    reg = master.registrations[-1]
    assert reg.agent_id == agent_id == agent.agent_id
    assert reg.info.id is not None and reg.info.id.value == agent_id
    assert [(t.task.task_id.value, t.state) for t in reg.tasks] == [("wait.1", "TASK_FINISHED")]
    assert [f.id.value for f in reg.frameworks if f.id] == [FRAMEWORK_ID]
    assert (sandbox_of(agent, "wait.1") / "stdout").read_text() == "done\n"
    await wait_until(lambda: agent.updates.pending_count() == 0, what="acknowledged after reconnect")


async def test_unacknowledged_heads_are_resent_on_reregistration(agent: Agent, master: FakeMaster) -> None:
    master.auto_ack = False
    await master.send(run(command_task("head.1", "exec sleep 60")))
    await master.wait_status("head.1", "TASK_RUNNING")
    sent_before = len(master.updates)
    await master.drop()
    await wait_until(lambda: len(master.registrations) == 2, what="re-registration")
    await wait_until(lambda: len(master.updates) > sent_before, what="head resent after re-registration")
    assert master.updates[-1].status.state == "TASK_RUNNING"


async def test_refused_agent_retries_later(master: FakeMaster, work_dir: str) -> None:
    master.refuse_with = "go away"
    agent = Agent(fast_config(master.address, work_dir))
    await agent.start()
    try:
        await wait_until(lambda: len(master.registrations) >= 3, what="several refused attempts")
        assert not agent.registered.is_set()
        master.refuse_with = None
        await wait_until(lambda: agent.registered.is_set(), what="accepted at last")
        assert agent.agent_id is not None
    finally:
        await agent.close()


async def test_agent_survives_garbage_frames(agent: Agent, master: FakeMaster) -> None:
    for garbage in [
        "not json",
        "{}",
        '{"type": "nope"}',
        '{"type": "run_tasks", "launches": [{"bad": 1}]}',
        '{"type": "kill_task"}',
        '{"type": "acks", "acks": [{"framework_id": "x", "task_id": "y", "uuid": "z"}]}',
        '{"type": "run_tasks", "launches": [{"framework": {}, "task": {"name": "", "task_id": {"value": ""}}}]}',
        '{"type": "shutdown_framework", "framework_id": "nobody"}',
        '{"type": "shutdown_executor", "framework_id": "nobody", "executor_id": "x"}',
        '{"type": "framework_message", "framework_id": "f", "executor_id": "e", "data": "aGk="}',
        '{"type": "registered", "agent_id": "other", "master_id": "m"}',
        '{"type": "refused", "message": "late"}',
        b"\x00\xff\xfe binary",
        "[" * 10000,
    ]:
        await master.send_raw(garbage)
    await master.send(run(command_task("alive.1", "true")))
    await master.wait_status("alive.1", "TASK_FINISHED")
    assert agent.registered.is_set() and agent.link.connections == 1
    assert agent.link.bad_frames >= 5
    assert agent.counters["agent/unhandled_errors_total"] == 0


async def test_many_acks_in_one_frame(agent: Agent, master: FakeMaster) -> None:
    master.auto_ack = False
    await master.send(run(*(command_task(f"many.{i}", "true") for i in range(30))))
    await wait_until(lambda: len({u.status.task_id.value for u in master.updates}) == 30, what="30 RUNNING")
    await master.ack(*[u for u in master.updates if u.status.state == "TASK_RUNNING"])
    await wait_until(lambda: master.states("many.29")[-1:] == ["TASK_FINISHED"], what="FINISHED sent")
    await wait_until(lambda: sum(u.status.state == "TASK_FINISHED" for u in master.updates) >= 30, what="all FINISHED")
    await master.ack(*[u for u in master.updates if u.status.state == "TASK_FINISHED"])
    await wait_until(lambda: agent.updates.pending_count() == 0, what="all acknowledged")
    assert not agent.state.frameworks and len(agent.state.completed_frameworks) == 1


async def test_master_frames_for_unknown_things_change_nothing(agent: Agent, master: FakeMaster) -> None:
    await master.send(internal.AcknowledgeUpdates([internal.Ack(FRAMEWORK_ID, "nope", "AAAA")]))
    await master.send(internal.ShutdownFramework("unknown"))
    await master.send(internal.ShutdownExecutor(FRAMEWORK_ID, "unknown"))
    await master.send(run(command_task("ok.1", "true")))
    await master.wait_status("ok.1", "TASK_FINISHED")
    assert agent.state.validate() == []


async def test_a_hung_master_is_noticed_by_the_heartbeat(make_agent: Any, master: FakeMaster) -> None:
    master.autoping = False
    agent = await make_agent(heartbeat_s=0.2)
    await wait_until(lambda: len(master.registrations) >= 2, what="reconnect after missed pongs")
    assert master.registrations[-1].agent_id == agent.agent_id
