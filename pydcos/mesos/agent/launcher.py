"""The task launcher: one long-lived process per agent work directory that starts checkpointed
command tasks as its own children, reaps them, and keeps their exit statuses until the agent has
written them down, across agent restarts (`docs/agent.md`, "Task launcher").

Why a process of its own: a task must be some process's child for its exit status to be read,
and the agent may die (SIGKILL, crash, upgrade) while its tasks run on. Mesos keeps a command
executor per task for that; we kept a `sh` wrapper per task, which doubled the processes started
and ended per task (measured: a scale-down of 1,000 tasks took 0.45 s of the machine instead of
0.20 s). One launcher parents them all.

    python -m pydcos.mesos.agent.launcher --work-dir DIR

It listens on an abstract Unix socket named after the work directory (`launcher_protocol.py`),
accepts only peers with its own uid, and serves one agent connection at a time (a new one
replaces the old). It is a child subreaper, so a task's orphaned descendants are reaped too.
It exits once no agent is connected and no task runs and no exit is left unreleased (or after
`--linger` seconds with none released), and when nobody connects within `--connect-within`.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass

from pydcos.mesos.agent import launcher_protocol as lp

PR_SET_CHILD_SUBREAPER = 36
LINGER_S = 900.0  # Mesos' default agent recovery timeout: how long an ended task waits for an agent
CONNECT_WITHIN_S = 30.0
READ_CHUNK = 256 * 1024
_UCRED = struct.Struct("3i")


def log(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, "pid": os.getpid(), **fields}), file=sys.stderr, flush=True)


@dataclass(slots=True)
class Task:
    popen: subprocess.Popen[bytes]
    kill_requested: bool = False


class Launcher:
    def __init__(self, listener: socket.socket, *, linger_s: float, connect_within_s: float) -> None:
        self.listener = listener
        self.linger_s = linger_s
        self.sel = selectors.DefaultSelector()
        self.tasks: dict[int, Task] = {}
        self.exits: dict[int, lp.Exit] = {}  # not yet released by an agent
        self.conn: socket.socket | None = None
        self.frames = lp.FrameReader()
        self.fds: dict[int, list[int]] = {}  # stream offset of a read's last byte -> descriptors it brought
        self.out = bytearray()
        self.devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self.uid = os.geteuid()
        self.alone_since = time.monotonic()
        self.connect_by: float | None = time.monotonic() + connect_within_s
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")

    # --- main loop ------------------------------------------------------------------------

    def run(self) -> None:
        self.reap()
        while not self.done():
            for key, _ in self.sel.select(timeout=self.select_timeout()):
                if key.data == "accept":
                    self.accept()
                elif key.data == "wake":
                    self.drain_wakeups()
                    self.reap()
                elif key.data == "conn":
                    self.serve()
            if self.conn is not None and self.out:
                self.flush()
        self.sel.unregister(self.listener)
        self.listener.close()  # the name is free for the next launcher at once

    def done(self) -> bool:
        if self.conn is not None or self.tasks:
            return False
        now = time.monotonic()
        if self.connect_by is not None:
            return now >= self.connect_by
        return not self.exits or now - self.alone_since >= self.linger_s

    def select_timeout(self) -> float | None:
        if self.conn is not None or self.tasks:
            return None
        if self.connect_by is not None:
            return max(0.0, self.connect_by - time.monotonic())
        return max(0.0, self.alone_since + self.linger_s - time.monotonic())

    def drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    # --- the agent's connection --------------------------------------------------------------

    def accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        _, uid, _ = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
        if uid != self.uid:
            log("launcher_peer_refused", uid=uid)
            conn.close()
            return
        if self.conn is not None:
            log("launcher_agent_replaced")
            self.drop()
        conn.setblocking(False)
        self.conn, self.connect_by = conn, None
        self.sel.register(conn, selectors.EVENT_READ, "conn")
        running = [lp.Child(pid, t.kill_requested) for pid, t in self.tasks.items()]
        self.send(lp.Hello(os.getpid(), running, list(self.exits.values())))

    def drop(self) -> None:
        assert self.conn is not None
        self.sel.unregister(self.conn)
        self.conn.close()
        self.conn = None
        self.frames = lp.FrameReader()
        self.close_fds_before()
        self.out.clear()
        self.alone_since = time.monotonic()

    def serve(self) -> None:
        assert self.conn is not None
        try:
            data, fds, _, _ = socket.recv_fds(self.conn, READ_CHUNK, 16, socket.MSG_CMSG_CLOEXEC)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, fds = b"", []
        if fds and data:
            self.fds[self.frames.end + len(data) - 1] = fds
        elif fds:
            for fd in fds:
                os.close(fd)
        if not data:
            self.drop()
            return
        try:
            messages = self.frames.feed_at(data)
        except lp.ProtocolError as exc:
            log("launcher_protocol_error", error=str(exc))
            self.drop()
            return
        for start, end, msg in messages:
            # A frame's descriptors are those of the reads that ended inside it (see
            # launcher_protocol); any from before it are stale (sent with a message that takes
            # none) and are closed.
            self.close_fds_before(start)
            fds_of_msg = [fd for at in sorted(o for o in self.fds if o < end) for fd in self.fds.pop(at)]
            if isinstance(msg, lp.Spawn):
                self.spawn(msg, fds_of_msg)
                continue
            for fd in fds_of_msg:
                os.close(fd)
            if isinstance(msg, lp.Signal):
                self.signal(msg)
            elif isinstance(msg, lp.Release):
                for pid in msg.pids:
                    self.exits.pop(pid, None)

    def send(self, msg: lp.Message) -> None:
        self.out += lp.encode(msg)

    def flush(self) -> None:
        assert self.conn is not None
        while self.out:
            try:
                sent = self.conn.send(self.out)
            except BlockingIOError:
                break
            except OSError:
                self.drop()
                return
            del self.out[:sent]
        if self.out:  # the agent is slow to read: wait until it can take more
            self.sel.modify(self.conn, selectors.EVENT_READ | selectors.EVENT_WRITE, "conn")
        else:
            self.sel.modify(self.conn, selectors.EVENT_READ, "conn")

    # --- tasks ----------------------------------------------------------------------------------

    def close_fds_before(self, offset: int | None = None) -> None:
        """Close the descriptors read before stream `offset` (all of them: None)."""
        for at in [o for o in self.fds if offset is None or o < offset]:
            for fd in self.fds.pop(at):
                os.close(fd)

    def spawn(self, msg: lp.Spawn, fds: list[int]) -> None:
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            self.send(lp.SpawnFailed(msg.ref, f"a spawn takes stdout and stderr descriptors, got {len(fds)}"))
            return
        out_fd, err_fd = fds
        entered = 0
        try:
            for path in msg.enter:
                _write_zero(path)  # "0": this (only) thread; the child is born in the cgroup
                entered += 1
            popen = subprocess.Popen(
                msg.argv, executable=msg.executable, cwd=msg.cwd, env=msg.env, stdin=self.devnull,
                stdout=out_fd, stderr=err_fd, close_fds=True, process_group=0,
                user=msg.uid, group=msg.gid, extra_groups=msg.groups)
        except OSError as exc:
            what = exc.filename or msg.executable
            self.send(lp.SpawnFailed(msg.ref, f"{exc.strerror or exc}: '{what}'"))
            return
        except (ValueError, subprocess.SubprocessError) as exc:
            self.send(lp.SpawnFailed(msg.ref, str(exc)))
            return
        finally:
            os.close(out_fd)
            os.close(err_fd)
            if entered:
                for path in msg.leave:
                    try:
                        _write_zero(path)
                    except OSError as exc:
                        log("launcher_cgroup_leave_failed", path=path, error=exc.strerror or str(exc))
        self.tasks[popen.pid] = Task(popen)
        self.send(lp.Spawned(msg.ref, popen.pid))

    def signal(self, msg: lp.Signal) -> None:
        task = self.tasks.get(msg.pid)
        if task is None:  # ended (its exit is on its way) or never ours: signal nothing
            return
        task.kill_requested = task.kill_requested or msg.kill_requested
        try:
            os.killpg(msg.pid, msg.signum)
        except (ProcessLookupError, PermissionError):
            pass

    def reap(self) -> None:
        ended: list[lp.Exit] = []
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if info is None:
                break
            pid = info.si_pid
            task = self.tasks.pop(pid, None)
            if task is not None:
                # The leader is still a zombie, so its group id is not reused: what is left of the
                # group dies with it (and is reaped here too: we are its subreaper).
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                continue
            if task is not None:
                returncode = os.waitstatus_to_exitcode(status)
                task.popen.returncode = returncode  # Popen must not try to reap it again
                ended.append(lp.Exit(pid, returncode, task.kill_requested))
        if ended:
            self.exits.update((e.pid, e) for e in ended)
            if self.conn is not None:
                self.send(lp.Exits(ended))
            else:
                self.alone_since = time.monotonic()


def _write_zero(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)


def become_subreaper() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def listen(name: bytes) -> socket.socket | None:
    """The listening socket, or None when another launcher holds the name."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
    try:
        sock.bind(name)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            return None
        raise
    sock.listen(8)
    return sock


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="pydcos-launcher")
    p.add_argument("--work-dir", required=True)
    p.add_argument("--linger", type=float, default=LINGER_S)
    p.add_argument("--connect-within", type=float, default=CONNECT_WITHIN_S)
    args = p.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is for the agent, not its tasks
    listener = listen(lp.socket_name(args.work_dir))
    if listener is None:
        return 0
    become_subreaper()
    log("launcher_started", work_dir=args.work_dir)
    Launcher(listener, linger_s=args.linger, connect_within_s=args.connect_within).run()
    log("launcher_stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
