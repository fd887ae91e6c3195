"""Processes of a local cluster: start a daemon, tell whether a pid is still ours, stop them all.

Linux only: it reads /proc. Every daemon starts in a session of its own (so a Ctrl-C in the
terminal reaches the supervisor, which stops the daemons in order) with `PYDCOS_CLUSTER_MARK`
set to the cluster's directory in its environment, which its children inherit. `down` finds what a
daemon left behind by that mark and by the daemon's session and process group.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydcos.cluster.plan import DaemonSpec, MachineFacts
from pydcos.core.waiting import WaitTimeout, wait_until_sync

MARK_ENV = "PYDCOS_CLUSTER_MARK"
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcStat:
    state: str
    ppid: int
    pgrp: int
    session: int
    start_ticks: int


def proc_stat(pid: int) -> ProcStat | None:
    """The few fields of /proc/PID/stat we need; None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return ProcStat(
        state=fields[0],
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        session=int(fields[3]),
        start_ticks=int(fields[19]),
    )


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_alive(pid: int) -> bool:
    """True while the process runs. A zombie counts as gone; one that is our child is reaped."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    stat = proc_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def is_ours(pid: int, start_ticks: int) -> bool:
    """The process with this pid is still the one we started: same start time, a pydcos command line."""
    stat = proc_stat(pid)
    if stat is None or stat.state in ("Z", "X") or stat.start_ticks != start_ticks:
        return False
    return any("pydcos" in part for part in cmdline(pid))


def start_ticks_of(pid: int) -> int:
    stat = proc_stat(pid)
    if stat is None:
        raise ProcessLookupError(pid)
    return stat.start_ticks


def machine_facts() -> MachineFacts:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return MachineFacts(python=sys.executable, cpus=os.cpu_count() or 1, mem_mb=mem_kb // 1024)


def address_in_use(ip: str, port: int) -> bool:
    """Whether something already listens on ip:port. SO_REUSEADDR, as the daemons bind, so that
    connections of an earlier run still in TIME_WAIT don't count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError:
            return True
    return False


def daemon_env(mark: str, base: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    env[MARK_ENV] = mark
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn(spec: DaemonSpec, *, env: Mapping[str, str], die_with_parent: bool) -> subprocess.Popen[bytes]:
    """Start a daemon in its own session, its stdout and stderr appended to its log file."""
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    spec.log_file.parent.mkdir(parents=True, exist_ok=True)
    with spec.log_file.open("ab") as log:
        return subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=spec.work_dir,
            start_new_session=True,
            preexec_fn=set_parent_death_signal if die_with_parent else None,
        )


# Loaded before any fork: the child only calls prctl, between fork and exec.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def set_parent_death_signal() -> None:
    """In the child: get SIGTERM when the supervisor dies, however it dies (even by SIGKILL)."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def signal_pid(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def terminate(pids: Collection[int], *, timeout: float) -> list[int]:
    """SIGTERM each pid, wait up to `timeout` for all to go, SIGKILL the rest. Returns the killed."""
    for pid in pids:
        signal_pid(pid, signal.SIGTERM)
    try:
        wait_until_sync(lambda: not any(is_alive(p) for p in pids), timeout=timeout, what="processes to exit")
        return []
    except WaitTimeout:
        stubborn = [p for p in pids if is_alive(p)]
    for pid in stubborn:
        signal_pid(pid, signal.SIGKILL)
    wait_until_sync(
        lambda: not any(is_alive(p) for p in stubborn), timeout=10.0, what="killed processes to go"
    )
    return stubborn


def left_behind(mark: str, sessions: Iterable[int]) -> list[int]:
    """Live processes that belong to the cluster: they carry its mark in their environment, or
    live in the session or process group of one of its daemons. Never this process or its parents."""
    sessions = set(sessions)
    needle = f"{MARK_ENV}={mark}".encode()
    spared = _self_and_ancestors()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in spared:
            continue
        pid = int(entry.name)
        stat = proc_stat(pid)
        if stat is None or stat.state in ("Z", "X"):
            continue
        if stat.session in sessions or stat.pgrp in sessions or needle in _environ(pid):
            found.append(pid)
    return found


def _environ(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []


def _self_and_ancestors() -> set[int]:
    pids = {1, os.getpid()}
    stat = proc_stat(os.getpid())
    while stat is not None and stat.ppid not in pids:
        pids.add(stat.ppid)
        stat = proc_stat(stat.ppid)
    return pids
