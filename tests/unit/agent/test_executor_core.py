"""The custom executors' core, driven event by event (no loop, no sockets, no processes)."""

from __future__ import annotations

from typing import Any

from pydcos.mesos.agent import executor_messages as em
from pydcos.mesos.agent.executor_core import ExecutorCore, how_it_ended, wait_status
from pydcos.mesos.agent.executor_events import (
    CallRefused,
    CloseStream,
    Exited,
    Forward,
    FrameworkMessage,
    Ignored,
    Instruction,
    KillContainer,
    KillRequested,
    MessageReceived,
    RegistrationTimedOut,
    Send,
    SendSubscribed,
    ShutdownRequested,
    Spawn,
    Started,
    StartFailed,
    StartRegistrationTimer,
    Status,
    StreamClosed,
    SubscribeReceived,
    TaskArrived,
    Terminated,
    ToFramework,
    UpdateAcknowledged,
    UpdateLimits,
    UpdateReceived,
)
from pydcos.mesos.agent.state import AgentState
from pydcos.mesos.v1.messages import (
    CommandInfo,
    ExecutorInfo,
    FrameworkInfo,
    Id,
    TaskInfo,
    TaskStatus,
    scalar,
)

FW = FrameworkInfo(user="u", name="fw", id=Id("F0"))
EX = ExecutorInfo(executor_id=Id("E"), command=CommandInfo(value="./run"), resources=[scalar("mem", 64)])
KEY = ("F0", "E")
U1 = "AAAAAAAAAAAAAAAAAAAAAA=="
U2 = "AQEBAQEBAQEBAQEBAQEBAQ=="


def task(task_id: str, executor: ExecutorInfo = EX) -> TaskInfo:
    return TaskInfo(name=task_id, task_id=Id(task_id), executor=executor, resources=[scalar("mem", 32)])


def status(task_id: str, state: Any, uuid: str = U1) -> TaskStatus:
    return TaskStatus(task_id=Id(task_id), state=state, uuid=uuid)


class Harness:
    """Plays the shell: statuses are applied to AgentState as the agent's produce() does."""

    def __init__(self) -> None:
        self.state = AgentState()
        self.core = ExecutorCore(self.state, shutdown_grace_s=5.0)
        self.out: list[Instruction] = []

    def __call__(self, *events: Any) -> list[Instruction]:
        out = self.core.handle(*events)
        for ins in out:
            if isinstance(ins, Status):
                self.state.update_status(ins.framework_id, TaskStatus(task_id=Id(ins.task_id), state=ins.state))
            elif isinstance(ins, Forward):
                self.state.update_status(ins.framework_id, ins.status)
        self.out += out
        assert self.state.validate() == []
        return out

    def arrive(self, *task_ids: str) -> list[Instruction]:
        return self(*(TaskArrived(FW, task(t), f"c-{t}", f"/sb/{t}") for t in task_ids))

    def subscribed(self, stream: int = 1, tasks: list[TaskInfo] | None = None,
                   updates: list[TaskStatus] | None = None) -> list[Instruction]:
        return self(SubscribeReceived(KEY, stream, tasks or [], updates or []))

    def running(self, *task_ids: str) -> None:
        self.arrive(*task_ids)
        self(Started(KEY))
        self.subscribed()


def sent(out: list[Instruction]) -> list[str]:
    return [i.event.type for i in out if isinstance(i, Send)]


def test_the_first_task_starts_the_executor_and_waits_queued() -> None:
    h = Harness()
    assert h.arrive("t1") == [Spawn(KEY)]
    executor = h.state.executor(*KEY)
    assert executor is not None and list(executor.queued_tasks) == ["t1"] and not executor.command_task
    assert executor.container_id == "c-t1" and executor.directory == "/sb/t1"
    rec = h.core.record(KEY)
    assert rec is not None and rec.info.framework_id == Id("F0")  # filled in for SUBSCRIBED
    assert h.arrive("t2") == []  # still launching: queued, no second executor
    assert list(executor.queued_tasks) == ["t1", "t2"]
    assert h(Started(KEY)) == [StartRegistrationTimer(KEY)]
    assert h.core.subscribe_problem(KEY) is None
    assert h.core.call_problem(KEY) == (403, "Executor is not subscribed")


def test_subscribe_launches_the_queued_tasks_in_order() -> None:
    h = Harness()
    h.arrive("t1", "t2")
    h(Started(KEY))
    out = h.subscribed()
    assert out[0] == SendSubscribed(KEY, 1)
    assert [i.event.launch.task.task_id.value for i in out if isinstance(i, Send) and i.event.launch] == ["t1", "t2"]
    executor = h.state.executor(*KEY)
    assert executor is not None and list(executor.tasks) == ["t1", "t2"] and not executor.queued_tasks
    # Later tasks go straight to the subscribed executor.
    out = h.arrive("t3")
    assert sent(out) == ["LAUNCH"] and UpdateLimits(KEY) in out


def test_updates_are_forwarded_once_and_acknowledged_with_their_uuid() -> None:
    h = Harness()
    h.running("t1")
    out = h(UpdateReceived(KEY, status("t1", "TASK_RUNNING")))
    assert out == [Forward("F0", "E", status("t1", "TASK_RUNNING"))]
    assert h(UpdateReceived(KEY, status("t1", "TASK_RUNNING"))) == []  # duplicate uuid
    out = h(UpdateAcknowledged("F0", "t1", U1))
    assert out == [Send(KEY, 1, em.acknowledged_event("t1", U1))]
    # Once acknowledged, a resend is answered with ACKNOWLEDGED again, not forwarded.
    assert sent(h(UpdateReceived(KEY, status("t1", "TASK_RUNNING")))) == ["ACKNOWLEDGED"]
    # Acks of updates the agent made itself are not the executor's business.
    assert h(UpdateAcknowledged("F0", "t1", U2)) == []


def test_updates_for_foreign_or_queued_tasks_are_ignored() -> None:
    h = Harness()
    h.arrive("t1")
    h(Started(KEY))
    [ignored] = h(UpdateReceived(KEY, status("t1", "TASK_RUNNING")))
    assert isinstance(ignored, Ignored) and "not launched yet" in ignored.reason
    h.subscribed()
    [ignored] = h(UpdateReceived(KEY, status("other", "TASK_RUNNING")))
    assert isinstance(ignored, Ignored) and "not on this executor" in ignored.reason


def test_a_disconnected_executor_gets_what_it_missed_on_resubscribe() -> None:
    h = Harness()
    h.running("t1")
    h(UpdateReceived(KEY, status("t1", "TASK_RUNNING")))
    h(StreamClosed(KEY, 1))
    assert h.core.record(KEY).phase == "disconnected"  # type: ignore[union-attr]
    assert h(UpdateAcknowledged("F0", "t1", U1)) == []  # kept for later
    assert h.arrive("t2") == [UpdateLimits(KEY)]  # queued until it is back
    assert h(KillRequested("F0", "t1")) == []
    assert h(FrameworkMessage(KEY, "aGk=")) == []
    lost = status("t1", "TASK_FINISHED", uuid=U2)
    out = h.subscribed(stream=2, tasks=[task("t1")], updates=[lost])
    assert out[0] == SendSubscribed(KEY, 2)
    assert sent(out) == ["LAUNCH", "ACKNOWLEDGED", "KILL", "MESSAGE"]
    assert Forward("F0", "E", lost) in out
    launched = [i.event.launch.task.task_id.value for i in out if isinstance(i, Send) and i.event.launch]
    assert launched == ["t2"]


def test_an_adopted_task_is_not_launched_twice() -> None:
    h = Harness()
    h.arrive("t1")
    h(Started(KEY))
    out = h.subscribed(tasks=[task("t1")])
    assert sent(out) == []
    executor = h.state.executor(*KEY)
    assert executor is not None and list(executor.tasks) == ["t1"]


def test_a_new_subscription_replaces_the_old_stream() -> None:
    h = Harness()
    h.running("t1")
    out = h.subscribed(stream=7)
    assert out[0] == CloseStream(KEY, 1) and out[1] == SendSubscribed(KEY, 7)
    assert h(StreamClosed(KEY, 1)) == []  # the old one's end changes nothing
    assert h.core.record(KEY).phase == "subscribed"  # type: ignore[union-attr]


def test_kill_of_a_launched_task_goes_to_the_executor() -> None:
    h = Harness()
    h.running("t1")
    assert sent(h(KillRequested("F0", "t1"))) == ["KILL"]
    out = h(Exited(KEY, 0))
    assert Status("F0", "t1", "E", "TASK_KILLED", "Executor 'E' exited with status 0",
                  "REASON_EXECUTOR_TERMINATED") in out


def test_killing_the_last_queued_task_stops_a_registering_executor() -> None:
    h = Harness()
    h.arrive("t1")
    h(Started(KEY))
    out = h(KillRequested("F0", "t1"))
    assert out[0] == Status("F0", "t1", "E", "TASK_KILLED", "Killed before it reached its executor", None)
    assert out[1] == KillContainer(KEY, 0.0)
    assert h(Exited(KEY, -9)) == [Terminated("F0", "E", 9)]


def test_shutdown_of_a_subscribed_executor_sends_shutdown_then_kills_after_the_grace() -> None:
    h = Harness()
    h.running("t1", "t2")
    out = h(ShutdownRequested(KEY))
    assert sent(out) == ["SHUTDOWN"] and KillContainer(KEY, 5.0) in out
    assert h.core.subscribe_problem(KEY) == (400, "Executor 'E' is terminating")
    [lost] = h.arrive("t3")
    assert isinstance(lost, Status) and lost.state == "TASK_LOST"
    out = h(Exited(KEY, -9))
    assert [(i.task_id, i.state) for i in out if isinstance(i, Status)] == [("t1", "TASK_KILLED"), ("t2", "TASK_KILLED")]
    assert out[0] == CloseStream(KEY, 1) and out[-1] == Terminated("F0", "E", 9)
    assert h.core.records == {}


def test_shutdown_while_launching_kills_at_once() -> None:
    h = Harness()
    h.arrive("t1")
    assert h(ShutdownRequested(KEY)) == [KillContainer(KEY, 0.0)]
    out = h(Exited(KEY, None))
    assert out[0] == Status("F0", "t1", "E", "TASK_KILLED", "Executor 'E' ended before its process started",
                            "REASON_EXECUTOR_TERMINATED")


def test_an_exit_fails_every_unfinished_task_and_reports_the_executor() -> None:
    h = Harness()
    h.running("t1", "t2")
    h(UpdateReceived(KEY, status("t1", "TASK_FINISHED")))
    out = h(Exited(KEY, 3))
    assert [i for i in out if isinstance(i, Status)] == [
        Status("F0", "t2", "E", "TASK_FAILED", "Executor 'E' exited with status 3", "REASON_EXECUTOR_TERMINATED")]
    assert out[-1] == Terminated("F0", "E", 3 << 8)
    executor = h.state.executor(*KEY)
    assert executor is not None and executor.terminated


def test_a_memory_limitation_fails_tasks_even_when_they_were_being_killed() -> None:
    h = Harness()
    h.running("t1")
    h(KillRequested("F0", "t1"))
    out = h(Exited(KEY, -9, "Memory limit exceeded: Requested: 96MB Maximum Used: 96MB"))
    [st] = [i for i in out if isinstance(i, Status)]
    assert (st.state, st.reason) == ("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY")


def test_the_registration_timeout_fails_the_tasks_naming_the_last_refusal() -> None:
    h = Harness()
    h.arrive("t1")
    h(Started(KEY))
    h(CallRefused(KEY, "UPDATE answered 403: Executor is not subscribed"))
    out = h(RegistrationTimedOut(KEY, 60.0))
    assert out == [Status("F0", "t1", "E", "TASK_FAILED",
                          "Executor 'E' did not subscribe within 1mins; its last call was refused: "
                          "UPDATE answered 403: Executor is not subscribed",
                          "REASON_EXECUTOR_REGISTRATION_TIMEOUT"), KillContainer(KEY, 0.0)]
    assert h(RegistrationTimedOut(KEY, 60.0)) == []
    assert h(Exited(KEY, -9)) == [Terminated("F0", "E", 9)]  # nothing failed twice


def test_a_timer_after_subscription_changes_nothing() -> None:
    h = Harness()
    h.running("t1")
    assert h(RegistrationTimedOut(KEY, 60.0)) == []


def test_start_failure_fails_the_tasks_with_its_reason() -> None:
    h = Harness()
    h.arrive("t1", "t2")
    out = h(StartFailed(KEY, "Failed to fetch 'x': HTTP 404", "REASON_FETCHER_FAILED"))
    assert [(i.task_id, i.state, i.reason) for i in out if isinstance(i, Status)] == [
        ("t1", "TASK_FAILED", "REASON_FETCHER_FAILED"), ("t2", "TASK_FAILED", "REASON_FETCHER_FAILED")]
    assert out[-1] == Terminated("F0", "E", None)


def test_messages_both_ways() -> None:
    h = Harness()
    assert isinstance(h(FrameworkMessage(KEY, "eA=="))[0], Ignored)  # no such executor
    h.arrive("t1")
    assert h(FrameworkMessage(KEY, "eA==")) == []  # waits for the subscription
    h(Started(KEY))
    assert "MESSAGE" in sent(h.subscribed())
    assert h(MessageReceived(KEY, "eQ==")) == [ToFramework("F0", "E", "eQ==")]


def test_bad_executor_tasks_are_errors_and_ids_cannot_collide() -> None:
    h = Harness()
    no_command = ExecutorInfo(executor_id=Id("E"))
    [error] = h(TaskArrived(FW, task("t1", no_command), "c", "/sb"))
    assert isinstance(error, Status) and error.state == "TASK_ERROR" and h.core.records == {}
    h.state.add_command_task(FW, TaskInfo(name="E", task_id=Id("E"), command=CommandInfo(value="x")),
                             container_id="c0", directory="/sb0")
    [error] = h.arrive("t2")
    assert isinstance(error, Status) and error.state == "TASK_ERROR" and "in use" in error.message


def test_wait_status_and_how_it_ended() -> None:
    assert (wait_status(1), wait_status(-15)) == (256, 15)
    assert how_it_ended(-9) == "terminated with signal Killed"
