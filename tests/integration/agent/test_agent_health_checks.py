"""Health checks run by the agent for its command tasks: a real agent, real processes and sockets,
a fake master on loopback. Updates with `healthy` come through the normal status update path."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from agent_fake_master import FRAMEWORK_ID, FakeMaster, command_task, get_json, run, sandbox_of

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.service import Agent
from pydcos.mesos.v1.messages import TaskInfo, TaskStatus

REASON = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"
FAST = {"delay_seconds": 0, "interval_seconds": 0.05, "timeout_seconds": 5, "grace_period_seconds": 0}


def checked(task_id: str, cmd: str, check: dict[str, Any], **task: Any) -> TaskInfo:
    return msgspec.structs.replace(command_task(task_id, cmd, **task), health_check={**FAST, **check})


def command_check(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "COMMAND", "command": {"value": value}, **extra}


def health_updates(master: FakeMaster, task_id: str) -> list[TaskStatus]:
    return [s for s in master.statuses(task_id) if s.healthy is not None and s.state == "TASK_RUNNING"]


def healths(master: FakeMaster, task_id: str) -> list[bool | None]:
    return [s.healthy for s in health_updates(master, task_id)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def lines(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except FileNotFoundError:
        return []


def reaped(pid: int) -> bool:
    """Gone from the process table (not even a zombie)."""
    return not os.path.exists(f"/proc/{pid}")


async def test_a_passing_command_check_reports_healthy_once(
    agent: Agent, master: FakeMaster, http: aiohttp.ClientSession
) -> None:
    # Runs in the sandbox, with the task's environment and the check's own variables over it.
    value = 'echo x >> runs; test "$PWD" = "$MESOS_SANDBOX" && test "$MESOS_TASK_ID" = hc.ok && test "$FROM_CHECK" = yes'
    check = {"type": "COMMAND", "command": {"value": value, "environment": {"variables": [
        {"name": "FROM_CHECK", "value": "yes"}]}}}
    await master.send(run(checked("hc.ok", "sleep 30", check)))
    await wait_until(lambda: healths(master, "hc.ok"), what="a healthy update")
    [update] = health_updates(master, "hc.ok")
    assert update.healthy is True
    assert (update.reason, update.source) == (REASON, "SOURCE_EXECUTOR")
    assert update.executor_id is not None and update.executor_id.value == "hc.ok"
    assert update.uuid and update.timestamp and update.container_status
    assert master.states("hc.ok") == ["TASK_RUNNING", "TASK_RUNNING"]

    runs = sandbox_of(agent, "hc.ok") / "runs"
    await wait_until(lambda: len(lines(runs)) >= 4, what="more checks")
    assert healths(master, "hc.ok") == [True]  # steady health is not reported again
    await wait_until(lambda: agent.updates.pending_count() == 0, what="health update acknowledged")

    _, state = await get_json(http, f"{agent.url}/state")
    [task] = state["frameworks"][0]["executors"][0]["tasks"]
    assert [s.get("healthy") for s in task["statuses"]] == [None, True]
    assert task["state"] == "TASK_RUNNING"


async def test_a_failing_check_reports_unhealthy_then_kills_after_consecutive_failures(
    agent: Agent, master: FakeMaster
) -> None:
    check = command_check("echo x >> runs; exit 3", consecutive_failures=3)
    await master.send(run(checked("hc.bad", "sleep 30", check)))
    killed = await master.wait_status("hc.bad", "TASK_KILLED")
    assert killed.healthy is False  # the kill was the health check's
    assert killed.message == "Command terminated with signal Terminated"
    [unhealthy] = health_updates(master, "hc.bad")
    assert unhealthy.healthy is False and unhealthy.reason == REASON
    assert unhealthy.message == "COMMAND health check failed: command returned status 3"
    assert master.states("hc.bad") == ["TASK_RUNNING", "TASK_RUNNING", "TASK_KILLED"]
    assert len(lines(sandbox_of(agent, "hc.bad") / "runs")) == 3  # and no check after the kill
    assert len(agent.tasks.health) == 0


async def test_failures_in_the_grace_period_are_not_reported(agent: Agent, master: FakeMaster) -> None:
    # Fails twice, then passes: within the grace period nothing is said before the first success.
    check = command_check('n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; [ "$n" -ge 2 ]',
                          grace_period_seconds=60, consecutive_failures=1)
    await master.send(run(checked("hc.grace", "sleep 30", check)))
    await wait_until(lambda: healths(master, "hc.grace"), what="a health update")
    assert healths(master, "hc.grace") == [True]
    assert int((sandbox_of(agent, "hc.grace") / "n").read_text()) >= 3  # two failures came first


async def test_health_flips_are_reported_each_time(agent: Agent, master: FakeMaster) -> None:
    check = command_check('test ! -e "$MESOS_SANDBOX/down"', consecutive_failures=1000)
    await master.send(run(checked("hc.flip", "sleep 30", check)))
    await wait_until(lambda: healths(master, "hc.flip") == [True], what="healthy")
    down = sandbox_of(agent, "hc.flip") / "down"
    down.touch()
    await wait_until(lambda: healths(master, "hc.flip") == [True, False], what="unhealthy")
    down.unlink()
    await wait_until(lambda: healths(master, "hc.flip") == [True, False, True], what="healthy again")
    assert master.states("hc.flip") == ["TASK_RUNNING"] * 4


async def test_a_check_that_times_out_fails_and_its_processes_are_killed(agent: Agent, master: FakeMaster) -> None:
    check = command_check("echo $$ >> pids; sleep 0.01 & exec sleep 30", timeout_seconds=0.3, consecutive_failures=2)
    await master.send(run(checked("hc.slow", "sleep 30", check)))
    killed = await master.wait_status("hc.slow", "TASK_KILLED", within=15)
    assert killed.healthy is False
    [unhealthy] = health_updates(master, "hc.slow")
    assert unhealthy.message == "COMMAND health check failed: no answer within 0.3s; aborted"
    pids = [int(p) for p in lines(sandbox_of(agent, "hc.slow") / "pids")]
    assert len(pids) == 2
    await wait_until(lambda: all(reaped(p) for p in pids), what="timed-out checks killed and reaped")


async def test_a_kill_stops_the_checks_and_the_final_update_has_no_health(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(checked("hc.killed", "sleep 30", command_check("true"))))
    await wait_until(lambda: healths(master, "hc.killed") == [True], what="healthy")
    assert len(agent.tasks.health) == 1
    await master.send(internal.KillTask(framework_id=FRAMEWORK_ID, task_id="hc.killed"))
    killed = await master.wait_status("hc.killed", "TASK_KILLED")
    assert killed.healthy is None
    assert len(agent.tasks.health) == 0


async def test_http_check_against_a_server_the_task_runs(agent: Agent, master: FakeMaster) -> None:
    port = free_port()
    server = "exec python3 -m http.server --bind 127.0.0.1 $PORT0"
    ok = checked("hc.http", server, {"type": "HTTP", "http": {"port": port, "path": "/"}, "grace_period_seconds": 30},
                 ports=[(port, port)])
    await master.send(run(ok))
    await wait_until(lambda: healths(master, "hc.http") == [True], timeout=20, what="HTTP check healthy")


async def test_http_check_with_statuses_the_server_does_not_answer_is_unhealthy(
    agent: Agent, master: FakeMaster
) -> None:
    # One task serves (its check wants 204 but gets 200, and it is still in its grace period, so
    # nothing is said); a second task, without grace, checks the first's port once it answers.
    port = free_port()
    server = "exec python3 -m http.server --bind 127.0.0.1 $PORT0"
    wants_204 = {"type": "HTTP", "http": {"port": port, "statuses": [204]}, "consecutive_failures": 100}
    await master.send(run(checked("hc.http204", server, {**wants_204, "grace_period_seconds": 60},
                                  ports=[(port, port)])))
    await wait_until(lambda: _answers(port), timeout=20, what="the server answering")
    await master.send(run(checked("hc.http204b", "sleep 30", wants_204)))
    await wait_until(lambda: healths(master, "hc.http204b") == [False], what="HTTP check unhealthy")
    [update] = health_updates(master, "hc.http204b")
    assert update.message == f"HTTP health check failed: unexpected HTTP response code 200 from http://127.0.0.1:{port}/"
    assert healths(master, "hc.http204") == []


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def test_tcp_checks_pass_on_a_listening_port_and_fail_on_a_closed_one(agent: Agent, master: FakeMaster) -> None:
    port = free_port()
    server = "exec python3 -m http.server --bind 127.0.0.1 $PORT0"
    await master.send(run(checked("hc.tcp", server, {"type": "TCP", "tcp": {"port": port}, "grace_period_seconds": 30},
                                  ports=[(port, port)])))
    await wait_until(lambda: healths(master, "hc.tcp") == [True], timeout=20, what="TCP check healthy")

    closed = free_port()
    await master.send(run(checked("hc.tcp.closed", "sleep 30", {"type": "TCP", "tcp": {"port": closed},
                                                                "consecutive_failures": 2})))
    killed = await master.wait_status("hc.tcp.closed", "TASK_KILLED")
    assert killed.healthy is False
    [update] = health_updates(master, "hc.tcp.closed")
    assert update.message is not None and update.message.startswith("TCP health check failed: ")


async def test_an_invalid_check_makes_the_task_an_error_and_nothing_runs(agent: Agent, master: FakeMaster) -> None:
    task = checked("hc.invalid", "sleep 30", {"type": "HTTP", "http": {"port": 80, "scheme": "gopher"}})
    await master.send(run(task))
    error = await master.wait_status("hc.invalid", "TASK_ERROR")
    assert error.message == "Task uses invalid health check: Unsupported HTTP health check scheme: 'gopher'"
    assert (error.reason, error.source) == ("REASON_TASK_INVALID", "SOURCE_AGENT")
    typed = checked("hc.typed", "sleep 30", {"type": "TCP", "tcp": {"port": "eighty"}})
    await master.send(run(typed))
    error = await master.wait_status("hc.typed", "TASK_ERROR")
    assert error.message is not None and "$.tcp.port" in error.message
    assert len(agent.tasks) == 0 and len(agent.tasks.health) == 0


async def test_a_command_check_runs_in_the_tasks_cgroups(agent: Agent, master: FakeMaster) -> None:
    if agent.isolation == "none":
        pytest.skip("cgroups isolation is not usable here")
    check = command_check("cat /proc/self/cgroup > check.cgroup")
    await master.send(run(checked("hc.cg", "cat /proc/self/cgroup > task.cgroup; exec sleep 30", check)))
    await wait_until(lambda: healths(master, "hc.cg") == [True], what="healthy")
    sandbox = sandbox_of(agent, "hc.cg")

    def memory_cgroup(name: str) -> str:
        return next(line for line in (sandbox / name).read_text().splitlines() if ":memory:" in line or
                    line.startswith("0::"))

    container_id = agent.tasks.container_id(FRAMEWORK_ID, "hc.cg")
    assert container_id is not None and memory_cgroup("task.cgroup").endswith("/" + container_id)
    assert memory_cgroup("check.cgroup") == memory_cgroup("task.cgroup")
