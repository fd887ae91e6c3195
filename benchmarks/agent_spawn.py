"""Spawn-path figure for command tasks: the agent's Popen(vfork) path against os.posix_spawn.

Run: `.venv/bin/python benchmarks/agent_spawn.py [N]`

Each variant starts `/bin/sh -c true` N times as the agent does (own process group, stdin
/dev/null, stdout/stderr appended to sandbox files, sandbox as cwd) and reaps in batches of 64.
`posix_spawn` cannot set the child's cwd from Python, so it is timed with the parent's cwd
switched around the call (unsafe in a threaded daemon) and with a `cd && exec` shell prefix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
ARGV = ["/bin/sh", "-c", "true"]
SANDBOX = tempfile.mkdtemp(prefix="spawn-bench-")
ENV = {"PATH": "/usr/bin:/bin", "MESOS_SANDBOX": SANDBOX}
OUT, ERR = os.path.join(SANDBOX, "stdout"), os.path.join(SANDBOX, "stderr")
APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND
_keep: list[subprocess.Popen[bytes]] = []


def popen_vfork() -> int:
    out = os.open(OUT, APPEND | os.O_CLOEXEC, 0o644)
    err = os.open(ERR, APPEND | os.O_CLOEXEC, 0o644)
    try:
        p = subprocess.Popen(ARGV, cwd=SANDBOX, env=ENV, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             close_fds=True, process_group=0)
    finally:
        os.close(out)
        os.close(err)
    _keep.append(p)
    return p.pid


def _actions() -> list[tuple[int, int, str, int, int]]:
    return [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, OUT, APPEND, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, ERR, APPEND, 0o644)]


def posix_spawn_parent_chdir() -> int:
    old = os.open(".", os.O_RDONLY | os.O_CLOEXEC)
    os.chdir(SANDBOX)
    try:
        return os.posix_spawn(ARGV[0], ARGV, ENV, file_actions=_actions(), setpgroup=0)
    finally:
        os.fchdir(old)
        os.close(old)


def posix_spawn_shell_cd() -> int:
    argv = ["/bin/sh", "-c", 'cd "$MESOS_SANDBOX" && exec /bin/sh -c true']
    return os.posix_spawn(argv[0], argv, ENV, file_actions=_actions(), setpgroup=0)


def rate(spawn: Callable[[], int]) -> float:
    start = time.perf_counter()
    pids: list[int] = []
    for _ in range(N):
        pids.append(spawn())
        if len(pids) >= 64:
            for pid in pids:
                os.waitpid(pid, 0)
            pids.clear()
    for pid in pids:
        os.waitpid(pid, 0)
    for p in _keep:
        p.returncode = 0  # reaped above
    _keep.clear()
    return N / (time.perf_counter() - start)


def best_of(runs: int, spawn: Callable[[], int]) -> float:
    return max(rate(spawn) for _ in range(runs))


if __name__ == "__main__":
    ours = best_of(3, popen_vfork)
    chdir = best_of(3, posix_spawn_parent_chdir)
    shell = best_of(3, posix_spawn_shell_cd)
    print(f"agent_spawn tasks={N} popen_per_s={ours:.0f} posix_spawn_chdir_per_s={chdir:.0f} "
          f"posix_spawn_shell_cd_per_s={shell:.0f} ratio_chdir_over_popen={chdir / ours:.2f}")
    shutil.rmtree(SANDBOX, ignore_errors=True)
