"""The task launcher (`pydcos/mesos/agent/launcher.py`) as a real process, talked to over its real
abstract socket by a small blocking client written here (not `launcher_client.py`), so these tests
pin the launcher's own behaviour: spawning, exits, signals, reconnection, orphans, refusals and
its lifetime (`docs/agent.md`, "Task launcher").

Every launcher started here is stopped by pid at the end of its test, with its tasks' process
groups; every wait is bounded by a deadline."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pydcos.core.waiting import wait_until_sync
from pydcos.mesos.agent import launcher_protocol as lp
from pydcos.mesos.agent.launcher_client import try_connect

DEADLINE = 5.0
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
NOBODY = 65534
CLIENTS: list[socket.socket] = []  # closed after each test


# --- the launcher process ---------------------------------------------------------------------


class LauncherProcess:
    def __init__(self, work_dir: Path, log_path: Path, *args: str) -> None:
        self.work_dir = work_dir
        self.log_path = log_path
        self.started_at = time.monotonic()
        with open(log_path, "wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "pydcos.mesos.agent.launcher", "--work-dir", str(work_dir), *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True, close_fds=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def events(self) -> list[dict[str, object]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": "unparsed", "line": line})
        return out

    def has_logged(self, event: str) -> bool:
        return any(e.get("event") == event for e in self.events())

    def wait_started(self) -> None:
        wait_until_sync(lambda: self.has_logged("launcher_started") or self.popen.poll() is not None,
                        timeout=DEADLINE, what="the launcher to listen")
        assert self.popen.poll() is None, self.log_path.read_text()

    def children(self) -> set[int]:
        """The launcher's children, zombies included."""
        pids: set[int] = set()
        try:
            for task in os.listdir(f"/proc/{self.pid}/task"):
                with open(f"/proc/{self.pid}/task/{task}/children") as f:
                    pids.update(int(p) for p in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            pass
        return pids

    def wait_exit(self, timeout: float = DEADLINE) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self) -> None:
        """Kill the launcher's tasks' process groups (and any other child), let it reap them, then
        kill the launcher itself."""
        def kill_children() -> bool:
            """SIGKILL each child's process group and the child itself (orphans reparented to the
            launcher since the last look included); True once it has none left."""
            kids = self.children()
            for pid in kids:
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            return not kids

        if self.popen.poll() is None:
            try:
                wait_until_sync(lambda: self.popen.poll() is not None or kill_children(),
                                timeout=DEADLINE, what="the launcher to reap its killed tasks")
            finally:
                if self.popen.poll() is None:
                    os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=DEADLINE)


StartLauncher = Callable[..., LauncherProcess]


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    try:
        yield
    finally:
        while CLIENTS:
            CLIENTS.pop().close()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


@pytest.fixture
def start_launcher(tmp_path: Path, work: Path) -> Iterator[StartLauncher]:
    started: list[LauncherProcess] = []

    def start(*args: str, work_dir: Path | None = None, wait: bool = True) -> LauncherProcess:
        proc = LauncherProcess(work_dir or work, tmp_path / f"launcher-{len(started)}.log", *args)
        started.append(proc)
        if wait:
            proc.wait_started()
        return proc

    try:
        yield start
    finally:
        for proc in reversed(started):
            proc.stop()


@pytest.fixture
def launcher(start_launcher: StartLauncher) -> LauncherProcess:
    return start_launcher("--connect-within", "10", "--linger", "10")


# --- a small blocking client ----------------------------------------------------------------------


class Closed(Exception):
    pass


class Client:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.sock = self._connect(lp.socket_name(str(work_dir)))
        self.frames = lp.FrameReader()
        self.inbox: list[lp.Message] = []
        self.exits: dict[int, lp.Exit] = {}
        self.ref = 0

    @staticmethod
    def _connect(name: bytes) -> socket.socket:
        sock = wait_until_sync(lambda: try_connect(name), timeout=DEADLINE, interval=0.01,
                               what="the launcher's socket")
        CLIENTS.append(sock)
        return sock

    def close(self) -> None:
        self.sock.close()

    def send(self, msg: lp.Message, fds: list[int] | None = None) -> None:
        self.send_raw(lp.encode(msg), fds)

    def send_raw(self, data: bytes, fds: list[int] | None = None) -> None:
        if fds:
            sent = socket.send_fds(self.sock, [data], fds)
            assert sent == len(data)
        else:
            self.sock.sendall(data)

    def _read_more(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no message in time")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        except TimeoutError:
            raise TimeoutError("no message in time") from None
        if not data:
            raise Closed
        for msg in self.frames.feed(data):
            if isinstance(msg, lp.Exits):
                for e in msg.exits:
                    assert e.pid not in self.exits, f"exit of {e.pid} sent twice"
                    self.exits[e.pid] = e
            self.inbox.append(msg)

    def expect(self, kind: type | tuple[type, ...], where: Callable[[lp.Message], bool] = lambda m: True,
               timeout: float = DEADLINE) -> lp.Message:
        deadline = time.monotonic() + timeout
        while True:
            for i, msg in enumerate(self.inbox):
                if isinstance(msg, kind) and where(msg):
                    return self.inbox.pop(i)
            self._read_more(deadline)

    def hello(self) -> lp.Hello:
        msg = self.expect(lp.Hello)
        assert isinstance(msg, lp.Hello)
        return msg

    def wait_exit(self, pid: int, timeout: float = DEADLINE) -> lp.Exit:
        deadline = time.monotonic() + timeout
        while pid not in self.exits:
            self._read_more(deadline)
        return self.exits[pid]

    def closed(self, timeout: float = DEADLINE) -> bool:
        """True once the launcher closes this connection (messages before that are kept)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._read_more(deadline)
        except Closed:
            return True

    def spawn_msg(self, argv: list[str], *, executable: str | None = None, cwd: str = "/") -> lp.Spawn:
        self.ref += 1
        return lp.Spawn(ref=self.ref, executable=executable or argv[0], argv=argv, cwd=cwd, env=dict(ENV))

    def spawn_answer(self, msg: lp.Spawn, fds: list[int]) -> lp.Spawned | lp.SpawnFailed:
        self.send(msg, fds)
        answer = self.expect((lp.Spawned, lp.SpawnFailed), lambda m: getattr(m, "ref", None) == msg.ref)
        assert isinstance(answer, (lp.Spawned, lp.SpawnFailed))
        return answer

    def spawn(self, argv: list[str], out: Path, err: Path | None = None, *,
              executable: str | None = None) -> lp.Spawned | lp.SpawnFailed:
        err = err or out.with_suffix(".err")
        fds = [os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644) for p in (out, err)]
        try:
            return self.spawn_answer(self.spawn_msg(argv, executable=executable), fds)
        finally:
            for fd in fds:
                os.close(fd)

    def run(self, argv: list[str], out: Path, err: Path | None = None) -> int:
        """Spawn; returns the pid (fails the test on SpawnFailed)."""
        answer = self.spawn(argv, out, err)
        assert isinstance(answer, lp.Spawned), answer
        return answer.pid

    def ping(self) -> None:
        """A round trip with no side effect: a Spawn without descriptors is refused, and answered
        after everything sent before it has been handled."""
        answer = self.spawn_answer(self.spawn_msg(["/bin/true"]), [])
        assert isinstance(answer, lp.SpawnFailed)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}")


def ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


# --- spawning and exits -------------------------------------------------------------------------


def test_hello_then_spawn_output_and_exit(launcher: LauncherProcess, tmp_path: Path) -> None:
    c = Client(launcher.work_dir)
    hello = c.hello()
    assert hello == lp.Hello(pid=launcher.pid, running=[], exits=[])

    out = tmp_path / "out"
    pid = c.run(["/bin/sh", "-c", "echo hi; echo oops >&2; exit 3"], out, err=tmp_path / "err")
    assert pid > 0
    assert c.wait_exit(pid) == lp.Exit(pid, 3, False)
    assert out.read_text() == "hi\n"
    assert (tmp_path / "err").read_text() == "oops\n"
    # Reaped: not left a zombie of the launcher.
    wait_until_sync(lambda: pid not in launcher.children(), timeout=DEADLINE, what="the task to be reaped")


def test_task_runs_in_its_own_group_with_stdin_devnull_and_no_extra_fds(
        launcher: LauncherProcess, tmp_path: Path) -> None:
    c = Client(launcher.work_dir)
    c.hello()
    pid = c.run(["/bin/sleep", "30"], tmp_path / "out")
    assert os.getpgid(pid) == pid
    assert ppid(pid) == launcher.pid
    wait_until_sync(lambda: os.readlink(f"/proc/{pid}/exe").endswith("sleep"), timeout=DEADLINE,
                    what="the task to exec")
    assert os.readlink(f"/proc/{pid}/fd/0") == os.devnull
    assert sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd")) == [0, 1, 2]


def test_spawn_of_missing_executable_fails_and_launcher_stays_usable(
        launcher: LauncherProcess, tmp_path: Path) -> None:
    c = Client(launcher.work_dir)
    c.hello()
    c.ping()
    fds_before = fd_count(launcher.pid)
    missing = str(tmp_path / "no-such-program")
    answer = c.spawn([missing, "arg"], tmp_path / "out")
    assert isinstance(answer, lp.SpawnFailed)
    assert missing in answer.error
    assert fd_count(launcher.pid) == fds_before  # the two descriptors were closed

    pid = c.run(["/bin/sh", "-c", "echo still here"], tmp_path / "out2")
    assert c.wait_exit(pid).returncode == 0
    assert (tmp_path / "out2").read_text() == "still here\n"


def test_spawn_with_fewer_than_two_fds_fails(launcher: LauncherProcess, tmp_path: Path) -> None:
    c = Client(launcher.work_dir)
    c.hello()
    none = c.spawn_answer(c.spawn_msg(["/bin/sh", "-c", "echo no"]), [])
    assert isinstance(none, lp.SpawnFailed)
    assert "descriptors" in none.error

    fd = os.open(tmp_path / "one", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        one = c.spawn_answer(c.spawn_msg(["/bin/sh", "-c", "echo one"]), [fd])
    finally:
        os.close(fd)
    assert isinstance(one, lp.SpawnFailed)
    assert "descriptors" in one.error
    assert not launcher.children()  # nothing was started
    assert launcher.popen.poll() is None


def test_refused_spawn_does_not_shift_the_next_spawns_descriptors(
        launcher: LauncherProcess, tmp_path: Path) -> None:
    c = Client(launcher.work_dir)
    c.hello()
    c.ping()
    fds_before = fd_count(launcher.pid)
    fd = os.open(tmp_path / "refused", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        refused = c.spawn_answer(c.spawn_msg(["/bin/true"]), [fd])
    finally:
        os.close(fd)
    assert isinstance(refused, lp.SpawnFailed)

    pid = c.run(["/bin/sh", "-c", "echo out; echo err >&2"], tmp_path / "out", err=tmp_path / "err")
    assert c.wait_exit(pid).returncode == 0
    assert (tmp_path / "refused").read_text() == ""
    assert (tmp_path / "out").read_text() == "out\n"
    assert (tmp_path / "err").read_text() == "err\n"
    assert fd_count(launcher.pid) == fds_before


# --- signals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kill_requested", [True, False])
def test_signal_terminates_task_and_reports_kill_requested(
        launcher: LauncherProcess, tmp_path: Path, kill_requested: bool) -> None:
    c = Client(launcher.work_dir)
    c.hello()
    pid = c.run(["/bin/sleep", "30"], tmp_path / "out")
    c.send(lp.Signal(pid, signal.SIGTERM, kill_requested=kill_requested))
    assert c.wait_exit(pid) == lp.Exit(pid, -signal.SIGTERM, kill_requested)


def test_signal_reaches_the_whole_process_group(launcher: LauncherProcess, tmp_path: Path) -> None:
    c = Client(launcher.work_dir)
    c.hello()
    out = tmp_path / "out"
    # The shell ignores TERM (its background child, forked before, does not) and waits for the
    # child: it exits 7 only if the signal reached the child too.
    pid = c.run(["/bin/sh", "-c", "sleep 30 & trap '' TERM; echo $!; wait; exit 7"], out)
    child = int(wait_until_sync(lambda: out.read_text().strip(), timeout=DEADLINE, what="the child's pid"))
    assert os.getpgid(child) == pid
    c.send(lp.Signal(pid, signal.SIGTERM, kill_requested=True))
    assert c.wait_exit(pid) == lp.Exit(pid, 7, True)
    wait_until_sync(lambda: gone(child), timeout=DEADLINE, what="the group's sleep to be gone")


def test_signal_for_unknown_pid_does_nothing(launcher: LauncherProcess, tmp_path: Path) -> None:
    c = Client(launcher.work_dir)
    c.hello()
    # A process group leader that is not the launcher's: a launcher that signalled any pid would kill it.
    bystander = subprocess.Popen(["/bin/sleep", "30"], start_new_session=True, stdin=subprocess.DEVNULL)
    try:
        c.send(lp.Signal(bystander.pid, signal.SIGKILL, kill_requested=True))
        c.send(lp.Signal(2**31 - 1, signal.SIGKILL, kill_requested=True))
        c.ping()
        assert bystander.poll() is None
        assert launcher.popen.poll() is None

        pid = c.run(["/bin/sh", "-c", "exit 4"], tmp_path / "out")
        assert c.wait_exit(pid) == lp.Exit(pid, 4, False)
    finally:
        bystander.kill()
        bystander.wait(timeout=DEADLINE)
    assert bystander.returncode == -signal.SIGKILL  # it was still ours to kill


# --- reconnection ------------------------------------------------------------------------------


def test_reconnect_hello_lists_running_tasks_and_unreleased_exits(
        launcher: LauncherProcess, tmp_path: Path) -> None:
    c1 = Client(launcher.work_dir)
    assert c1.hello().running == []
    killed = c1.run(["/bin/sleep", "30"], tmp_path / "a")
    plain = c1.run(["/bin/sleep", "30"], tmp_path / "b")
    c1.send(lp.Signal(killed, 0, kill_requested=True))  # signal 0: only the request is remembered
    ended = c1.run(["/bin/sh", "-c", "exit 5"], tmp_path / "c")
    assert c1.wait_exit(ended) == lp.Exit(ended, 5, False)
    ends_alone = c1.run(["/bin/sleep", "30"], tmp_path / "d")
    c1.ping()
    c1.close()

    # A task that ends while no agent is connected: its exit waits for the next one.
    os.killpg(ends_alone, signal.SIGTERM)
    wait_until_sync(lambda: ends_alone not in launcher.children(), timeout=DEADLINE,
                    what="the launcher to reap the task that ended alone")

    c2 = Client(launcher.work_dir)
    hello = c2.hello()
    assert hello.pid == launcher.pid
    assert sorted(hello.running, key=lambda ch: ch.pid) == sorted(
        [lp.Child(killed, True), lp.Child(plain, False)], key=lambda ch: ch.pid)
    assert sorted(hello.exits, key=lambda e: e.pid) == sorted(
        [lp.Exit(ended, 5, False), lp.Exit(ends_alone, -signal.SIGTERM, False)], key=lambda e: e.pid)
    c2.send(lp.Release([ended]))
    c2.ping()
    c2.close()

    c3 = Client(launcher.work_dir)
    hello = c3.hello()
    assert {ch.pid for ch in hello.running} == {killed, plain}
    assert hello.exits == [lp.Exit(ends_alone, -signal.SIGTERM, False)]

    # The remembered kill request is reported with the exit.
    c3.send(lp.Signal(killed, signal.SIGKILL))
    assert c3.wait_exit(killed) == lp.Exit(killed, -signal.SIGKILL, True)


def test_second_connection_replaces_the_first(launcher: LauncherProcess, tmp_path: Path) -> None:
    c1 = Client(launcher.work_dir)
    c1.hello()
    pid = c1.run(["/bin/sleep", "30"], tmp_path / "out")
    c2 = Client(launcher.work_dir)
    assert c2.hello().running == [lp.Child(pid, False)]
    assert c1.closed()
    # The new connection is the one served, and hears about exits.
    c2.send(lp.Signal(pid, signal.SIGTERM, kill_requested=True))
    assert c2.wait_exit(pid) == lp.Exit(pid, -signal.SIGTERM, True)
    assert launcher.has_logged("launcher_agent_replaced")


@pytest.mark.parametrize("garbage", [
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x01\xc1",
    b"\x00\x00\x00\x00",
], ids=["huge-length", "bad-msgpack", "empty-frame"])
def test_garbage_frame_drops_the_connection_but_not_the_launcher(
        launcher: LauncherProcess, tmp_path: Path, garbage: bytes) -> None:
    c1 = Client(launcher.work_dir)
    c1.hello()
    # A running task, so the launcher has a reason to stay once the connection is dropped.
    pid = c1.run(["/bin/sleep", "30"], tmp_path / "out")
    c1.send_raw(garbage)
    assert c1.closed()
    assert launcher.popen.poll() is None
    assert launcher.has_logged("launcher_protocol_error")

    c2 = Client(launcher.work_dir)
    assert c2.hello() == lp.Hello(launcher.pid, [lp.Child(pid, False)], [])
    c2.ping()


def test_peer_with_another_uid_is_refused(launcher: LauncherProcess) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another uid")
    c = Client(launcher.work_dir)
    c.hello()
    name = lp.socket_name(str(launcher.work_dir))

    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        result = b"error"
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(DEADLINE)
            sock.connect(name)
            got = b""
            try:
                while chunk := sock.recv(65536):
                    got += chunk
                result = b"closed:%d" % len(got)
            except ConnectionResetError:
                result = b"closed:%d" % len(got)
            except TimeoutError:
                result = b"open:%d" % len(got)
        except BaseException as exc:  # anything must reach the parent
            result = b"error:" + repr(exc).encode()
        finally:
            os.write(w, result)
            os._exit(0)
    os.close(w)
    try:
        with os.fdopen(r, "rb") as f:
            result = f.read()
    finally:
        _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert result == b"closed:0"  # closed, without a Hello
    assert any(e.get("event") == "launcher_peer_refused" and e.get("uid") == NOBODY for e in launcher.events())
    # The refused peer did not replace the agent's connection.
    c.ping()


def test_orphans_of_a_task_are_killed_and_reaped(launcher: LauncherProcess, tmp_path: Path) -> None:
    c = Client(launcher.work_dir)
    c.hello()
    out = tmp_path / "out"
    pid = c.run(["/bin/sh", "-c", "sleep 30 & echo $!; exit 0"], out)
    assert c.wait_exit(pid) == lp.Exit(pid, 0, False)
    orphan = int(out.read_text())
    wait_until_sync(lambda: gone(orphan), timeout=DEADLINE, what="the group's leftover sleep to be gone")
    wait_until_sync(lambda: not launcher.children(), timeout=DEADLINE, what="no children left to the launcher")
    assert orphan not in c.exits  # not a task: no exit reported for it


def test_launcher_is_subreaper_for_descendants_that_leave_the_group(
        launcher: LauncherProcess, tmp_path: Path) -> None:
    c = Client(launcher.work_dir)
    c.hello()
    out = tmp_path / "out"
    # The command substitution returns once the new session's shell has printed its pid and exec'd
    # sleep (dropping the pipe): the task exits only after its descendant has left the group.
    pid = c.run(["/bin/sh", "-c", "pid=$(setsid sh -c 'echo $$; exec sleep 30 >/dev/null' &); echo $pid; exit 0"],
                out)
    assert c.wait_exit(pid).returncode == 0
    escaped = int(out.read_text())
    assert not gone(escaped)  # outside the group: the group's kill does not reach it
    assert ppid(escaped) == launcher.pid  # reparented to the launcher, not to init
    os.kill(escaped, signal.SIGKILL)
    wait_until_sync(lambda: not launcher.children(), timeout=DEADLINE, what="the launcher to reap it")
    assert gone(escaped)
    assert launcher.popen.poll() is None


# --- lifetime ------------------------------------------------------------------------------------


def test_exits_when_nobody_connects_within_the_limit(start_launcher: StartLauncher) -> None:
    proc = start_launcher("--connect-within", "0.5", "--linger", "30")
    assert proc.wait_exit() == 0
    assert time.monotonic() - proc.started_at >= 0.5
    assert proc.has_logged("launcher_stopped")


def test_exits_when_its_agent_leaves_with_nothing_held(start_launcher: StartLauncher, tmp_path: Path) -> None:
    proc = start_launcher("--connect-within", "30", "--linger", "30")
    c = Client(proc.work_dir)
    c.hello()
    pid = c.run(["/bin/sh", "-c", "exit 0"], tmp_path / "out")
    c.wait_exit(pid)
    c.send(lp.Release([pid]))
    c.ping()
    c.close()
    assert proc.wait_exit() == 0  # long before the 30 s linger or connect limit
    assert proc.has_logged("launcher_stopped")


def test_stays_while_a_task_runs_without_an_agent(start_launcher: StartLauncher, tmp_path: Path) -> None:
    proc = start_launcher("--connect-within", "30", "--linger", "0.2")
    c = Client(proc.work_dir)
    c.hello()
    pid = c.run(["/bin/sleep", "30"], tmp_path / "out")
    c.close()
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait_exit(timeout=0.6)  # three times the linger: still there, it has a task
    os.killpg(pid, signal.SIGKILL)
    # The task's exit is unreleased: it lingers 0.2 s for an agent, then goes.
    assert proc.wait_exit() == 0


def test_lingers_with_an_unreleased_exit(start_launcher: StartLauncher, tmp_path: Path) -> None:
    proc = start_launcher("--connect-within", "30", "--linger", "0.5")
    c = Client(proc.work_dir)
    c.hello()
    pid = c.run(["/bin/sh", "-c", "exit 0"], tmp_path / "out")
    c.wait_exit(pid)
    c.ping()
    left = time.monotonic()
    c.close()
    assert proc.wait_exit() == 0
    assert time.monotonic() - left >= 0.5


def test_second_launcher_on_the_same_work_dir_exits_at_once(
        start_launcher: StartLauncher, work: Path, tmp_path: Path) -> None:
    first = start_launcher("--connect-within", "10")
    link = tmp_path / "link"
    link.symlink_to(work)
    for work_dir in (work, link):
        second = start_launcher("--connect-within", "10", work_dir=work_dir, wait=False)
        assert second.wait_exit() == 0
        assert not second.has_logged("launcher_started")
    assert first.popen.poll() is None
    assert Client(work).hello().pid == first.pid


def test_launchers_on_different_work_dirs_coexist(start_launcher: StartLauncher, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    a = start_launcher("--connect-within", "10")
    b = start_launcher("--connect-within", "10", work_dir=other)
    assert Client(a.work_dir).hello().pid == a.pid
    assert Client(other).hello().pid == b.pid


def test_spawns_sent_right_after_other_messages_keep_their_descriptors(
        launcher: LauncherProcess, tmp_path: Path) -> None:
    # Linux may return the bytes of a Signal and of the Spawn after it in one read, with the
    # Spawn's descriptors: they must still go to the Spawn (a flake the agent tests once hit).
    c = Client(launcher.work_dir)
    c.hello()
    refs: dict[int, int] = {}
    for i in range(40):
        fds = [os.open(tmp_path / f"{i}.{n}", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644) for n in ("out", "err")]
        try:
            msg = c.spawn_msg(["/bin/sh", "-c", f"echo {i}; echo e{i} >&2"])
            c.send_raw(lp.encode(lp.Signal(1, 0)) + lp.encode(lp.Release([])))  # separate sends, then the spawn
            c.send(msg, fds)
            refs[msg.ref] = i
        finally:
            for fd in fds:
                os.close(fd)
    started: dict[int, int] = {}
    while len(started) < len(refs):
        answer = c.expect((lp.Spawned, lp.SpawnFailed))
        assert isinstance(answer, lp.Spawned), answer
        started[answer.pid] = refs[answer.ref]
    for pid in started:
        assert c.wait_exit(pid).returncode == 0
    for i in refs.values():
        assert (tmp_path / f"{i}.out").read_text() == f"{i}\n"
        assert (tmp_path / f"{i}.err").read_text() == f"e{i}\n"
