"""The master's batching of messages to one agent (pydcos/mesos/master/streams.py)."""

from __future__ import annotations

from pydcos.mesos import internal
from pydcos.mesos.master.streams import coalesce


def kill(task_id: str) -> internal.KillTask:
    return internal.KillTask("fw", task_id)


def ack(task_id: str) -> internal.AcknowledgeUpdates:
    return internal.AcknowledgeUpdates([internal.Ack("fw", task_id, "u-" + task_id)])


def test_neighbouring_kills_become_one_frame_in_order() -> None:
    out = coalesce([kill("a"), kill("b"), kill("c")])
    assert out == [internal.KillTasks([kill("a"), kill("b"), kill("c")])]


def test_kills_are_not_merged_across_other_messages() -> None:
    shutdown = internal.ShutdownFramework("fw")
    out = coalesce([kill("a"), kill("b"), shutdown, kill("c"), ack("x"), ack("y"), kill("d")])
    assert out == [internal.KillTasks([kill("a"), kill("b")]), shutdown, kill("c"),
                   internal.AcknowledgeUpdates(ack("x").acks + ack("y").acks), kill("d")]


def test_an_agent_of_protocol_1_gets_single_kills() -> None:
    batch = [kill("a"), kill("b")]
    assert coalesce(batch, kills=False) == batch


def test_kill_tasks_round_trips_the_wire() -> None:
    msg = internal.KillTasks([kill("a"), internal.KillTask("fw", "b")])
    assert internal.MASTER_TO_AGENT.decode(internal.encode(msg)) == msg
