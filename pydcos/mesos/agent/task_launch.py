"""From a RunTask to what to start, or why not: ids, sandbox layout, argv, user. Pure.

    WORK/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/<container_id>

>>> sandbox_path("/w", "S0", "F0", "t1", "c1")
'/w/slaves/S0/frameworks/F0/executors/t1/runs/c1'
>>> command_argv(CommandInfo(value="echo hi; exit 3"))
('/bin/sh', ['sh', '-c', 'echo hi; exit 3'])
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from pydcos.mesos.agent.errors import InvalidTask
from pydcos.mesos.agent.health_checks import parse_health_check
from pydcos.mesos.agent.isolation import Limits
from pydcos.mesos.v1.messages import CommandInfo, FrameworkInfo, TaskInfo

SHELL = "/bin/sh"


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    """Everything the containerizer needs to start one command task."""

    executable: str  # a path, or a name looked up on the task's PATH
    argv: list[str]
    env: dict[str, str]
    sandbox: str
    user: str | None  # None = run as the agent's user
    limits: Limits | None = None  # cgroup limits when isolating


def sandboxes_root(work_dir: str) -> str:
    return os.path.join(work_dir, "slaves")


def sandbox_path(work_dir: str, agent_id: str, framework_id: str, executor_id: str, container_id: str) -> str:
    return os.path.join(
        sandboxes_root(work_dir), agent_id, "frameworks", framework_id, "executors", executor_id,
        "runs", container_id,
    )


_UNSAFE_IN_ID = re.compile(r"[/\x00\s]")  # \s: what str.isspace calls whitespace


def id_problem(kind: str, value: str) -> str | None:
    """Why an id cannot name a sandbox directory, or None. Mesos rejects the same ids."""
    if not value:
        return f"{kind} must not be empty"
    if value in (".", ".."):
        return f"{kind} '{value}' is not allowed"
    if _UNSAFE_IN_ID.search(value):
        return f"{kind} '{value}' contains '/', NUL or whitespace"
    if len(value) > 255:
        return f"{kind} is longer than 255 characters"
    return None


def check_task(framework: FrameworkInfo, task: TaskInfo) -> None:
    """Raise InvalidTask when this agent cannot run the task at all."""
    if task.executor is not None:
        raise InvalidTask("Task should have at least one (but not both) of 'command' and 'executor'")
    if task.command is None:
        raise InvalidTask("Task has neither 'command' nor 'executor'")
    if task.container is not None and task.container.get("type", "MESOS") != "MESOS":
        raise InvalidTask(f"Container type {task.container.get('type')} is not supported by this agent yet")
    if not task.command.value:
        raise InvalidTask("Task's 'command.value' is missing or empty")
    if "\0" in task.command.value or any("\0" in a for a in task.command.arguments):
        raise InvalidTask("Task's command contains a NUL byte")
    fw_id = framework.id.value if framework.id else ""
    for kind, value in (("Framework id", fw_id), ("Task id", task.task_id.value)):
        problem = id_problem(kind, value)
        if problem:
            raise InvalidTask(problem)
    if task.health_check is not None:  # the agent runs it, as Mesos's command executor
        parse_health_check(task.health_check)


def check_executor_task(framework: FrameworkInfo, task: TaskInfo) -> None:
    """Raise InvalidTask when a task for a custom executor (`task.executor`) cannot run here."""
    info = task.executor
    assert info is not None
    if task.command is not None:
        raise InvalidTask("Task should have at least one (but not both) of 'command' and 'executor'")
    fw_id = framework.id.value if framework.id else ""
    if info.framework_id is not None and info.framework_id.value != fw_id:
        raise InvalidTask(f"ExecutorInfo's framework_id '{info.framework_id.value}' is not the task's framework")
    if info.container is not None and info.container.get("type", "MESOS") != "MESOS":
        raise InvalidTask(f"Container type {info.container.get('type')} is not supported by this agent yet")
    command = info.command
    if command is None or not command.value:
        raise InvalidTask("ExecutorInfo's 'command.value' is missing or empty")
    if "\0" in command.value or any("\0" in a for a in command.arguments):
        raise InvalidTask("ExecutorInfo's command contains a NUL byte")
    for kind, value in (("Framework id", fw_id), ("Executor id", info.executor_id.value),
                        ("Task id", task.task_id.value)):
        problem = id_problem(kind, value)
        if problem:
            raise InvalidTask(problem)


def command_argv(command: CommandInfo) -> tuple[str, list[str]]:
    """(executable, argv): `/bin/sh -c value` for shell commands; `value` run with `arguments`
    as its argv otherwise (argv[0] defaults to the value, as Mesos does).

    A simple command (one program and its words, see `is_simple_command`) is run as
    `exec value`: the shell becomes the program instead of waiting for it as a second process,
    which is what bash does by itself and dash (Debian's /bin/sh) does not. The task then costs
    one process, not two, and its status is the program's own.

    >>> command_argv(CommandInfo(value="sleep 3600"))
    ('/bin/sh', ['sh', '-c', 'exec sleep 3600'])
    >>> command_argv(CommandInfo(value="cd /srv && ./run"))
    ('/bin/sh', ['sh', '-c', 'cd /srv && ./run'])
    """
    value = command.value or ""
    if command.shell:
        return SHELL, ["sh", "-c", f"exec {value}" if is_simple_command(value) else value]
    return value, list(command.arguments) if command.arguments else [value]


# A word of a simple command: plain characters, and $NAME or ${NAME} (expanded as usual).
_WORD = r"(?:[A-Za-z0-9_./:@%+,=-]|\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\})+"
_SIMPLE = re.compile(rf"[ \t]*[A-Za-z0-9_./:@%+,-]+(?:[ \t]+{_WORD})*[ \t]*")
# Words a shell runs itself: `exec` in front of them would fail or change their meaning.
_SHELL_WORDS = frozenset(
    "! . : [[ alias bg break case cd command continue do done elif else esac eval exec exit export fc fg "
    "fi for function getopts hash if in jobs local read readonly return select set shift source then "
    "time times trap type ulimit umask unalias unset until wait while".split())


def is_simple_command(value: str) -> bool:
    """One program and its words, nothing for the shell to do but expand variables: no operators,
    quotes, redirections, globs, assignments or shell builtins. Conservative on purpose: what it
    refuses still runs, as `sh -c value`.

    >>> [is_simple_command(c) for c in ("python3 -m http.server $PORT0", "a; b", "FOO=1 prog", "cd /x", "")]
    [True, False, False, False, False]
    """
    if _SIMPLE.fullmatch(value) is None:
        return False
    return value.split()[0] not in _SHELL_WORDS


def task_user(framework: FrameworkInfo, task: TaskInfo) -> str | None:
    """The user the task asks to run as: its command's, else its framework's; None = unset."""
    if task.command is not None and task.command.user:
        return task.command.user
    return framework.user or None


def effective_user(requested: str | None, agent_user: str, *, switch_user: bool, is_root: bool) -> str | None:
    """The user to switch to, or None to stay the agent's own user. Only a root agent switches;
    an agent running as someone else runs every task as itself.

    >>> effective_user("nobody", "root", switch_user=True, is_root=True)
    'nobody'
    >>> effective_user("nobody", "alice", switch_user=True, is_root=False) is None
    True
    """
    if not switch_user or not is_root or not requested or requested == agent_user:
        return None
    return requested


def build_spec(
    *, task: TaskInfo, sandbox: str, env: dict[str, str], user: str | None, limits: Limits | None = None
) -> LaunchSpec:
    assert task.command is not None  # check_task ran first
    executable, argv = command_argv(task.command)
    return LaunchSpec(executable=executable, argv=argv, env=env, sandbox=sandbox, user=user, limits=limits)
