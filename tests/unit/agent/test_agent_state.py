"""Bookkeeping of frameworks, executors and tasks, and the /state document built from it."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcos.mesos.agent.state import AgentState, command_executor_name
from pydcos.mesos.agent.state_json import AgentIdentity, metrics_json, state_json
from pydcos.mesos.resources import Resources
from pydcos.mesos.v1.messages import (
    CommandInfo,
    FrameworkInfo,
    Id,
    Resource,
    TaskInfo,
    TaskState,
    TaskStatus,
    ranges,
    scalar,
)

FW = FrameworkInfo(user="root", name="marathon", id=Id("F0"), hostname="h", role="*")


def task(task_id: str, command: str = "sleep 1", *, labels: dict[str, object] | None = None) -> TaskInfo:
    return TaskInfo(
        name=task_id,
        task_id=Id(task_id),
        resources=[scalar("cpus", 0.5), scalar("mem", 64), ranges("ports", [(31000, 31001)])],
        command=CommandInfo(value=command),
        labels=labels,
    )


def status(task_id: str, state: TaskState, ts: float = 1.0) -> TaskStatus:
    return TaskStatus(task_id=Id(task_id), state=state, timestamp=ts, uuid="u")


def launched(state: AgentState, task_id: str, fw: FrameworkInfo = FW) -> None:
    state.add_command_task(fw, task(task_id), container_id=f"c-{task_id}", directory=f"/w/{task_id}")


def test_a_command_task_lives_under_its_own_executor() -> None:
    state = AgentState()
    launched(state, "t1")
    executor = state.executor("F0", "t1")
    assert executor is not None
    assert (executor.id, executor.source, executor.container_id, executor.directory) == ("t1", "t1", "c-t1", "/w/t1")
    assert executor.name == "Command Executor (Task: t1) (Command: sh -c 'sleep 1')"
    assert list(executor.tasks) == ["t1"]
    assert state.validate() == []


def test_lifecycle_launched_terminated_completed() -> None:
    state = AgentState()
    launched(state, "t1")
    state.update_status("F0", status("t1", "TASK_RUNNING"))
    assert state.find_task("F0", "t1").state == "TASK_RUNNING"  # type: ignore[union-attr]
    state.update_status("F0", status("t1", "TASK_FINISHED", 2.0))
    state.executor_terminated("F0", "t1")
    executor = state.executor("F0", "t1")
    assert executor is not None and list(executor.terminated_tasks) == ["t1"] and not executor.tasks
    assert state.validate() == []
    state.terminal_acknowledged("F0", "t1")
    assert state.frameworks == {}
    [fw] = state.completed_frameworks
    [done] = fw.completed_executors
    assert [t.id for t in done.completed_tasks] == ["t1"]
    assert [s.state for s in done.completed_tasks[0].statuses] == ["TASK_RUNNING", "TASK_FINISHED"]
    assert state.terminal_counts == {"TASK_FINISHED": 1}
    assert state.knows_task("F0", "t1")  # in the history: a relaunch under that id is refused
    assert state.find_task("F0", "t1") is None
    assert state.validate() == []


def test_executor_stays_until_its_terminal_update_is_acknowledged() -> None:
    state = AgentState()
    launched(state, "t1")
    launched(state, "t2")
    state.update_status("F0", status("t1", "TASK_FAILED"))
    state.executor_terminated("F0", "t1")
    assert state.executor("F0", "t1") is not None
    state.terminal_acknowledged("F0", "t1")
    assert state.executor("F0", "t1") is None
    assert "F0" in state.frameworks  # t2 still runs
    assert state.knows_task("F0", "t1") and state.knows_task("F0", "t2")


def test_histories_are_bounded() -> None:
    state = AgentState(max_completed_frameworks=2, max_completed_executors_per_framework=3)
    launched(state, "keep")  # keeps framework F0 alive
    for i in range(10):
        launched(state, f"t{i}")
        state.update_status("F0", status(f"t{i}", "TASK_FINISHED"))
        state.executor_terminated("F0", f"t{i}")
        state.terminal_acknowledged("F0", f"t{i}")
    assert [e.id for e in state.frameworks["F0"].completed_executors] == ["t7", "t8", "t9"]
    for i in range(4):
        fw = FrameworkInfo(name=f"fw{i}", id=Id(f"G{i}"))
        launched(state, "x", fw)
        state.update_status(f"G{i}", status("x", "TASK_KILLED"))
        state.executor_terminated(f"G{i}", "x")
        state.terminal_acknowledged(f"G{i}", "x")
    assert [f.id for f in state.completed_frameworks] == ["G2", "G3"]
    assert state.validate() == []
    assert not state.knows_task("F0", "t0") and state.knows_task("F0", "t9")
    assert not state.knows_task("G0", "x") and state.knows_task("G3", "x")


def test_a_framework_that_returns_takes_its_history_back() -> None:
    state = AgentState()
    launched(state, "t1")
    state.update_status("F0", status("t1", "TASK_FINISHED"))
    state.executor_terminated("F0", "t1")
    state.terminal_acknowledged("F0", "t1")
    launched(state, "t2")
    assert not state.completed_frameworks
    assert [e.id for e in state.frameworks["F0"].completed_executors] == ["t1"]


def test_unknown_ids_change_nothing() -> None:
    state = AgentState()
    assert state.update_status("F0", status("t1", "TASK_RUNNING")) is None
    state.terminal_acknowledged("F0", "t1")
    state.executor_terminated("F0", "t1")
    launched(state, "t1")
    assert state.update_status("F0", status("zz", "TASK_RUNNING")) is None
    state.terminal_acknowledged("F0", "zz")
    assert state.validate() == []


def test_statuses_after_terminal_do_not_resurrect_a_task() -> None:
    state = AgentState()
    launched(state, "t1")
    state.update_status("F0", status("t1", "TASK_KILLED"))
    state.update_status("F0", status("t1", "TASK_RUNNING"))
    assert state.find_task("F0", "t1").state == "TASK_KILLED"  # type: ignore[union-attr]
    assert state.validate() == []


def test_malformed_resources_record_nothing() -> None:
    state = AgentState()
    bad = TaskInfo(name="b", task_id=Id("b"), resources=[Resource(name="cpus", scalar=None)],
                   command=CommandInfo(value="true"))
    with pytest.raises(ValueError):
        state.add_command_task(FW, bad, container_id="c", directory="/w")
    assert state.frameworks == {}


def test_executor_names_follow_mesos() -> None:
    long = TaskInfo(name="t", task_id=Id("t"), command=CommandInfo(value="python -m http.server 8080"))
    assert command_executor_name(long) == "Command Executor (Task: t) (Command: sh -c 'python -m ht...')"
    argv = TaskInfo(name="t", task_id=Id("t"), command=CommandInfo(value="/bin/echo", shell=False,
                                                                   arguments=["echo", "hi"]))
    assert command_executor_name(argv) == "Command Executor (Task: t) (Command: [/bin/echo, hi])"


def identity() -> AgentIdentity:
    return AgentIdentity(
        agent_id="S0", ip="10.0.0.2", port=5051, hostname="10.0.0.2", role="*",
        total=Resources.parse("cpus:4;mem:1024;disk:100;ports:[31000-31999]"),
        attributes={"rack": "r1"}, flags={"port": "5051"}, master_hostname="10.0.0.1", start_time=100.0,
    )


def test_state_json_lists_every_key_even_empty() -> None:
    doc = state_json(identity(), AgentState())
    assert doc["frameworks"] == [] and doc["completed_frameworks"] == []
    assert doc["pid"] == "slave(1)@10.0.0.2:5051"
    assert doc["resources"]["ports"] == "[31000-31999]"
    assert doc["unreserved_resources"]["cpus"] == 4 and doc["reserved_resources"] == {}


def test_state_json_task_shape() -> None:
    state = AgentState()
    state.add_command_task(FW, task("t1", labels={"labels": [{"key": "k", "value": "v"}]}),
                           container_id="c1", directory="/w/t1")
    state.update_status("F0", TaskStatus(task_id=Id("t1"), state="TASK_RUNNING", timestamp=5.0,
                                         container_status={"container_id": {"value": "c1"}}))
    doc = state_json(identity(), state)
    [fw] = doc["frameworks"]
    assert fw["completed_executors"] == [] and fw["user"] == "root" and fw["role"] == "*"
    [executor] = fw["executors"]
    assert executor["queued_tasks"] == [] and executor["completed_tasks"] == []
    assert executor["resources"]["cpus"] == 0.5 and executor["resources"]["ports"] == "[31000-31001]"
    [t] = executor["tasks"]
    assert t == {
        "id": "t1", "name": "t1", "framework_id": "F0", "executor_id": "", "slave_id": "S0",
        "state": "TASK_RUNNING",
        "resources": {"cpus": 0.5, "mem": 64.0, "disk": 0.0, "gpus": 0.0, "ports": "[31000-31001]"},
        "statuses": [{"state": "TASK_RUNNING", "timestamp": 5.0, "container_status": {"container_id": {"value": "c1"}}}],
        "labels": [{"key": "k", "value": "v"}],
    }


def test_terminated_tasks_show_as_completed() -> None:
    state = AgentState()
    launched(state, "t1")
    state.update_status("F0", status("t1", "TASK_FAILED"))
    [executor] = state_json(identity(), state)["frameworks"][0]["executors"]
    assert executor["tasks"] == [] and [t["state"] for t in executor["completed_tasks"]] == ["TASK_FAILED"]


def test_reserved_role_in_state_json() -> None:
    ident = dataclasses.replace(identity(), role="slave_public")
    doc = state_json(ident, AgentState())
    assert doc["reserved_resources"]["slave_public"]["cpus"] == 4
    assert doc["unreserved_resources"]["cpus"] == 0


def test_metrics_count_tasks_and_resources() -> None:
    state = AgentState()
    launched(state, "t1")
    state.update_status("F0", status("t1", "TASK_RUNNING"))
    launched(state, "t2")
    state.update_status("F0", status("t2", "TASK_LOST"))
    m = metrics_json(identity(), state, registered=True, now=160.0, counters={"x": 1.0})
    assert m["slave/tasks_running"] == 1 and m["slave/tasks_lost"] == 1 and m["slave/tasks_staging"] == 0
    assert m["slave/cpus_used"] == 0.5 and m["slave/cpus_total"] == 4 and m["slave/mem_used"] == 64
    assert m["slave/uptime_secs"] == 60 and m["slave/registered"] == 1 and m["x"] == 1


OPS = st.lists(
    st.tuples(
        st.sampled_from(["launch", "status", "exit", "ack"]),
        st.sampled_from(["F0", "F1"]),
        st.sampled_from(["t1", "t2", "t3", "t4"]),
        st.sampled_from(["TASK_RUNNING", "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED"]),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops=OPS)
def test_invariants_hold_for_any_sequence(ops: list[tuple[str, str, str, TaskState]]) -> None:
    state = AgentState(max_completed_frameworks=2, max_completed_executors_per_framework=3,
                       max_completed_tasks_per_executor=2)
    for op, fw_id, task_id, task_state in ops:
        if op == "launch" and not state.knows_task(fw_id, task_id):
            launched(state, task_id, FrameworkInfo(name=fw_id, id=Id(fw_id)))
        elif op == "status":
            state.update_status(fw_id, status(task_id, task_state))
        elif op == "exit":
            state.executor_terminated(fw_id, task_id)
        elif op == "ack":
            state.terminal_acknowledged(fw_id, task_id)
        assert state.validate() == []
        assert len(state.completed_frameworks) <= 2
