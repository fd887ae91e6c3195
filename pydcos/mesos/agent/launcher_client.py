"""The agent's side of the task launcher (`launcher.py`): find it or start it, spawn through it
(a blocking round trip, as a local spawn blocks), and hear about exits from the event loop.

Exits are handed to `on_exits` from the loop; if they arrive while a spawn waits for its answer
they are handed over on the next loop turn, never in the middle of a launch. `on_lost` runs once
when the connection breaks (the launcher died or another agent took it over).
"""

from __future__ import annotations

import asyncio
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable

from pydcos.core.log import get_logger
from pydcos.mesos.agent import launcher_protocol as lp
from pydcos.mesos.agent.errors import LaunchFailed

log = get_logger("pydcos.agent.launcher")

START_WITHIN_S = 15.0  # a fresh interpreter's start on a loaded machine
ANSWER_WITHIN_S = 10.0
READ_CHUNK = 256 * 1024


class LauncherClient:
    def __init__(self, work_dir: str, loop: asyncio.AbstractEventLoop, *,
                 on_exits: Callable[[list[lp.Exit]], None], on_lost: Callable[[], None]) -> None:
        self.work_dir = work_dir
        self._loop = loop
        self._on_exits = on_exits
        self._on_lost = on_lost
        self._sock: socket.socket | None = None
        self._frames = lp.FrameReader()
        self._answers: dict[int, lp.Spawned | lp.SpawnFailed] = {}
        self._held: list[lp.Exit] = []  # read during a spawn, handed over on the next loop turn
        self._next_ref = 0
        self._outbox = bytearray()  # posted messages, sent together on the next loop turn
        self._flush_scheduled = False
        self._started: subprocess.Popen[bytes] | None = None  # the launcher, when this agent started it
        self.hello: lp.Hello | None = None

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> lp.Hello:
        """Connect to this work directory's launcher, starting one when none runs. Blocking,
        bounded; raises LaunchFailed."""
        deadline = time.monotonic() + START_WITHIN_S
        while True:
            try:
                return self._connect_once(deadline)
            except LaunchFailed:
                # A launcher with nothing left to hold exits as soon as its agent is gone, and
                # resets connections still in its backlog: start a new one.
                if time.monotonic() > deadline:
                    raise

    def _connect_once(self, deadline: float) -> lp.Hello:
        name = lp.socket_name(self.work_dir)
        sock = try_connect(name)
        if sock is None:
            self._start()
            while sock is None:
                if self._started is not None and self._started.poll() is not None:
                    sock = try_connect(name)  # it found another launcher already listening
                    if sock is None:
                        raise LaunchFailed(f"the task launcher exited with status {self._started.returncode}")
                    break
                if time.monotonic() > deadline:
                    raise LaunchFailed("the task launcher did not start listening in time")
                select.select([], [], [], 0.01)  # polling a socket name: nothing to wait on
                sock = try_connect(name)
        sock.setblocking(False)
        self._sock = sock
        self._frames = lp.FrameReader()
        self.hello = None
        hello = self._wait_for(lambda: self.hello is not None and self.hello)
        assert isinstance(hello, lp.Hello)
        self._loop.add_reader(sock.fileno(), self._readable)
        log.event("launcher_connected", launcher_pid=hello.pid, running=len(hello.running), exits=len(hello.exits))
        return hello

    def _start(self) -> None:
        if self._started is not None and self._started.poll() is None:
            return
        # Its own process group: a signal to the agent's group (a terminal's ^C) must not reach
        # the tasks' parent. The same session, so `pydcos cluster down` still finds it and its
        # tasks by the agent's session when the agent is gone.
        self._started = subprocess.Popen(
            [sys.executable, "-m", "pydcos.mesos.agent.launcher", "--work-dir", self.work_dir],
            stdin=subprocess.DEVNULL, process_group=0, close_fds=True)

    def spawn(self, msg: lp.Spawn, out_fd: int, err_fd: int) -> int:
        """Start a task; returns its pid. Raises LaunchFailed."""
        if self._sock is None:
            self.connect()
        self.flush()  # in order: what was posted before this spawn goes first
        self._next_ref += 1
        msg.ref = self._next_ref
        data = lp.encode(msg)
        self._send(data, [out_fd, err_fd])
        answer = self._wait_for(lambda: self._answers.pop(msg.ref, None))
        if isinstance(answer, lp.SpawnFailed):
            raise LaunchFailed(f"Failed to launch task: {answer.error}")
        assert isinstance(answer, lp.Spawned)
        return answer.pid

    def signal(self, pid: int, signum: int, *, kill_requested: bool) -> None:
        self._post(lp.Signal(pid, signum, kill_requested))

    def release(self, pids: list[int]) -> None:
        if pids:
            self._post(lp.Release(pids))

    def flush(self) -> None:
        """Send what was posted (done on the next loop turn anyway; a spawn does it first)."""
        self._flush_scheduled = False
        if self._outbox and self._sock is not None:
            data = bytes(self._outbox)
            self._outbox.clear()
            try:
                self._send(data, [])
            except LaunchFailed as exc:
                log.warning("launcher_send_failed", error=exc.message)
        self._outbox.clear()

    def close(self, wait_s: float = 5.0) -> None:
        """Disconnect. A launcher this agent started and that has nothing left to hold exits
        now; it is waited for (bounded), so it is not left a zombie."""
        self.flush()
        self._drop()
        if self._started is not None:
            try:
                self._started.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:  # it still has tasks: it outlives us, as it should
                log.warning("launcher_left_running", launcher_pid=self._started.pid)
            self._started = None

    # --- IO ----------------------------------------------------------------------------------

    def _post(self, msg: lp.Message) -> None:
        """Queue a message that needs no answer: a burst of kills goes out as one write."""
        if self._sock is None:
            return
        self._outbox += lp.encode(msg)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def _send(self, data: bytes, fds: list[int]) -> None:
        """Send all of `data` (the descriptors with its first bytes), waiting while the socket is full."""
        deadline = time.monotonic() + ANSWER_WITHIN_S
        view = memoryview(data)
        while view:
            sock = self._sock
            if sock is None:
                raise LaunchFailed("Failed to launch task: the task launcher went away")
            try:
                sent = socket.send_fds(sock, [view], fds) if fds else sock.send(view)
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._lost("send timed out")
                    continue
                select.select([], [sock], [], remaining)
                continue
            except OSError as exc:
                self._lost(exc.strerror or str(exc))
                continue
            fds = []
            view = view[sent:]

    def _wait_for(self, ready: Callable[[], object]) -> object:
        """Read (blocking, bounded) until `ready()` returns something."""
        deadline = time.monotonic() + ANSWER_WITHIN_S
        while True:
            found = ready()
            if found:
                return found
            sock = self._sock
            if sock is None:
                raise LaunchFailed("Failed to launch task: the task launcher went away")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._lost("no answer in time")
                continue
            select.select([sock], [], [], remaining)
            self._read(hold=True)

    def _readable(self) -> None:
        self._read(hold=False)

    def _read(self, *, hold: bool) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc.strerror or str(exc))
            return
        if not data:
            self._lost("closed by the launcher")
            return
        try:
            messages = self._frames.feed(data)
        except lp.ProtocolError as exc:
            self._lost(str(exc))
            return
        exits: list[lp.Exit] = []
        for msg in messages:
            if isinstance(msg, lp.Hello):
                self.hello = msg
            elif isinstance(msg, lp.Exits):
                exits.extend(msg.exits)
            elif isinstance(msg, (lp.Spawned, lp.SpawnFailed)):
                self._answers[msg.ref] = msg
        if hold:
            if exits:
                if not self._held:
                    self._loop.call_soon(self._hand_over)
                self._held.extend(exits)
        elif exits:
            self._on_exits(exits)

    def _hand_over(self) -> None:
        held, self._held = self._held, []
        if held:
            self._on_exits(held)

    def _drop(self) -> None:
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _lost(self, why: str) -> None:
        if self._sock is None:
            return
        log.warning("launcher_connection_lost", reason=why)
        self._drop()
        self.hello = None
        self._hand_over()
        self._on_lost()


def try_connect(name: bytes) -> socket.socket | None:
    """A blocking connection to a launcher's socket name, or None when nobody listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(name)
    except OSError:
        sock.close()
        return None
    return sock
