"""A simple shell command run as `exec value` behaves as `sh -c value` did (output, exit status,
variables), in one process instead of two."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pydcos.core.waiting import wait_until_sync
from pydcos.mesos.agent.task_launch import command_argv, is_simple_command
from pydcos.mesos.v1.messages import CommandInfo

ENV = {"PATH": "/usr/bin:/bin", "A": "one", "PORT0": "31005"}


@pytest.mark.parametrize("command", [
    "echo $A ${PORT0} x", "printf %s-%s $A $PORT0", "false", "/bin/sh ./script 7", "ls -d ./script",
    "./missing-program arg",
])
def test_exec_form_gives_the_same_output_and_status(command: str, tmp_path: Path) -> None:
    (tmp_path / "script").write_text("echo in-script; exit $1\n")
    assert is_simple_command(command)
    executable, argv = command_argv(CommandInfo(value=command))
    assert argv[-1] == f"exec {command}"
    plain = subprocess.run(["sh", "-c", command], cwd=tmp_path, env=ENV, capture_output=True, check=False)
    execd = subprocess.run(argv, executable=executable, cwd=tmp_path, env=ENV, capture_output=True, check=False)
    assert (execd.returncode, execd.stdout) == (plain.returncode, plain.stdout)
    assert bool(execd.stderr) == bool(plain.stderr)  # the wording of "not found" may differ


def test_the_task_is_one_process_the_program_itself() -> None:
    executable, argv = command_argv(CommandInfo(value="sleep 30"))
    proc = subprocess.Popen(argv, executable=executable, env=ENV)
    try:
        # The shell's own process becomes sleep (a plain `sh -c` would stay sh, sleep its child).
        wait_until_sync(lambda: Path(f"/proc/{proc.pid}/comm").read_text().strip() == "sleep", timeout=10,
                        what="the shell to exec the program")
        assert Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split() == []
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -9  # the program's own status, not a shell's 137
