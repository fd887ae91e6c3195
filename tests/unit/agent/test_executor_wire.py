"""Executor API messages, the executor environment and duration formats."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pydcos.mesos.agent import executor_messages as em
from pydcos.mesos.agent.environment import ExecutorContext, executor_environment, format_duration
from pydcos.mesos.executor import parse_duration
from pydcos.mesos.v1.messages import CommandInfo, Environment, EnvironmentVariable, Id


def test_pymesos_calls_decode() -> None:
    body = (b'{"type": "UPDATE", "executor_id": {"value": "E"}, "framework_id": {"value": "F"}, "update": '
            b'{"status": {"task_id": {"value": "t"}, "state": "TASK_RUNNING", "timestamp": 1700000000, '
            b'"uuid": "AAAAAAAAAAAAAAAAAAAAAA==", "source": "SOURCE_EXECUTOR", "slave_id": {"value": "x"}}}}')
    call = em.CALL_DECODER.decode(body)
    assert em.call_problem(call) is None and call.update is not None
    assert call.update.status.timestamp == 1700000000.0
    sub = em.CALL_DECODER.decode(b'{"type": "SUBSCRIBE", "framework_id": {"value": "F"}, "executor_id": '
                                 b'{"value": "E"}, "subscribe": {"unacknowledged_tasks": [], '
                                 b'"unacknowledged_updates": []}}')
    assert em.call_problem(sub) is None


@pytest.mark.parametrize(("body", "problem"), [
    (b'{"type": "UPDATE", "framework_id": {"value": "F"}, "executor_id": {"value": "E"}}', "'update'"),
    (b'{"type": "MESSAGE", "framework_id": {"value": "F"}, "executor_id": {"value": "E"}}', "'message'"),
    (b'{"type": "MESSAGE", "framework_id": {"value": ""}, "executor_id": {"value": "E"}, "message": {}}',
     "non-empty"),
])
def test_call_problems(body: bytes, problem: str) -> None:
    assert problem in (em.call_problem(em.CALL_DECODER.decode(body)) or "")


def test_unknown_call_types_do_not_decode() -> None:
    with pytest.raises(msgspec.ValidationError):
        em.CALL_DECODER.decode(b'{"type": "LAUNCH", "framework_id": {"value": "F"}, "executor_id": {"value": "E"}}')


def test_events_encode_compactly_with_only_their_payload() -> None:
    assert em.encode_event(em.SHUTDOWN) == b'{"type":"SHUTDOWN"}'
    assert em.encode_event(em.acknowledged_event("t", "u")) == (
        b'{"type":"ACKNOWLEDGED","acknowledged":{"task_id":{"value":"t"},"uuid":"u"}}')
    assert em.encode_event(em.error_event("caf\u00e9")) == b'{"type":"ERROR","error":{"message":"caf\\u00e9"}}'
    assert em.valid_uuid("AAAAAAAAAAAAAAAAAAAAAA==") and not em.valid_uuid("AAAA") and not em.valid_uuid("!!")


def test_executor_environment() -> None:
    ctx = ExecutorContext("S0", "F0", "E", "/sb", "10.0.0.2", 5051, "node", False, 3.0)
    command = CommandInfo(value="x", environment=Environment([EnvironmentVariable("A", "1"),
                                                              EnvironmentVariable("MESOS_CHECKPOINT", "mine")]))
    env = executor_environment(command, ctx)
    assert env["MESOS_CHECKPOINT"] == "mine"  # the framework's own variables win, as for tasks
    assert env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] == "3secs" and env["A"] == "1"
    assert "MESOS_RECOVERY_TIMEOUT" not in env and "MESOS_SUBSCRIPTION_BACKOFF_MAX" not in env
    assert env["MESOS_SLAVE_PID"] == "slave(1)@10.0.0.2:5051" and env["MESOS_DIRECTORY"] == "/sb"
    assert executor_environment(None, ctx)["MESOS_CHECKPOINT"] == "0"


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False))
def test_durations_round_trip_through_the_executor_libraries_format(seconds: float) -> None:
    text = format_duration(seconds)
    assert text.endswith(("ns", "us", "ms", "secs", "mins", "hrs", "days", "weeks"))
    assert parse_duration(text) == pytest.approx(round(seconds * 1e9) / 1e9, rel=1e-9, abs=1e-9)


def test_ids_in_events_are_whole_objects() -> None:
    sub = em.Subscribed(executor_info=msgspec.convert({"executor_id": {"value": "E"}}, em.ExecutorInfo),
                        framework_info=msgspec.convert({"id": {"value": "F"}}, em.FrameworkInfo),
                        agent_info=msgspec.convert({"hostname": "h", "id": {"value": "S"}}, em.AgentInfo),
                        container_id=Id("c"))
    decoded = msgspec.json.decode(em.encode_event(em.ExecutorEvent(type="SUBSCRIBED", subscribed=sub)))
    assert decoded["subscribed"]["executor_info"]["executor_id"] == {"value": "E"}
    assert decoded["subscribed"]["framework_info"]["id"] == {"value": "F"}
