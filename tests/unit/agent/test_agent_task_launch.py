"""From a TaskInfo to a launch: environment, argv, user, checks, statuses."""

from __future__ import annotations

import pytest

from pydcos.mesos.agent.environment import TaskContext, task_environment, task_ports
from pydcos.mesos.agent.errors import InvalidTask
from pydcos.mesos.agent.task_launch import (
    build_spec,
    check_task,
    command_argv,
    effective_user,
    id_problem,
    sandbox_path,
    task_user,
)
from pydcos.mesos.agent.task_status import container_status, exit_outcome, make_status, signal_name
from pydcos.mesos.v1.messages import (
    CommandInfo,
    Environment,
    EnvironmentVariable,
    ExecutorInfo,
    FrameworkInfo,
    Id,
    TaskInfo,
    ranges,
    scalar,
)

FW = FrameworkInfo(user="alice", name="fw", id=Id("F0"))
CTX = TaskContext("S0", "F0", "t1", "/w/sandbox", "10.0.0.2", 5051, "node-2")


def task(**kw: object) -> TaskInfo:
    fields: dict[str, object] = {"name": "t", "task_id": Id("t1"), "command": CommandInfo(value="true")}
    fields.update(kw)
    return TaskInfo(**fields)  # type: ignore[arg-type]


# --- environment --------------------------------------------------------------------------


def test_base_environment() -> None:
    env = task_environment(task(), CTX)
    assert env == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "MESOS_SANDBOX": "/w/sandbox",
        "MESOS_DIRECTORY": "/w/sandbox",
        "MESOS_TASK_ID": "t1",
        "MESOS_FRAMEWORK_ID": "F0",
        "MESOS_EXECUTOR_ID": "t1",
        "MESOS_AGENT_ID": "S0",
        "MESOS_SLAVE_ID": "S0",
        "MESOS_AGENT_ENDPOINT": "10.0.0.2:5051",
        "MESOS_SLAVE_PID": "slave(1)@10.0.0.2:5051",
        "HOST": "node-2",
        "LIBPROCESS_IP": "10.0.0.2",
    }


def test_ports_in_the_order_the_task_lists_them() -> None:
    t = task(resources=[scalar("cpus", 1), ranges("ports", [(31005, 31006), (31000, 31000)]),
                        ranges("ports", [(32000, 32000)])])
    assert task_ports(t) == [31005, 31006, 31000, 32000]
    env = task_environment(t, CTX)
    assert env["PORTS"] == "31005,31006,31000,32000"
    assert (env["PORT"], env["PORT0"], env["PORT1"], env["PORT2"], env["PORT3"]) == (
        "31005", "31005", "31006", "31000", "32000")
    assert "PORT4" not in env


def test_huge_port_ranges_are_bounded() -> None:
    t = task(resources=[ranges("ports", [(1, 1)]), ranges("ports", [(1000, 65000)])])
    assert task_ports(t) == [1]


def test_task_variables_override_and_odd_ones_are_skipped() -> None:
    variables = [
        EnvironmentVariable("PATH", "/opt/bin"),
        EnvironmentVariable("FOO", "bar"),
        EnvironmentVariable("EMPTY"),
        EnvironmentVariable("A=B", "x"),
        EnvironmentVariable("NUL", "a\0b"),
        EnvironmentVariable("SECRET_ONE", "s", type="SECRET"),
        EnvironmentVariable("", "nameless"),
    ]
    env = task_environment(task(command=CommandInfo(value="x", environment=Environment(variables))), CTX)
    assert env["PATH"] == "/opt/bin" and env["FOO"] == "bar" and env["EMPTY"] == ""
    assert not {"A=B", "NUL", "SECRET_ONE", ""} & set(env)


# --- argv, user, checks ----------------------------------------------------------------------


def test_command_argv() -> None:
    assert command_argv(CommandInfo(value="echo $HOME")) == ("/bin/sh", ["sh", "-c", "exec echo $HOME"])
    assert command_argv(CommandInfo(value="echo $HOME; exit 2")) == ("/bin/sh", ["sh", "-c", "echo $HOME; exit 2"])
    assert command_argv(CommandInfo(value="/bin/echo", shell=False, arguments=["echo", "a"])) == (
        "/bin/echo", ["echo", "a"])
    assert command_argv(CommandInfo(value="sleep", shell=False)) == ("sleep", ["sleep"])


def test_user_comes_from_the_command_then_the_framework() -> None:
    assert task_user(FW, task()) == "alice"
    assert task_user(FW, task(command=CommandInfo(value="x", user="bob"))) == "bob"
    assert task_user(FrameworkInfo(name="x"), task()) is None
    assert effective_user("bob", "root", switch_user=True, is_root=True) == "bob"
    assert effective_user("root", "root", switch_user=True, is_root=True) is None
    assert effective_user("bob", "root", switch_user=False, is_root=True) is None
    assert effective_user(None, "root", switch_user=True, is_root=True) is None
    assert effective_user("bob", "alice", switch_user=True, is_root=False) is None


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        # check_task is for command tasks; a task with an executor goes to the executor runner.
        ({"executor": ExecutorInfo(executor_id=Id("e"))}, "(but not both) of 'command' and 'executor'"),
        ({"command": None}, "neither 'command' nor 'executor'"),
        ({"command": CommandInfo(value="")}, "missing or empty"),
        ({"command": CommandInfo(value="x\0y")}, "NUL"),
        ({"container": {"type": "DOCKER", "docker": {"image": "nginx"}}}, "DOCKER"),
        ({"task_id": Id("a/b")}, "'/'"),
        ({"task_id": Id("..")}, "not allowed"),
        ({"task_id": Id("")}, "must not be empty"),
        ({"task_id": Id("a b")}, "whitespace"),
    ],
)
def test_tasks_this_agent_cannot_run(kw: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidTask, match=None) as info:
        check_task(FW, task(**kw))
    assert fragment in info.value.message


def test_framework_id_is_checked_too() -> None:
    with pytest.raises(InvalidTask):
        check_task(FrameworkInfo(name="x", id=Id("../x")), task())
    with pytest.raises(InvalidTask):
        check_task(FrameworkInfo(name="x"), task())


def test_a_plain_command_task_passes() -> None:
    check_task(FW, task(container={"type": "MESOS"}))
    assert id_problem("Task id", "web.6f1c-11e6_x") is None


def test_sandbox_layout_and_spec() -> None:
    path = sandbox_path("/var/lib/agent", "S0", "F0", "t1", "c1")
    assert path == "/var/lib/agent/slaves/S0/frameworks/F0/executors/t1/runs/c1"
    spec = build_spec(task=task(), sandbox=path, env={"A": "1"}, user=None)
    assert (spec.executable, spec.argv, spec.sandbox, spec.user) == ("/bin/sh", ["sh", "-c", "exec true"], path, None)


# --- statuses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "killed", "expected"),
    [
        (0, False, ("TASK_FINISHED", "Command exited with status 0", None)),
        (3, False, ("TASK_FAILED", "Command exited with status 3", "REASON_COMMAND_EXECUTOR_FAILED")),
        (-15, False, ("TASK_FAILED", "Command terminated with signal Terminated", "REASON_COMMAND_EXECUTOR_FAILED")),
        (-15, True, ("TASK_KILLED", "Command terminated with signal Terminated", None)),
        (-9, True, ("TASK_KILLED", "Command terminated with signal Killed", None)),
        (0, True, ("TASK_KILLED", "Command exited with status 0", None)),
        (None, False, ("TASK_FAILED", "Command exited with an unknown status", "REASON_COMMAND_EXECUTOR_FAILED")),
    ],
)
def test_exit_outcome(code: int | None, killed: bool, expected: tuple[str, str, str | None]) -> None:
    assert exit_outcome(code, killed=killed) == expected


def test_signal_names_and_container_status() -> None:
    assert signal_name(9) == "Killed" and signal_name(999) == "signal 999"
    assert container_status(None, "1.2.3.4") is None
    assert container_status("c", None) == {"container_id": {"value": "c"}}
    s = make_status(task_id="t", state="TASK_RUNNING", agent_id="S0", executor_id="t", uuid="u",
                    timestamp=1.0, container_id="c", ip="1.2.3.4")
    assert s.agent_id == Id("S0") and s.executor_id == Id("t") and s.source == "SOURCE_EXECUTOR"
    assert s.container_status == {"container_id": {"value": "c"},
                                  "network_infos": [{"ip_addresses": [{"ip_address": "1.2.3.4"}]}]}
