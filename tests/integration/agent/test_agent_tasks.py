"""Command tasks end to end: a real agent, real processes, a fake master on loopback."""

from __future__ import annotations

import os
import time
from typing import Any

import aiohttp
import pytest
from agent_fake_master import (
    FRAMEWORK_ID,
    FakeMaster,
    command_task,
    framework,
    get_json,
    run,
    sandbox_of,
)

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.service import Agent
from pydcos.mesos.v1.messages import (
    CommandInfo,
    DurationInfo,
    Environment,
    EnvironmentVariable,
    ExecutorInfo,
    Id,
    KillPolicy,
    TaskInfo,
)


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_registration_describes_the_agent(agent: Agent, master: FakeMaster) -> None:
    reg = master.registrations[0]
    assert reg.agent_id is None
    assert agent.agent_id == "fake-master-1-S0"
    assert (reg.ip, reg.port, reg.zone, reg.version) == ("127.0.0.1", agent.port, "private", "1.0.1")
    assert reg.info.hostname == "127.0.0.1" and reg.info.port == agent.port
    names = {r.name: r for r in reg.info.resources}
    assert names["cpus"].scalar is not None and names["cpus"].scalar.value == 4
    assert names["ports"].ranges is not None and names["ports"].ranges.range[0].begin == 31000
    assert {r.role for r in reg.info.resources} == {"*"}
    assert {a.name for a in reg.info.attributes} == {"rack", "level"}


async def test_public_agent_reserves_to_slave_public(make_agent: Any, master: FakeMaster) -> None:
    await make_agent(zone="public")
    assert {r.role for r in master.registrations[-1].info.resources} == {"slave_public"}


async def test_echo_runs_finishes_and_its_stdout_is_readable(
    agent: Agent, master: FakeMaster, http: aiohttp.ClientSession
) -> None:
    await master.send(run(command_task("echo.1", "echo hello")))
    finished = await master.wait_status("echo.1", "TASK_FINISHED")
    assert master.states("echo.1") == ["TASK_RUNNING", "TASK_FINISHED"]
    assert finished.message == "Command exited with status 0"
    assert finished.source == "SOURCE_EXECUTOR"
    assert finished.agent_id == Id(agent.agent_id or "")
    assert finished.executor_id == Id("echo.1")
    assert finished.uuid and finished.timestamp
    await wait_until(lambda: agent.updates.pending_count() == 0, what="all updates acknowledged")

    _, state = await get_json(http, f"{agent.url}/state.json")
    fw = state["completed_frameworks"][0]
    executor = fw["completed_executors"][0]
    assert executor["id"] == "echo.1" and executor["source"] == "echo.1"
    assert executor["name"] == "Command Executor (Task: echo.1) (Command: sh -c 'echo hello')"
    assert [t["state"] for t in executor["completed_tasks"]] == ["TASK_FINISHED"]
    path = executor["directory"] + "/stdout"
    status, body = await get_json(http, f"{agent.url}/files/read.json?path={path}&offset=0&length=-1")
    assert (status, body) == (200, {"data": "hello\n", "offset": 0})
    status, body = await get_json(http, f"{agent.url}/files/read.json?path={path}&offset=-1&length=0")
    assert (status, body) == (200, {"data": "", "offset": 6})


async def test_nonzero_exit_fails_with_the_status(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(command_task("fail.1", "echo oops >&2; exit 3")))
    failed = await master.wait_status("fail.1", "TASK_FAILED")
    assert failed.message == "Command exited with status 3"
    assert (sandbox_of(agent, "fail.1") / "stderr").read_text() == "oops\n"


async def test_death_by_signal_fails_naming_the_signal(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(command_task("sig.1", "kill -KILL $$")))
    failed = await master.wait_status("sig.1", "TASK_FAILED")
    assert failed.message == "Command terminated with signal Killed"


async def test_argv_command_runs_without_a_shell(agent: Agent, master: FakeMaster) -> None:
    task = command_task("argv.1", "/bin/echo", shell=False, arguments=["echo", "a  b", "$HOME"])
    await master.send(run(task))
    await master.wait_status("argv.1", "TASK_FINISHED")
    assert (sandbox_of(agent, "argv.1") / "stdout").read_text() == "a  b $HOME\n"


async def test_missing_program_fails_with_the_reason(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(command_task("missing.1", "/no/such/program", shell=False)))
    failed = await master.wait_status("missing.1", "TASK_FAILED")
    assert failed.message is not None and "No such file or directory" in failed.message
    assert "/no/such/program" in failed.message
    assert "No such file" in (sandbox_of(agent, "missing.1") / "stderr").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root agent switches users")
async def test_unknown_user_fails_with_a_clear_message(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(command_task("user.1", "true", user="no-such-user-xyz")))
    failed = await master.wait_status("user.1", "TASK_FAILED")
    assert failed.message == "Failed to launch task: user 'no-such-user-xyz' does not exist on this agent"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_task_runs_as_its_user(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(command_task("nobody.1", "id -un; pwd"), fw=framework(user="nobody")))
    await master.wait_status("nobody.1", "TASK_FINISHED")
    sandbox = sandbox_of(agent, "nobody.1")
    assert (sandbox / "stdout").read_text() == f"nobody\n{sandbox}\n"


async def test_task_environment(agent: Agent, master: FakeMaster) -> None:
    task = command_task("env.1", "env", ports=[(31000, 31001), (31005, 31005)])
    command = CommandInfo(
        value="env",
        environment=Environment([EnvironmentVariable("GREETING", "hi"), EnvironmentVariable("PORT0", "1")]),
    )
    task = TaskInfo(name=task.name, task_id=task.task_id, resources=task.resources, command=command)
    await master.send(run(task))
    await master.wait_status("env.1", "TASK_FINISHED")
    sandbox = sandbox_of(agent, "env.1")
    env = dict(line.split("=", 1) for line in (sandbox / "stdout").read_text().splitlines() if "=" in line)
    assert env["GREETING"] == "hi"
    assert env["PORT0"] == "1"  # the task's own variables win
    assert (env["PORTS"], env["PORT"], env["PORT1"], env["PORT2"]) == ("31000,31001,31005", "31000", "31001", "31005")
    assert env["MESOS_SANDBOX"] == env["MESOS_DIRECTORY"] == str(sandbox) == env["PWD"]
    assert env["MESOS_TASK_ID"] == env["MESOS_EXECUTOR_ID"] == "env.1"
    assert env["MESOS_FRAMEWORK_ID"] == FRAMEWORK_ID
    assert env["MESOS_AGENT_ID"] == agent.agent_id
    assert env["MESOS_AGENT_ENDPOINT"] == f"127.0.0.1:{agent.port}"
    assert env["HOST"] == env["LIBPROCESS_IP"] == "127.0.0.1"
    assert "HOME" not in env


async def test_kill_escalates_to_sigkill_after_the_grace_period(agent: Agent, master: FakeMaster) -> None:
    task = command_task("stubborn.1", "trap '' TERM; echo ready; sleep 60 & wait", grace_s=0.3)
    await master.send(run(task))
    await master.wait_status("stubborn.1", "TASK_RUNNING")
    sandbox = sandbox_of(agent, "stubborn.1")
    await wait_until(lambda: (sandbox / "stdout").read_text() == "ready\n", what="trap installed")
    pgid = agent.tasks.pid(FRAMEWORK_ID, "stubborn.1")
    assert pgid is not None
    started = time.monotonic()
    await master.send(internal.KillTask(FRAMEWORK_ID, "stubborn.1"))
    killed = await master.wait_status("stubborn.1", "TASK_KILLED")
    assert time.monotonic() - started >= 0.3
    assert killed.message == "Command terminated with signal Killed"
    await wait_until(lambda: group_gone(pgid), what="no process left in the task's group")


async def test_kill_policy_of_the_kill_wins_and_sigterm_suffices(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(command_task("sleepy.1", "exec sleep 60", grace_s=30)))
    await master.wait_status("sleepy.1", "TASK_RUNNING")
    pgid = agent.tasks.pid(FRAMEWORK_ID, "sleepy.1")
    assert pgid is not None
    policy = KillPolicy(DurationInfo(5_000_000_000))
    await master.send(internal.KillTask(FRAMEWORK_ID, "sleepy.1", policy))
    killed = await master.wait_status("sleepy.1", "TASK_KILLED", within=3.0)
    assert killed.message == "Command terminated with signal Terminated"
    await wait_until(lambda: group_gone(pgid), what="group gone")


async def test_leftover_group_members_are_killed_when_the_task_ends(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(command_task("bg.1", "sleep 60 & echo $!")))
    await master.wait_status("bg.1", "TASK_FINISHED")
    child = int((sandbox_of(agent, "bg.1") / "stdout").read_text())

    def child_gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        return False

    await wait_until(child_gone, what="background child killed and reaped")


async def test_kill_of_an_unknown_task_answers_lost(agent: Agent, master: FakeMaster) -> None:
    await master.send(internal.KillTask(FRAMEWORK_ID, "ghost.1"))
    lost = await master.wait_status("ghost.1", "TASK_LOST")
    assert lost.message == "Task is unknown to the agent"
    assert lost.source == "SOURCE_AGENT"


async def test_custom_executor_that_cannot_run_fails_its_task(agent: Agent, master: FakeMaster) -> None:
    # Custom executors are supported now (tests/integration/executors); one whose program is
    # missing dies at once, and its task fails saying so.
    task = TaskInfo(
        name="custom",
        task_id=Id("custom.1"),
        executor=ExecutorInfo(executor_id=Id("ex1"), command=CommandInfo(value="./executor")),
    )
    await master.send(run(task))
    failed = await master.wait_status("custom.1", "TASK_FAILED")
    assert failed.message == "Executor 'ex1' exited with status 127", failed
    assert failed.reason == "REASON_EXECUTOR_TERMINATED"
    # ... and the agent still runs tasks.
    await master.send(run(command_task("after.1", "true")))
    await master.wait_status("after.1", "TASK_FINISHED")


async def test_invalid_task_id_is_an_error_not_an_escape(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(command_task("../../escape", "true")))
    error = await master.wait_status("../../escape", "TASK_ERROR")
    assert error.message is not None and "'/'" in error.message


async def test_shutdown_framework_kills_all_its_tasks(agent: Agent, master: FakeMaster) -> None:
    other = framework("other-fw")
    await master.send(run(command_task("a.1", "exec sleep 60"), command_task("a.2", "exec sleep 60")))
    await master.send(run(command_task("b.1", "exec sleep 60"), fw=other))
    for task_id in ("a.1", "a.2", "b.1"):
        await master.wait_status(task_id, "TASK_RUNNING")
    await master.send(internal.ShutdownFramework(FRAMEWORK_ID))
    await master.wait_status("a.1", "TASK_KILLED")
    await master.wait_status("a.2", "TASK_KILLED")
    assert master.states("b.1") == ["TASK_RUNNING"]
    await master.send(internal.ShutdownExecutor("other-fw", "b.1"))
    await master.wait_status("b.1", "TASK_KILLED")


async def test_a_burst_of_launches_is_reported_in_one_frame(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(*(command_task(f"burst.{i}", "exec sleep 60") for i in range(20))))
    await wait_until(lambda: len(master.updates) >= 20, what="20 updates")
    # The first frame carries all 20 (later ones can only be resends, on a slow machine).
    first = next(f for f in master.frames if isinstance(f, internal.StatusUpdates))
    assert sorted(u.status.task_id.value for u in first.updates) == sorted(f"burst.{i}" for i in range(20))
    assert len(agent.tasks) == 20


async def test_a_bug_while_launching_fails_that_task_only(
    agent: Agent, master: FakeMaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    containers = agent.tasks._containers
    real_launch = containers.launch

    def flaky_launch(container_id: str, spec: Any, **kwargs: Any) -> int:
        if "boom" in spec.env["MESOS_TASK_ID"]:
            raise RuntimeError("simulated bug")
        return real_launch(container_id, spec, **kwargs)

    monkeypatch.setattr(containers, "launch", flaky_launch)
    await master.send(run(command_task("boom.1", "true"), command_task("fine.1", "true")))
    failed = await master.wait_status("boom.1", "TASK_FAILED")
    assert failed.message == "Agent error while launching the task"
    await master.wait_status("fine.1", "TASK_FINISHED")
    await wait_until(lambda: agent.updates.pending_count() == 0, what="all acknowledged")
    assert agent.state.validate() == []
