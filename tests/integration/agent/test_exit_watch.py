"""Exits seen through one epoll set of pidfds (pydcos/mesos/agent/exit_watch.py), on real processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from pydcos.core.waiting import wait_until
from pydcos.mesos.agent.exit_watch import ExitWatcher


def spawn(code: str, pass_fds: tuple[int, ...] = ()) -> tuple[subprocess.Popen[bytes], int]:
    popen = subprocess.Popen([sys.executable, "-c", code], pass_fds=pass_fds)
    return popen, os.pidfd_open(popen.pid)


async def test_each_exit_calls_its_callback_once_it_happens() -> None:
    watcher = ExitWatcher(asyncio.get_running_loop())
    ended: list[str] = []
    gate_r, gate_w = os.pipe()
    procs = {}
    try:
        for name, code in (("quick", "pass"), ("gated", f"import os; os.read({gate_r}, 1)")):
            popen, pidfd = spawn(code, (gate_r,))
            procs[name] = (popen, pidfd)

            def done(name: str = name, pidfd: int = pidfd) -> None:
                watcher.unwatch(pidfd)
                os.close(pidfd)
                ended.append(name)
            watcher.watch(pidfd, done)
        assert len(watcher) == 2
        await wait_until(lambda: ended == ["quick"], what="the quick process's exit")
        await asyncio.sleep(0)  # the gated one is still running: nothing more is reported
        assert ended == ["quick"]
        os.write(gate_w, b"x")
        await wait_until(lambda: ended == ["quick", "gated"], what="the gated process's exit")
        assert len(watcher) == 0
    finally:
        for popen, _ in procs.values():
            popen.kill()
            popen.wait()
        os.close(gate_r)
        os.close(gate_w)
        watcher.close()


async def test_a_failing_callback_does_not_stop_the_others() -> None:
    watcher = ExitWatcher(asyncio.get_running_loop())
    called: list[int] = []
    procs = [spawn("pass") for _ in range(3)]
    for popen, _ in procs:
        popen.wait()  # all three have exited: one poll round reports them together

    def callback(pidfd: int) -> None:
        watcher.unwatch(pidfd)
        called.append(pidfd)
        if len(called) == 1:
            raise RuntimeError("a bug in one exit handler")
    try:
        for _, pidfd in procs:
            watcher.watch(pidfd, lambda pidfd=pidfd: callback(pidfd))
        await wait_until(lambda: len(called) == 3, what="every callback")
    finally:
        for _, pidfd in procs:
            os.close(pidfd)
        watcher.close()


async def test_level_triggered_until_unwatched_and_close_stops_everything() -> None:
    loop = asyncio.get_running_loop()
    watcher = ExitWatcher(loop)
    popen, pidfd = spawn("pass")
    popen.wait()
    calls = 0

    def count() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            watcher.unwatch(pidfd)
    try:
        watcher.watch(pidfd, count)
        await wait_until(lambda: calls == 3, what="three calls")
        for _ in range(5):
            await asyncio.sleep(0)
        assert calls == 3
        watcher.unwatch(pidfd)  # twice is fine
        watcher.watch(pidfd, count)
        watcher.close()
        for _ in range(5):
            await asyncio.sleep(0)
        assert calls == 3 and len(watcher) == 0
    finally:
        os.close(pidfd)
