"""Starting, watching and killing command tasks: one OS process group per task, no helper process.

Start: `subprocess.Popen` with `process_group=0`, `cwd` = sandbox, stdin /dev/null, stdout and
stderr appended to the sandbox files, every other fd closed. CPython starts it with vfork, so the
cost does not grow with the agent's memory; `os.posix_spawn` was measured about 7% faster but
cannot set a working directory without changing the agent's own, so it is not used.
Asyncio's subprocess machinery is not used either: it costs several times more per task.

Exit: a pidfd per task is watched on the event loop (`exit_watch.ExitWatcher`: one epoll set of
pidfds, itself watched by the loop), so an exit wakes the loop with no thread per task. On exit, what is left of the task's process group is
SIGKILLed before the leader is reaped (the zombie leader keeps the group id from being reused).

Kill: SIGTERM to the group, SIGKILL to the group after the grace period.

Isolation: with a `CgroupIsolator` (cgroups.py) each process with limits gets a cgroup of its
own, created (or taken from the spares) before the spawn and released after its exit: kept as
a spare when empty, else removed (everything still in it is SIGKILLed first); an OOM kill in it
is reported to `on_exit` as the limitation message.

Orphans: with `reap_orphans` the agent makes itself the child subreaper of its process tree
(prctl PR_SET_CHILD_SUBREAPER), so the killed members of a task's group become its children and
are reaped by group (`waitpid(-pgid)`), instead of staying zombies under an init that may never
reap them. Processes that left the task's group (setsid) are not tracked.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import pwd
import resource
import signal
import subprocess
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial

from pydcos.core.log import get_logger
from pydcos.mesos.agent import launcher_protocol as lp
from pydcos.mesos.agent.cgroups import SPARE_IDLE_S, CgroupIsolator
from pydcos.mesos.agent.checkpoint import exit_returncode
from pydcos.mesos.agent.errors import LaunchFailed
from pydcos.mesos.agent.exit_watch import ExitWatcher
from pydcos.mesos.agent.isolation import Limits
from pydcos.mesos.agent.launcher_client import LauncherClient
from pydcos.mesos.agent.sandbox_dirs import SANDBOX_DIR_MODE, SandboxDirs
from pydcos.mesos.agent.task_launch import LaunchSpec

log = get_logger("pydcos.agent.containerizer")

OUTPUT_FILE_MODE = 0o644
# Without pidfd (Linux < 5.3) exits are noticed by polling at this interval.
FALLBACK_POLL_S = 0.05
# Killed group members are reaped at this interval, for at most REAP_DEADLINE_S.
REAP_INTERVAL_S = 0.05
REAP_DEADLINE_S = 30.0
PR_SET_CHILD_SUBREAPER = 36


def raise_fd_limit() -> None:
    """Each running task holds a pidfd: lift the soft open-files limit to the hard one."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


def become_subreaper() -> bool:
    """Make orphaned descendants this process's children. False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


@dataclass(frozen=True, slots=True)
class UserIds:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


def lookup_user(name: str) -> UserIds:
    """Raise LaunchFailed when the user does not exist on this machine."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise LaunchFailed(f"Failed to launch task: user '{name}' does not exist on this agent") from None
    try:
        groups = tuple(os.getgrouplist(name, entry.pw_gid))
    except OSError:
        groups = (entry.pw_gid,)
    return UserIds(name, entry.pw_uid, entry.pw_gid, groups)


def agent_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


@dataclass(slots=True)
class _Process:
    container_id: str
    popen: subprocess.Popen[bytes] | None  # None: adopted from a previous run (not our child)
    pgid: int
    pidfd: int | None
    exit_file: str | None = None  # where an older agent's checkpoint wrapper writes the exit status
    kill_requested: bool = False
    launched: bool = False  # a child of the task launcher: its exit comes from there
    kill_timer: asyncio.TimerHandle | None = None
    poll_timer: asyncio.TimerHandle | None = None


# (container_id, returncode, killed, limitation): limitation is the OOM message, or None.
ExitCallback = Callable[[str, "int | None", bool, "str | None"], None]


class Containerizer:
    """Owns the task processes. `on_exit(container_id, returncode, killed, limitation)` runs once
    per started process, from the event loop, after it is reaped."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_exit: ExitCallback,
        *,
        reap_orphans: bool = True,
        isolator: CgroupIsolator | None = None,
    ) -> None:
        self._loop = loop
        self._on_exit = on_exit
        self.isolator = isolator
        self._exit_watch = ExitWatcher(loop)
        self._cgroups_to_destroy: dict[str, float] = {}  # container_id -> give up at (loop time)
        self._procs: dict[str, _Process] = {}
        self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self._is_root = os.geteuid() == 0
        self._reaping = reap_orphans and become_subreaper()
        raise_fd_limit()
        self._groups_to_reap: dict[int, float] = {}  # pgid -> give up at (loop time)
        self._reap_timer: asyncio.TimerHandle | None = None
        self._trim_timer: asyncio.TimerHandle | None = None
        self._sandboxes = SandboxDirs()
        self.launcher: LauncherClient | None = None
        self._by_pid: dict[int, str] = {}  # launched tasks' pids -> container ids
        self._unclaimed: dict[int, lp.Exit] = {}  # exits of launched pids nobody adopted yet
        self._releasable: list[int] = []  # exits handled here, to release once on disk
        self._launched_running: dict[int, lp.Child] = {}  # the launcher's hello: tasks still running

    # --- the task launcher (durable tasks) -------------------------------------------------------

    def use_launcher(self, work_dir: str) -> lp.Hello:
        """Start durable tasks through this work directory's launcher (found or started); returns
        what it holds from a previous run: running tasks and unreleased exits. Raises LaunchFailed."""
        self.launcher = LauncherClient(work_dir, self._loop, on_exits=self._launcher_exits,
                                       on_lost=self._launcher_lost)
        hello = self.launcher.connect()
        self._unclaimed.update((e.pid, e) for e in hello.exits)
        self._launched_running = {c.pid: c for c in hello.running}
        return hello

    def launched_running(self, pid: int) -> lp.Child | None:
        """The launcher's hello listed this pid as running (a task of the previous agent run)."""
        return self._launched_running.get(pid)

    def take_releasable(self) -> list[int]:
        """The exits handled since the last call (their status updates are queued by now)."""
        out, self._releasable = self._releasable, []
        return out

    def release(self, pids: list[int]) -> None:
        """Their status updates are on disk: the launcher may forget these exits."""
        if self.launcher is not None:
            self.launcher.release(pids)

    def launched_exit(self, pid: int) -> lp.Exit | None:
        """How a launched task ended while no agent listened (claimed: released once on disk)."""
        ended = self._unclaimed.pop(pid, None)
        if ended is not None:
            self._releasable.append(pid)
        return ended

    def release_unclaimed(self) -> None:
        """After recovery: exits of tasks nobody knows any more are dropped."""
        self.release(list(self._unclaimed))
        self._unclaimed.clear()

    def _launcher_exits(self, exits: list[lp.Exit]) -> None:
        for e in exits:
            container_id = self._by_pid.pop(e.pid, None)
            if container_id is None:
                self._unclaimed[e.pid] = e
                continue
            self._exited(container_id, e)

    def _launcher_lost(self) -> None:
        """Watch what the launcher started as any adopted process: by pidfd, status unknown
        (unless it became our child: we are its subreaper)."""
        for container_id in list(self._by_pid.values()):
            proc = self._procs.get(container_id)
            if proc is None:
                continue
            proc.launched = False
            try:
                proc.pidfd = os.pidfd_open(proc.pgid)
            except (OSError, AttributeError):
                self._loop.call_soon(self._exited, container_id)
                continue
            self._exit_watch.watch(proc.pidfd, partial(self._exited, container_id))
        self._by_pid.clear()

    def __len__(self) -> int:
        return len(self._procs)

    def running(self, container_id: str) -> bool:
        return container_id in self._procs

    def remembers_kills(self, container_id: str) -> bool:
        """The task launcher started this container and will remember (and report, also to a
        restarted agent) that its kill was requested."""
        proc = self._procs.get(container_id)
        return proc is not None and proc.launched and self.launcher is not None and self.launcher.connected

    def pid(self, container_id: str) -> int | None:
        proc = self._procs.get(container_id)
        return proc.pgid if proc else None

    def close(self) -> None:
        """Forget the processes without killing them (call `kill` first to stop them)."""
        left = len(self._procs)
        for proc in list(self._procs.values()):
            self._unwatch(proc)
        self._procs.clear()
        self._by_pid.clear()
        if self.launcher is not None:  # what ended was handed on by now (the agent flushed first)
            self.release(self.take_releasable() + list(self._unclaimed))
            self.launcher.close(wait_s=0.0 if left else 5.0)
            self.launcher = None
        self._reap_groups()
        if self.isolator is not None:
            for container_id in list(self._cgroups_to_destroy):
                if not self.isolator.destroy(container_id):
                    log.warning("cgroup_left_behind", container_id=container_id)
                    self.isolator.forget(container_id)
            self._cgroups_to_destroy.clear()
            self.isolator.close()
        for timer in (self._reap_timer, self._trim_timer):
            if timer is not None:
                timer.cancel()
        self._reap_timer = self._trim_timer = None
        self._exit_watch.close()
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1

    # --- start --------------------------------------------------------------------------

    def launch(self, container_id: str, spec: LaunchSpec, *, durable: bool = False) -> int:
        """Create the sandbox and start the task; returns its pid. Raises LaunchFailed.
        `durable`: started by the task launcher, so it and its exit status outlive the agent."""
        user = lookup_user(spec.user) if spec.user else None
        if user is not None and not self._is_root:
            raise LaunchFailed(f"Failed to launch task as user '{user.name}': the agent is not root")
        isolated = self.isolator is not None and spec.limits is not None
        if isolated:
            self._create_cgroup(container_id, spec.limits or Limits())
        out_fd = err_fd = -1
        started = False
        try:
            self._sandboxes.make(spec.sandbox, SANDBOX_DIR_MODE)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
            out_fd = os.open(os.path.join(spec.sandbox, "stdout"), flags, OUTPUT_FILE_MODE)
            err_fd = os.open(os.path.join(spec.sandbox, "stderr"), flags, OUTPUT_FILE_MODE)
            if user is not None:
                for target in (spec.sandbox, out_fd, err_fd):
                    os.chown(target, user.uid, user.gid)
            if durable and self.launcher is not None:
                pid = self._spawn_launched(container_id, spec, user, out_fd, err_fd, isolated)
                started = True
                self._by_pid[pid] = container_id
                self._procs[container_id] = _Process(container_id, None, pgid=pid, pidfd=None, launched=True)
                return pid
            with self.isolator.spawning(container_id) if isolated and self.isolator else nullcontext():
                popen = subprocess.Popen(
                    spec.argv,
                    executable=spec.executable,
                    cwd=spec.sandbox,
                    env=spec.env,
                    stdin=self._devnull,
                    stdout=out_fd,
                    stderr=err_fd,
                    close_fds=True,
                    process_group=0,
                    user=user.uid if user else None,
                    group=user.gid if user else None,
                    extra_groups=list(user.groups) if user else None,
                )
            started = True
        except OSError as exc:
            what = exc.filename or spec.executable
            raise LaunchFailed(f"Failed to launch task: {exc.strerror or exc}: '{what}'") from None
        except (ValueError, subprocess.SubprocessError) as exc:
            raise LaunchFailed(f"Failed to launch task: {exc}") from None
        finally:
            for fd in (out_fd, err_fd):
                if fd >= 0:
                    os.close(fd)
            if isolated and not started and self.isolator is not None:
                self.isolator.destroy(container_id)
        if isolated and self.isolator is not None:
            try:
                self.isolator.attach(container_id, popen.pid)
            except OSError as exc:
                log.warning("cgroup_attach_failed", container_id=container_id, pid=popen.pid,
                            error=exc.strerror or str(exc))
        self._watch(container_id, popen)
        return popen.pid

    def _spawn_launched(self, container_id: str, spec: LaunchSpec, user: UserIds | None, out_fd: int,
                        err_fd: int, isolated: bool) -> int:
        assert self.launcher is not None
        enter: list[str] = []
        leave: list[str] = []
        if isolated and self.isolator is not None:
            enter, leave = self.isolator.spawn_moves(container_id)
        msg = lp.Spawn(0, spec.executable, list(spec.argv), spec.sandbox, dict(spec.env),
                       uid=user.uid if user else None, gid=user.gid if user else None,
                       groups=list(user.groups) if user else None, enter=enter, leave=leave)
        pid = self.launcher.spawn(msg, out_fd, err_fd)
        if isolated and self.isolator is not None:
            try:
                self.isolator.attach(container_id, pid)
            except OSError as exc:
                log.warning("cgroup_attach_failed", container_id=container_id, pid=pid,
                            error=exc.strerror or str(exc))
        return pid

    def adopt(self, container_id: str, pid: int, *, exit_file: str | None = None, kill_requested: bool = False,
              limits: Limits | None = None) -> bool:
        """Watch a process group left running by a previous run of the agent: a child of the
        task launcher, or else any process (an older agent's checkpoint wrapper writes
        `exit_file`). False when it is gone already."""
        if self.launcher is not None and (pid in self._unclaimed or pid in self._launched_running):
            if self.isolator is not None and limits is not None:
                self.isolator.adopt(container_id, limits)
            self._procs[container_id] = _Process(container_id, None, pgid=pid, pidfd=None,
                                                 kill_requested=kill_requested, launched=True)
            ended = self._unclaimed.pop(pid, None)
            if ended is not None:  # it ended between the launcher's hello and now
                self._loop.call_soon(self._exited, container_id, ended)
            else:
                self._by_pid[pid] = container_id
            return True
        try:
            pidfd = os.pidfd_open(pid)
        except (OSError, AttributeError):
            return False
        if self.isolator is not None and limits is not None:
            self.isolator.adopt(container_id, limits)
        proc = _Process(container_id, None, pgid=pid, pidfd=pidfd, exit_file=exit_file, kill_requested=kill_requested)
        self._procs[container_id] = proc
        self._exit_watch.watch(pidfd, partial(self._exited, container_id))
        return True

    def _create_cgroup(self, container_id: str, limits: Limits) -> None:
        assert self.isolator is not None
        try:
            self.isolator.create(container_id, limits)
        except OSError as exc:
            self.isolator.destroy(container_id)
            raise LaunchFailed(
                f"Failed to launch task: cannot create its cgroup: {exc.strerror or exc} ({exc.filename or ''})"
            ) from None

    def update_limits(self, container_id: str, limits: Limits) -> None:
        if self.isolator is not None and container_id in self._procs:
            self.isolator.update(container_id, limits)

    def _watch(self, container_id: str, popen: subprocess.Popen[bytes]) -> None:
        try:
            pidfd: int | None = os.pidfd_open(popen.pid)
        except (OSError, AttributeError):
            pidfd = None
        proc = _Process(container_id, popen, pgid=popen.pid, pidfd=pidfd)
        self._procs[container_id] = proc
        if pidfd is not None:
            self._exit_watch.watch(pidfd, partial(self._exited, container_id))
        else:
            proc.poll_timer = self._loop.call_later(FALLBACK_POLL_S, self._poll, container_id)

    # --- exit ---------------------------------------------------------------------------

    def _poll(self, container_id: str) -> None:
        proc = self._procs.get(container_id)
        if proc is None:
            return
        try:
            done = os.waitid(os.P_PID, proc.pgid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            done = True
        if done:
            self._exited(container_id)
        else:
            proc.poll_timer = self._loop.call_later(FALLBACK_POLL_S, self._poll, container_id)

    def _exited(self, container_id: str, launched: lp.Exit | None = None) -> None:
        """`launched`: the exit as the task launcher reported it (it reaped the leader and
        killed what was left of the group)."""
        proc = self._procs.pop(container_id, None)
        if proc is None:
            return
        self._unwatch(proc)
        returncode: int | None
        if launched is not None:
            returncode = launched.returncode
            proc.kill_requested = proc.kill_requested or launched.kill_requested
            self._releasable.append(launched.pid)
        else:
            # The leader is a zombie until reaped, so its group id cannot have been reused yet.
            _signal_group(proc.pgid, signal.SIGKILL)
            returncode = proc.popen.poll() if proc.popen is not None else _reap_adopted(proc.pgid)
            if proc.exit_file is not None:
                returncode = _wrapped_returncode(proc.exit_file, returncode)
            elif returncode is None:
                log.warning("task_process_not_reaped", container_id=container_id, pid=proc.pgid)
        limitation = None
        if self.isolator is not None:
            limitation = self.isolator.limitation(container_id)
            if not self.isolator.release(container_id, oom=limitation is not None, now=self._loop.time()):
                self._cgroups_to_destroy[container_id] = self._loop.time() + REAP_DEADLINE_S
            if self.isolator.spares and self._trim_timer is None:
                self._trim_timer = self._loop.call_later(SPARE_IDLE_S, self._trim_spares)
        # Only this task's group now: sweeping every pending group and cgroup on each exit made
        # a scale-down of hundreds of tasks quadratic. What is still dying is left to the timer.
        # A launched task's group was killed and is reaped by the launcher, which did so while its
        # leader was a zombie: signalling the group id again from here could hit a reused one.
        if self._reaping and launched is None and not self._reap_group(proc.pgid):
            self._groups_to_reap[proc.pgid] = self._loop.time() + REAP_DEADLINE_S
        if (self._groups_to_reap or self._cgroups_to_destroy) and self._reap_timer is None:
            self._reap_timer = self._loop.call_later(REAP_INTERVAL_S, self._reap_groups)
        try:
            self._on_exit(container_id, returncode, proc.kill_requested, limitation)
        except Exception:  # runs from the selector: a bug here must not go unlogged
            log.exception("task_exit_handling_failed", container_id=container_id)

    def _reap_groups(self) -> None:
        """Reap the dead members of finished tasks' groups; stop once a group is empty."""
        if self._reap_timer is not None:
            self._reap_timer.cancel()
            self._reap_timer = None
        now = self._loop.time()
        for pgid, give_up_at in list(self._groups_to_reap.items()):
            if self._reap_group(pgid):
                del self._groups_to_reap[pgid]
                continue
            if now >= give_up_at:
                log.warning("task_group_not_reaped", pgid=pgid)
                del self._groups_to_reap[pgid]
        if self.isolator is not None:
            for container_id, give_up_at in list(self._cgroups_to_destroy.items()):
                if self.isolator.destroy(container_id):
                    del self._cgroups_to_destroy[container_id]
                elif now >= give_up_at:
                    log.warning("cgroup_left_behind", container_id=container_id)
                    self.isolator.forget(container_id)
                    del self._cgroups_to_destroy[container_id]
        if (self._groups_to_reap or self._cgroups_to_destroy) and self._reap_timer is None:
            self._reap_timer = self._loop.call_later(REAP_INTERVAL_S, self._reap_groups)

    def _reap_group(self, pgid: int) -> bool:
        """Reap what of the group has died and SIGKILL what is left; True once it is empty."""
        reap_dead_members(pgid)
        try:
            os.killpg(pgid, signal.SIGKILL)  # members forked since the first kill
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    def _trim_spares(self) -> None:
        """Remove the spare cgroups no container took for SPARE_IDLE_S."""
        self._trim_timer = None
        if self.isolator is None:
            return
        self.isolator.trim_spares(older_than=self._loop.time() - SPARE_IDLE_S)
        if self.isolator.spares:
            self._trim_timer = self._loop.call_later(SPARE_IDLE_S, self._trim_spares)

    def _unwatch(self, proc: _Process) -> None:
        if proc.pidfd is not None:
            self._exit_watch.unwatch(proc.pidfd)
            os.close(proc.pidfd)
            proc.pidfd = None
        for timer in (proc.kill_timer, proc.poll_timer):
            if timer is not None:
                timer.cancel()
        proc.kill_timer = proc.poll_timer = None

    # --- kill ---------------------------------------------------------------------------

    def kill(self, container_id: str, grace_s: float) -> bool:
        """SIGTERM the task's group now and SIGKILL it after `grace_s`. False if not running.
        A second kill can only shorten the grace period."""
        proc = self._procs.get(container_id)
        if proc is None:
            return False
        if proc.kill_requested and proc.kill_timer is not None:
            remaining = proc.kill_timer.when() - self._loop.time()
            if remaining <= grace_s:
                return True
            proc.kill_timer.cancel()
        proc.kill_requested = True
        if grace_s <= 0:
            self._kill_hard(container_id, proc.pgid)
            return True
        self._signal(proc, signal.SIGTERM)
        proc.kill_timer = self._loop.call_later(grace_s, self._kill_hard, container_id, proc.pgid)
        return True

    def _signal(self, proc: _Process, signum: int) -> None:
        """Through the launcher for its tasks: it remembers the kill was requested, also for
        a later agent."""
        if proc.launched and self.launcher is not None and self.launcher.connected:
            self.launcher.signal(proc.pgid, signum, kill_requested=True)
        else:
            _signal_group(proc.pgid, signum)

    def _kill_hard(self, container_id: str, pgid: int) -> None:
        """SIGKILL the group and, when isolated, everything in the container's cgroup."""
        proc = self._procs.get(container_id)
        if proc is not None and proc.pgid == pgid:
            self._signal(proc, signal.SIGKILL)
        else:
            _signal_group(pgid, signal.SIGKILL)
        if self.isolator is not None:
            self.isolator.kill_all(container_id)


def reap_dead_members(pgid: int) -> None:
    """Reap every member of process group `pgid` that has died (ours as parent or subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-pgid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _reap_adopted(pid: int) -> int | None:
    """The status of an adopted process that became our child (we are the subreaper of a task
    launcher that died); None when it is not ours to reap."""
    try:
        found, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if found else None


def _wrapped_returncode(exit_file: str, wrapper_returncode: int | None) -> int | None:
    """A checkpointed task's status: what its wrapper wrote (the command's own), else the
    wrapper's (killed by a signal before it could write)."""
    try:
        with open(exit_file, encoding="ascii") as f:
            text = f.read().strip()
    except OSError:
        text = ""
    if text.isdigit():
        return exit_returncode(int(text))
    if wrapper_returncode is not None and wrapper_returncode > 128:
        return exit_returncode(wrapper_returncode)
    return wrapper_returncode


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass
