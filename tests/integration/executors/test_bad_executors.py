"""Executors that misbehave: their tasks end with a clear message and the agent carries on."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from agent_fake_master import FakeMaster
from executor_helpers import FRAMEWORK_ID, executor_info, executor_task, framework, run

from pydcos.core.waiting import wait_until
from pydcos.mesos import internal
from pydcos.mesos.agent.service import Agent
from pydcos.mesos.v1.messages import CommandInfo, ExecutorInfo, Id

GARBAGE = Path(__file__).resolve().parent / "clients" / "garbage_executor.py"
KEY = (FRAMEWORK_ID, "ex1")


def terminated(master: FakeMaster) -> list[internal.ExecutorTerminated]:
    return [f for f in master.frames if isinstance(f, internal.ExecutorTerminated)]


async def still_runs_tasks(master: FakeMaster) -> None:
    from agent_fake_master import command_task
    from agent_fake_master import run as run_command

    await master.send(run_command(command_task("after.1", "true")))
    await master.wait_status("after.1", "TASK_FINISHED")


async def test_an_executor_that_never_subscribes_times_out(make_agent: Any, master: FakeMaster) -> None:
    agent: Agent = await make_agent(executor_registration_timeout_s=0.3)
    await master.send(run(executor_task("t1", executor_info("exec sleep 60"))))
    failed = await master.wait_status("t1", "TASK_FAILED")
    assert failed.reason == "REASON_EXECUTOR_REGISTRATION_TIMEOUT"
    assert failed.message == "Executor 'ex1' did not subscribe within 300ms"
    await wait_until(lambda: terminated(master), what="ExecutorTerminated")
    assert master.states("t1") == ["TASK_FAILED"]  # its exit adds nothing
    assert agent.tasks.executors.core.records == {}
    await still_runs_tasks(master)


async def test_an_executor_sending_garbage_fails_its_tasks_naming_the_refusal(
    make_agent: Any, master: FakeMaster
) -> None:
    await make_agent()
    await master.send(run(executor_task("t1", executor_info(f"{sys.executable} {GARBAGE}"))))
    failed = await master.wait_status("t1", "TASK_FAILED")
    assert failed.reason == "REASON_EXECUTOR_TERMINATED"
    assert failed.message is not None
    assert failed.message == ("Executor 'ex1' exited with status 1; its last call was refused: "
                              "UPDATE answered 400: 'status.uuid' must be base64 of exactly 16 bytes")
    await still_runs_tasks(master)


async def test_garbage_then_silence_ends_in_the_registration_timeout(make_agent: Any, master: FakeMaster) -> None:
    await make_agent(executor_registration_timeout_s=1.0)
    await master.send(run(executor_task("t1", executor_info(f"exec {sys.executable} {GARBAGE} stay"))))
    failed = await master.wait_status("t1", "TASK_FAILED")
    assert failed.reason == "REASON_EXECUTOR_REGISTRATION_TIMEOUT"
    assert failed.message is not None and "its last call was refused" in failed.message


async def test_an_executor_dying_at_once_fails_all_its_tasks(agent: Agent, master: FakeMaster) -> None:
    ex = executor_info("exit 3")
    await master.send(run(executor_task("t1", ex), executor_task("t2", ex)))
    for task_id in ("t1", "t2"):
        failed = await master.wait_status(task_id, "TASK_FAILED")
        assert failed.message == "Executor 'ex1' exited with status 3"
        assert failed.source == "SOURCE_AGENT" and failed.executor_id == Id("ex1")
    await wait_until(lambda: terminated(master), what="ExecutorTerminated")
    assert terminated(master)[0].status == 3 << 8
    await still_runs_tasks(master)


async def test_command_not_found(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(executor_task("t1", executor_info("/no/such/executor"))))
    failed = await master.wait_status("t1", "TASK_FAILED")
    assert failed.message == "Executor 'ex1' exited with status 127"
    no_shell = ExecutorInfo(executor_id=Id("ex2"), command=CommandInfo(value="/no/such/executor", shell=False))
    await master.send(run(executor_task("t2", no_shell)))
    failed = await master.wait_status("t2", "TASK_FAILED")
    assert failed.reason == "REASON_CONTAINER_LAUNCH_FAILED"
    assert failed.message == "Failed to launch executor: No such file or directory: '/no/such/executor'"


async def test_unknown_user(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(executor_task("t1", executor_info("exec sleep 60", user="no-such-user-pydcos"))))
    failed = await master.wait_status("t1", "TASK_FAILED")
    assert failed.message is not None and "user 'no-such-user-pydcos' does not exist" in failed.message
    assert failed.reason == "REASON_CONTAINER_LAUNCH_FAILED"


async def test_invalid_executors_are_task_errors(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(executor_task("t1", ExecutorInfo(executor_id=Id("ex1")))))
    error = await master.wait_status("t1", "TASK_ERROR")
    assert error.message == "ExecutorInfo's 'command.value' is missing or empty"
    await master.send(run(executor_task("t2", executor_info("true", executor_id="../x"))))
    error = await master.wait_status("t2", "TASK_ERROR")
    assert error.message is not None and "'/'" in error.message
    other_fw = ExecutorInfo(executor_id=Id("ex3"), framework_id=Id("other"), command=CommandInfo(value="true"))
    await master.send(run(executor_task("t3", other_fw)))
    assert (await master.wait_status("t3", "TASK_ERROR")).message == (
        "ExecutorInfo's framework_id 'other' is not the task's framework")


async def test_killing_the_only_queued_task_stops_the_executor(agent: Agent, master: FakeMaster) -> None:
    await master.send(run(executor_task("t1", executor_info("exec sleep 60"))))
    await wait_until(lambda: agent.tasks.executors.pid(*KEY), what="executor started")
    await master.send(internal.KillTask(FRAMEWORK_ID, "t1"))
    killed = await master.wait_status("t1", "TASK_KILLED")
    assert killed.message == "Killed before it reached its executor"
    await wait_until(lambda: terminated(master), what="executor stopped")
    assert agent.tasks.executors.core.records == {}


async def test_environment_sandbox_and_process_group(agent: Agent, master: FakeMaster) -> None:
    script = 'env > env.txt; echo "pgid=$(ps -o pgid= $$ | tr -d " ") pid=$$ cwd=$PWD" > me.txt; exec sleep 60'
    fw = framework(checkpoint=True)
    await master.send(run(executor_task("t1", executor_info(script)), fw=fw))
    await wait_until(lambda: agent.tasks.executors.pid(*KEY), what="executor started")
    directory = Path(agent.state.executor(*KEY).directory)  # type: ignore[union-attr]
    # `>` creates the file before echo's single write fills it: wait for the content, not the name.
    me_txt = directory / "me.txt"
    await wait_until(lambda: me_txt.exists() and me_txt.read_text().endswith("\n"), what="the executor wrote its files")
    env = dict(line.split("=", 1) for line in (directory / "env.txt").read_text().splitlines() if "=" in line)
    assert env["MESOS_AGENT_ENDPOINT"] == f"127.0.0.1:{agent.port}"
    assert env["MESOS_FRAMEWORK_ID"] == FRAMEWORK_ID and env["MESOS_EXECUTOR_ID"] == "ex1"
    assert env["MESOS_DIRECTORY"] == env["MESOS_SANDBOX"] == str(directory)
    assert env["MESOS_SLAVE_ID"] == agent.agent_id and env["MESOS_SLAVE_PID"] == f"slave(1)@127.0.0.1:{agent.port}"
    assert env["MESOS_CHECKPOINT"] == "1"
    assert env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] == "500ms"
    assert env["MESOS_RECOVERY_TIMEOUT"] == "15mins" and env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] == "2secs"
    assert "MESOS_TASK_ID" not in env
    me = dict(kv.split("=", 1) for kv in (directory / "me.txt").read_text().split())
    assert me["pgid"] == me["pid"] and me["cwd"] == str(directory)
    assert (directory / "stdout").exists() and (directory / "stderr").exists()
    assert os.getpgid(0) != int(me["pgid"])
