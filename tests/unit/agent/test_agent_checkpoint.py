"""Checkpoint records, update log replay and recovery decisions: pure, no IO."""

from __future__ import annotations

import ast
from pathlib import Path

from pydcos.core.clock import FakeClock
from pydcos.mesos import internal
from pydcos.mesos.agent import checkpoint as ck
from pydcos.mesos.agent import status_updates as su
from pydcos.mesos.v1.messages import CommandInfo, FrameworkInfo, Id, TaskInfo, TaskState, TaskStatus

FW = FrameworkInfo(user="root", name="f", id=Id("F1"), checkpoint=True)
TASK = TaskInfo(name="t", task_id=Id("t1"), command=CommandInfo(value="sleep 30"))


def record(**extra: object) -> ck.ContainerRecord:
    fields: dict[str, object] = dict(framework=FW, executor_id="t1", container_id="c1", sandbox="/w/s", tasks=[TASK])
    fields.update(extra)
    return ck.ContainerRecord(**fields)  # type: ignore[arg-type]


def update(state: TaskState, uuid: str) -> internal.StatusUpdate:
    return internal.StatusUpdate("F1", TaskStatus(task_id=Id("t1"), state=state, uuid=uuid))


def manager() -> su.StatusUpdateManager:
    return su.StatusUpdateManager(clock=FakeClock(), first_retry_s=1.0)


def test_container_record_round_trips() -> None:
    rec = record(pid=42, start_time=1234, kill_requested=True)
    assert ck.decode_record(ck.encode_record(rec)) == rec
    assert rec.framework_id == "F1"
    assert ck.decode_record(b'{"framework": ') is None


def test_log_lines_round_trip_and_a_torn_tail_is_skipped() -> None:
    data = ck.encode_update(update("TASK_RUNNING", "u1")) + ck.encode_ack("u1") + b'{"type":"update","upd'
    assert ck.parse_log(data) == [ck.UpdateLine(update("TASK_RUNNING", "u1")), ck.AckLine("u1")]


def test_replay_keeps_unacknowledged_updates_pending() -> None:
    m = manager()
    lines = ck.parse_log(ck.encode_update(update("TASK_RUNNING", "u1")) + ck.encode_ack("u1")
                         + ck.encode_update(update("TASK_FINISHED", "u2")))
    replayed = ck.replay(m, lines)
    assert (replayed.latest, replayed.terminal, replayed.completed) == ("TASK_FINISHED", True, False)
    assert [u.status.uuid for u in m.pending("F1", "t1")] == ["u2"]
    assert m.handle(su.Connected()) == [su.Forward(update("TASK_FINISHED", "u2"))]


def test_replay_of_an_acknowledged_terminal_update_completes_the_stream() -> None:
    m = manager()
    lines = [ck.UpdateLine(update("TASK_RUNNING", "u1")), ck.AckLine("u1"),
             ck.UpdateLine(update("TASK_FAILED", "u2")), ck.AckLine("u2")]
    assert ck.replay(m, lines).completed
    assert m.pending_count() == 0


def test_replay_ignores_an_ack_for_another_uuid() -> None:
    m = manager()
    ck.replay(m, [ck.UpdateLine(update("TASK_RUNNING", "u1")), ck.AckLine("zz")])
    assert m.pending_count() == 1


def replayed(*states: TaskState) -> ck.Replayed:
    return ck.Replayed([update(s, f"u{i}") for i, s in enumerate(states)], False, states[-1] if states else None)


def test_alive_with_the_same_start_time_is_reattached() -> None:
    assert ck.decide(record(pid=7, start_time=1), replayed("TASK_RUNNING"), alive=True, returncode=None) == ck.Reattach(7)


def test_a_task_whose_terminal_update_is_logged_needs_only_delivery() -> None:
    assert ck.decide(record(pid=7), replayed("TASK_RUNNING", "TASK_FINISHED"), alive=False, returncode=None) == ck.Done()


def test_gone_with_an_exit_file_reports_its_real_status() -> None:
    rec = record(pid=7, start_time=1)
    assert ck.decide(rec, replayed("TASK_RUNNING"), alive=False, returncode=3) == ck.Ended(
        "TASK_FAILED", "Command exited with status 3", "REASON_COMMAND_EXECUTOR_FAILED")
    assert ck.decide(rec, replayed("TASK_RUNNING"), alive=False, returncode=0) == ck.Ended(
        "TASK_FINISHED", "Command exited with status 0", None)
    assert ck.decide(rec, replayed("TASK_RUNNING"), alive=False, returncode=-9) == ck.Ended(
        "TASK_FAILED", "Command terminated with signal Killed", "REASON_COMMAND_EXECUTOR_FAILED")


def test_gone_without_an_exit_file_failed_or_was_killed() -> None:
    assert ck.decide(record(pid=7), replayed("TASK_RUNNING"), alive=False, returncode=None) == ck.Ended(
        "TASK_FAILED", "Executor terminated while the agent was down", "REASON_EXECUTOR_TERMINATED")
    assert ck.decide(record(pid=7, kill_requested=True), replayed("TASK_RUNNING"), alive=False,
                     returncode=None).state == "TASK_KILLED"  # type: ignore[union-attr]


def test_never_started_fails() -> None:
    decision = ck.decide(record(), replayed(), alive=False, returncode=None)
    assert isinstance(decision, ck.Ended) and decision.state == "TASK_FAILED"


def test_start_time_is_field_22_even_with_spaces_and_parens_in_the_name() -> None:
    stat = "9 (a) b)) S 1 9 9 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 555 1 2"
    assert ck.proc_start_time(stat) == 555
    assert ck.proc_start_time("garbage") is None


def test_a_run_directory_goes_when_its_last_task_is_done() -> None:
    from pydcos.mesos.agent.checkpoint_store import CheckpointStore

    store = CheckpointStore("/w")
    run = store.run_dir("S1", "F1", "ex", "c1")
    assert run == "/w/meta/slaves/S1/frameworks/F1/executors/ex/runs/c1"
    store.track(("F1", "t1"), run)
    store.track(("F1", "t2"), run)
    assert store.logs[("F1", "t1")] == run + "/tasks/t1/updates"
    assert store.task_done(("F1", "t1")) is None  # t2 still needs the run (its executor's record)
    assert store.task_done(("F1", "t2")) == run
    assert store.task_done(("F1", "t2")) is None and store.logs == {}


def test_the_checkpoint_core_does_no_io() -> None:
    from test_agent_config import FORBIDDEN

    names: set[str] = set()
    for node in ast.walk(ast.parse(Path(ck.__file__).read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    assert names & (FORBIDDEN | {"os", "shutil"}) == set()
