"""Which shell commands the agent runs as `exec value` (pydcos/mesos/agent/task_launch.py)."""

from __future__ import annotations

import pytest

from pydcos.mesos.agent.task_launch import is_simple_command

SIMPLE = [
    "sleep 3600",
    "/usr/bin/python3 -m http.server --bind $HOST $PORT0",
    "java -Xmx${MEM}m -jar app.jar --port=${PORT0}",
    "  ./run.sh  a b  ",
    "echo 100%",
    "true",
]
NOT_SIMPLE = [
    "", "   ",
    "a; b", "a && b", "a || b", "a | b", "a &", "sleep 1\nsleep 2",
    "echo $(date)", "echo `date`", "echo 'quoted'", 'echo "quoted"', "echo a\\ b",
    "cat < in", "echo x > out", "ls *.txt", "ls ?", "ls [ab]", "echo ~", "echo # c",
    "FOO=1 prog", "$CMD arg", "${CMD}", "(sub)", "{ a; }",
    "cd /srv", "exec sleep 1", "export A=1", "exit 3", ". ./env", "source env", "if true",
    "while true", "for x", "trap : TERM", "wait", "eval x", "set -e", "umask 022",
    "echo ${A:-default}", "echo $1", "echo $@", "echo $?",
]


@pytest.mark.parametrize("command", SIMPLE)
def test_simple(command: str) -> None:
    assert is_simple_command(command)


@pytest.mark.parametrize("command", NOT_SIMPLE)
def test_not_simple(command: str) -> None:
    assert not is_simple_command(command)
