"""The status update manager, driven by a hand-moved clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pydcos.core.clock import FakeClock
from pydcos.mesos.agent.status_updates import (
    AckReceived,
    Connected,
    Disconnected,
    Forward,
    Ignored,
    StatusUpdateManager,
    StreamCompleted,
    Tick,
    UpdateProduced,
)
from pydcos.mesos.internal import StatusUpdate
from pydcos.mesos.v1.messages import Id, TaskState, TaskStatus

FW = "F0"


def update(task: str, state: TaskState, uuid: str, fw: str = FW) -> StatusUpdate:
    return StatusUpdate(fw, TaskStatus(task_id=Id(task), state=state, uuid=uuid))


RUNNING_T1 = update("t1", "TASK_RUNNING", "u1")
FINISHED_T1 = update("t1", "TASK_FINISHED", "u2")
RUNNING_T2 = update("t2", "TASK_RUNNING", "u3")


def connected(clock: FakeClock, **kw: float) -> StatusUpdateManager:
    m = StatusUpdateManager(clock=clock, **kw)
    assert m.handle(Connected()) == []
    return m


def test_unacknowledged_update_is_resent_with_backoff() -> None:
    clock = FakeClock()
    updates = connected(clock, first_retry_s=10.0, max_retry_s=60.0)
    assert updates.handle(UpdateProduced(RUNNING_T1)) == [Forward(RUNNING_T1)]
    clock.advance(9.9)
    assert updates.handle(Tick()) == []
    clock.advance(0.1)
    assert updates.handle(Tick()) == [Forward(RUNNING_T1)]  # next retry after 20 s
    clock.advance(19.9)
    assert updates.handle(Tick()) == []
    clock.advance(0.1)
    assert updates.handle(Tick()) == [Forward(RUNNING_T1)]  # then 40 s
    clock.advance(40)
    assert updates.handle(Tick()) == [Forward(RUNNING_T1)]  # then capped at 60 s
    clock.advance(59.9)
    assert updates.handle(Tick()) == []
    clock.advance(0.1)
    assert updates.handle(Tick()) == [Forward(RUNNING_T1)]
    clock.advance(60)
    assert updates.handle(Tick()) == [Forward(RUNNING_T1)]


def test_only_the_head_is_in_flight_and_an_ack_sends_the_next() -> None:
    clock = FakeClock()
    updates = connected(clock, first_retry_s=2.0)
    assert updates.handle(UpdateProduced(RUNNING_T1), UpdateProduced(FINISHED_T1)) == [Forward(RUNNING_T1)]
    assert updates.pending("F0", "t1") == [RUNNING_T1, FINISHED_T1]
    clock.advance(1)
    assert updates.handle(AckReceived(FW, "t1", "u1")) == [Forward(FINISHED_T1)]
    # The new head gets a fresh backoff from now.
    clock.advance(1.9)
    assert updates.handle(Tick()) == []
    clock.advance(0.1)
    assert updates.handle(Tick()) == [Forward(FINISHED_T1)]


def test_acked_terminal_update_completes_the_stream() -> None:
    clock = FakeClock()
    updates = connected(clock)
    updates.handle(UpdateProduced(FINISHED_T1))
    assert updates.handle(AckReceived(FW, "t1", "u2")) == [StreamCompleted(FW, "t1")]
    assert updates.pending_count() == 0
    assert updates.next_deadline() is None
    clock.advance(1000)
    assert updates.handle(Tick()) == []


def test_acked_non_terminal_update_leaves_no_stream_behind() -> None:
    updates = connected(FakeClock())
    updates.handle(UpdateProduced(RUNNING_T1))
    assert updates.handle(AckReceived(FW, "t1", "u1")) == []
    assert updates.pending_count() == 0
    assert updates.handle(UpdateProduced(FINISHED_T1)) == [Forward(FINISHED_T1)]


def test_acks_for_other_uuids_or_tasks_are_ignored() -> None:
    updates = connected(FakeClock())
    updates.handle(UpdateProduced(RUNNING_T1), UpdateProduced(FINISHED_T1))
    wrong = updates.handle(AckReceived(FW, "t1", "u2"), AckReceived(FW, "nope", "u1"), AckReceived("F9", "t1", "u1"))
    assert all(isinstance(i, Ignored) for i in wrong) and len(wrong) == 3
    assert updates.pending("F0", "t1") == [RUNNING_T1, FINISHED_T1]
    # A duplicate ack of an already acknowledged update changes nothing either.
    assert updates.handle(AckReceived(FW, "t1", "u1")) == [Forward(FINISHED_T1)]
    assert isinstance(updates.handle(AckReceived(FW, "t1", "u1"))[0], Ignored)


def test_updates_after_a_terminal_one_are_dropped() -> None:
    updates = connected(FakeClock())
    updates.handle(UpdateProduced(FINISHED_T1))
    [ignored] = updates.handle(UpdateProduced(update("t1", "TASK_RUNNING", "late")))
    assert isinstance(ignored, Ignored)
    assert updates.pending("F0", "t1") == [FINISHED_T1]


def test_nothing_is_sent_while_disconnected_and_heads_go_out_on_connect() -> None:
    clock = FakeClock()
    updates = StatusUpdateManager(clock=clock, first_retry_s=2.0)
    assert updates.handle(UpdateProduced(RUNNING_T1), UpdateProduced(RUNNING_T2)) == []
    clock.advance(100)
    assert updates.handle(Tick()) == []
    assert updates.next_deadline() is None
    assert updates.handle(Connected()) == [Forward(RUNNING_T1), Forward(RUNNING_T2)]
    assert updates.next_deadline() == pytest.approx(102.0)


def test_disconnect_stops_retries_and_reconnect_resends_every_head_at_once() -> None:
    clock = FakeClock()
    updates = connected(clock, first_retry_s=2.0)
    updates.handle(UpdateProduced(RUNNING_T1), UpdateProduced(FINISHED_T1), UpdateProduced(RUNNING_T2))
    clock.advance(2)
    updates.handle(Tick())  # backoff for both heads grows to 4 s
    updates.handle(Disconnected())
    clock.advance(100)
    assert updates.handle(Tick()) == []
    assert updates.handle(Connected()) == [Forward(RUNNING_T1), Forward(RUNNING_T2)]
    clock.advance(2)  # the backoff starts over after re-registration
    assert updates.handle(Tick()) == [Forward(RUNNING_T1), Forward(RUNNING_T2)]


def test_an_ack_while_disconnected_queues_the_next_update_for_later() -> None:
    updates = connected(FakeClock())
    updates.handle(UpdateProduced(RUNNING_T1), UpdateProduced(FINISHED_T1))
    updates.handle(Disconnected())
    assert updates.handle(AckReceived(FW, "t1", "u1")) == []
    assert updates.handle(Connected()) == [Forward(FINISHED_T1)]


def test_next_deadline_is_the_earliest_retry() -> None:
    clock = FakeClock()
    updates = connected(clock, first_retry_s=2.0)
    updates.handle(UpdateProduced(RUNNING_T1))
    clock.advance(1)
    updates.handle(UpdateProduced(RUNNING_T2))
    assert updates.next_deadline() == pytest.approx(2.0)
    updates.handle(AckReceived(FW, "t1", "u1"))
    assert updates.next_deadline() == pytest.approx(3.0)


def test_streams_are_per_framework_and_task() -> None:
    updates = connected(FakeClock())
    other = update("t1", "TASK_RUNNING", "x1", fw="F1")
    assert updates.handle(UpdateProduced(RUNNING_T1), UpdateProduced(other)) == [Forward(RUNNING_T1), Forward(other)]
    assert updates.pending_count() == 2


def test_bad_backoff_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        StatusUpdateManager(clock=FakeClock(), first_retry_s=0)
    with pytest.raises(ValueError):
        StatusUpdateManager(clock=FakeClock(), first_retry_s=5, max_retry_s=1)


STATES: list[TaskState] = ["TASK_RUNNING", "TASK_RUNNING", "TASK_FINISHED", "TASK_FAILED"]


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["produce", "ack_head", "ack_junk", "tick", "connect", "disconnect"]),
            st.sampled_from(["t1", "t2", "t3"]),
            st.sampled_from(STATES),
            st.floats(min_value=0, max_value=30),
        ),
        max_size=60,
    )
)
def test_invariants_hold_for_any_sequence(steps: list[tuple[str, str, TaskState, float]]) -> None:
    """Only heads are forwarded, nothing while disconnected, every update is delivered in order,
    and a stream completes exactly when its terminal update is acknowledged."""
    clock = FakeClock()
    updates = StatusUpdateManager(clock=clock, first_retry_s=1.0, max_retry_s=8.0)
    produced: dict[str, list[StatusUpdate]] = {}
    acked: dict[str, list[StatusUpdate]] = {}
    completed: set[str] = set()
    n = 0
    for action, task, state, dt in steps:
        clock.advance(dt)
        if action == "produce":
            n += 1
            u = update(task, state, f"u{n}")
            out = updates.handle(UpdateProduced(u))
            if not any(isinstance(i, Ignored) for i in out):
                produced.setdefault(task, []).append(u)
        elif action == "ack_head":
            pending = updates.pending(FW, task)
            if not pending:
                continue
            out = updates.handle(AckReceived(FW, task, pending[0].status.uuid or ""))
            acked.setdefault(task, []).append(pending[0])
        elif action == "ack_junk":
            out = updates.handle(AckReceived(FW, task, "junk"))
        elif action == "tick":
            out = updates.handle(Tick())
        elif action == "connect":
            out = updates.handle(Connected())
        else:
            out = updates.handle(Disconnected())
        for i in out:
            if isinstance(i, Forward):
                assert updates.connected
                t = i.update.status.task_id.value
                assert updates.pending(FW, t)[0] == i.update
            elif isinstance(i, StreamCompleted):
                assert acked[i.task_id][-1].status.state in ("TASK_FINISHED", "TASK_FAILED")
                completed.add(i.task_id)
    for task, items in produced.items():
        assert acked.get(task, []) + updates.pending(FW, task) == items  # FIFO, nothing lost
